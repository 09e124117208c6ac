/**
 * Mounts the REST route table's HTTP routes on Fastify. Each route's GraphQL document is parsed
 * and validated against the schema once, at start-up, and must keep the shape every GraphQL
 * operation keeps (aliases, introspection, ids); a request is checked against the route's
 * schemas, then its operation runs through the one operation runner (src/edge): authenticated,
 * admitted at its computed cost, executed, its errors in the envelope.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import type { z } from 'zod';
import { ValidationError, type FieldError } from '../errors.js';
import { issueFieldError, withMessage } from '../i18n/descriptor.js';
import type { ShapeLimits } from '../graphql/cost.js';
import { bindContext } from '../edge/limit-headers.js';
import { compileDocument, operationOf, type OperationRunner } from '../edge/run-operation.js';
import type { LiveConnections } from '../services/auth/live-connections.js';
import type { RestRoute, RestRequest } from './route.js';
import { lastEventId, sendEventStream, wantsEventStream } from './sse.js';

/** zod issues as REST field errors, in words a caller can act on. */
export function restFieldErrors(error: z.ZodError, location: 'body' | 'query' | 'path'): FieldError[] {
  return error.issues.flatMap((issue) => {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => withMessage({ field: field ? `${field}.${key}` : key, message: `is not a known ${location} field` }, 'field.unknown', { location }));
    }
    const at = field || `(${location})`;
    if (issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined) return [withMessage({ field: at, message: 'is required' }, 'field.required')];
    // zod's own wording for a wrong type ("Invalid input: expected …") becomes "must be …"; a schema's message stays.
    if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
      return [withMessage({ field: at, message: `must be ${issue.expected}` }, 'field.type', { expected: issue.expected })];
    }
    return [issueFieldError(issue, at)];
  });
}

/** The value checked against a route's schema; a 422 naming the fields that do not fit. */
export function check<T>(schema: z.ZodType<T> | undefined, value: unknown, location: 'body' | 'query' | 'path'): T {
  if (!schema) return value as T;
  const parsed = schema.safeParse(value ?? (location === 'body' ? undefined : {}), { reportInput: true }); // reportInput: tells a wrong type from a missing field
  if (!parsed.success) throw new ValidationError(restFieldErrors(parsed.error, location));
  return parsed.data;
}

/** Parses and validates a route's document; a broken document, or one over the shape limits, stops start-up. */
export function compile(schema: GraphQLSchema, route: { method: string; path: string; document: string | DocumentNode }, shape: ShapeLimits): DocumentNode {
  return compileDocument(schema, route.document, `REST route ${route.method} ${route.path}`, shape);
}

/** Registers one HTTP route of the table. */
export function registerRestRoute(app: FastifyInstance, route: RestRoute, runner: OperationRunner, live: LiveConnections): void {
  const { schema, deps } = runner;
  const shape = { maxAliases: deps.config.GRAPHQL_MAX_ALIASES, maxIds: deps.config.GRAPHQL_MAX_NODE_IDS };
  const document = compile(schema, route, shape);
  const streamDocument = route.eventStream ? compile(schema, { ...route, document: route.eventStream.document }, shape) : null;
  const endpoint = `${route.method} ${route.path}`;
  app.route({
    method: route.method,
    url: route.path.replace(/\{(\w+)\}/g, ':$1'),
    handler: async (request: FastifyRequest, reply) => {
      if (route.headers) reply.headers(route.headers);
      const context = await runner.context({ requestId: request.id, headers: request.headers, ip: request.ip });
      bindContext(request, context);
      const req: RestRequest = {
        params: check(route.params, request.params, 'path'),
        query: check(route.query, request.query, 'query'),
        body: check(route.body, request.body, 'body'),
        headers: request.headers,
      };
      const streaming = route.eventStream && (route.eventStream.only || wantsEventStream(request.headers)) ? { after: lastEventId(request.headers) } : null;
      // A request refused above (bad input) costs nothing; from here on it counts, unless the
      // operation refuses it before doing any work (the runner refunds it then).
      const operation = operationOf(document, route.variables(req), request.headers);
      const executed = await runner.execute(context, operation, endpoint, {
        input: { path: req.params, query: req.query, body: req.body },
        onAdmitted: (headers) => {
          reply.headers(headers); // on errors of the operation too
        },
        pricing: 'request',
      });
      if (executed.replayed) reply.header('Idempotent-Replayed', 'true');
      if (streaming && route.eventStream && streamDocument) {
        const spec = route.eventStream;
        const stream = operationOf(streamDocument, spec.variables(executed.data, req, streaming.after));
        return sendEventStream(request, reply, deps.logger, live, {
          contextValue: context,
          start: () => runner.subscribeAdmitted(context, stream), // charged with the request that opened it
          opening: spec.opening?.(executed.data, req),
          event: (data) => spec.event(data),
        });
      }
      const body = route.reply(executed.data, req);
      if (route.binary) reply.type(route.binary.contentType).headers(route.binary.headers?.(executed.data) ?? {});
      return reply.status(route.statusOf?.(executed.data) ?? route.successStatus).send(body);
    },
  });
}

