/**
 * Mounts the route table on Fastify by transport: REST routes over HTTP, SSE routes as POSTs
 * answered with event streams, WebSocket routes on the server's upgrades (see ./websocket-routes.ts).
 */
import type { FastifyInstance } from 'fastify';
import { AuthenticationError } from '../errors.js';
import { check, registerRestRoute } from '../rest/register.js';
import { closeEventStreamsOnClose, sendEventStream } from '../rest/sse.js';
import type { LiveConnections } from '../services/auth/live-connections.js';
import { bindContext } from './limit-headers.js';
import { isHttpRoute, isSseRoute, isWebSocketRoute, type EdgeRoute, type SseRoute } from './routes.js';
import { compileDocument, operationOf, type OperationRunner } from './run-operation.js';
import { createWebSocketRoutes } from './websocket-routes.js';

/** Registers every route of the table; returns the handler of WebSocket upgrades to its WebSocket routes. */
export function mountRoutes(app: FastifyInstance, table: EdgeRoute[], runner: OperationRunner, live: LiveConnections) {
  closeEventStreamsOnClose(app);
  for (const route of table) {
    if (isHttpRoute(route)) registerRestRoute(app, route, runner, live);
    else if (isSseRoute(route)) registerSseRoute(app, route, runner, live);
  }
  return createWebSocketRoutes(table.filter(isWebSocketRoute), runner, live);
}

/**
 * An SSE route: authenticated (401 before the body is looked at), its body checked, its
 * subscription admitted and started; refusals until then are JSON error responses.
 */
function registerSseRoute<B, E>(app: FastifyInstance, route: SseRoute<B, E>, runner: OperationRunner, live: LiveConnections): void {
  const shape = { maxAliases: runner.deps.config.GRAPHQL_MAX_ALIASES, maxIds: runner.deps.config.GRAPHQL_MAX_NODE_IDS };
  const document = compileDocument(runner.schema, route.document, `${route.method} ${route.path}`, shape);
  const endpoint = `${route.method} ${route.path}`;
  app.route({
    method: route.method,
    url: route.path.replace(/\{(\w+)\}/g, ':$1'),
    handler: async (request, reply) => {
      const context = await runner.context({ requestId: request.id, headers: request.headers, ip: request.ip });
      bindContext(request, context);
      if (!context.principal) throw new AuthenticationError();
      const operation = operationOf(document, route.variables(check(route.body, request.body, 'body')), request.headers);
      let release = async () => {};
      return sendEventStream(request, reply, runner.deps.logger, live, {
        contextValue: context,
        start: async () => {
          const subscribed = await runner.subscribe(context, operation, endpoint, { holdSlot: route.holdsSlot , pricing: 'request' });
          release = () => subscribed.release();
          reply.headers(subscribed.headers);
          if (context.replayed) reply.header('Idempotent-Replayed', 'true');
          return subscribed.events;
        },
        finish: () => release(),
        event: (data) => route.event(data as E), // the subscription's root field, shaped as the route's document selects it
      });
    },
  });
}
