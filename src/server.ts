/**
 * The HTTP server: the only place that wires Fastify, Apollo (/graphql), graphql-ws (/graphql
 * over WebSocket), the REST /v1 route table and its task stream, OpenAPI, health and metrics.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApolloServer } from '@apollo/server';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { activeTracing, contextFromHeaders } from './tracing.js';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { extractCredential, type GraphQLContext } from './context.js';
import { graphqlErrorOf } from './edge/errors.js';
import { bindContext, registerLimitHeaders } from './edge/limit-headers.js';
import { mountRoutes } from './edge/mount.js';
import type { EdgeRoute } from './edge/routes.js';
import { OperationRunner } from './edge/run-operation.js';
import { AppError, AuthenticationError, InvalidRequestError, MethodNotAllowedError, NotFoundError, PayloadTooLargeError, ServiceUnavailableError } from './errors.js';
import { formatGraphQLError } from './graphql/format-error.js';
import { withMessage } from './i18n/descriptor.js';
import { defaultLocale, requestLocale, type Locale } from './i18n/locale.js';
import { newId } from './ids.js';
import { bearerMatches, listenForMetrics, metrics, observeOperation, watchDatabase, watchSocket } from './metrics.js';
import { accessFacts } from './logger.js';
import { asAppError, decorateErrorEnvelope, envelopeOf, errorBody, vocabularyError } from './rest/envelope.js';
import { registerErrorReference } from './rest/error-reference.js';
import { registerHealth } from './rest/health.js';
import { buildOpenApi } from './rest/openapi.js';
import { recordRouteMethods } from './rest/route-methods.js';
import { restRoutes } from './rest/v1/index.js';
import { taskStreamRoute } from './rest/v1/task-stream.js';
import { chatRoute } from './rest/v1/chat.js';
import { rejectUpgrade } from './edge/websocket-routes.js';
import { clientIp, redactUrl, trustProxySetting } from './rest/client-ip.js';
import { registerOAuthEndpoints } from './rest/oauth.js';
import { registerViewer } from './rest/viewer.js';
import { registerDashboard } from './web/dashboard.js';
import { refuseGraphqlGet } from './graphql/get-requests.js';
import { apolloOperationSpans, traceApolloHandler, wsOperationSpans } from './graphql/traces.js';
import { jitGateway } from './graphql/jit.js';
import { scimRoutes } from './scim/routes.js';
import { admitOverWebSocket, limitsPlugin, socketRateLimit } from './graphql/limits-plugin.js';
import { countedWsOperations } from './graphql/ws-metrics.js';
import { DocumentCache } from './graphql/document-cache.js';
import { keepAlive } from './graphql/keep-alive.js';
import { NextMessageSocket, nextPayload, replaceNextMessage } from './graphql/next-messages.js';
import type { ServiceDeps } from './services/deps.js';
import { closeCodeOf, closeReasonOf, LiveConnections, TooManyOperationsError, type LiveConnection } from './services/auth/live-connections.js';

/** The route table: REST over HTTP (and SSE where a route streams), chat as SSE, the task stream over a WebSocket. */
const routeTable: EdgeRoute[] = [...restRoutes, chatRoute, taskStreamRoute];

/**
 * What a graphql-ws socket keeps once authenticated: the headers its credential came in (the
 * upgrade request's, with the connection_init credential), its live connection, and each
 * operation's context by operation id. The upgrade request itself is let go (see onConnect).
 */
interface SocketExtra {
  headers?: IncomingHttpHeaders;
  connection?: LiveConnection;
  contexts: Map<string, GraphQLContext>;
  /** The ids of the socket's open subscriptions (for the open-subscriptions gauge). */
  subscriptionIds: Set<string>;
}

export const version: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * ws closes a socket that sent a message over WS_MAX_PAYLOAD_BYTES with 1009 and emits the error;
 * graphql-ws would print that as an internal error on the console. It is the client's: log it as such.
 */
function quietOversizedMessages(ws: WebSocket, logger: ServiceDeps['logger']): void {
  const emit = ws.emit.bind(ws);
  ws.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event === 'error' && (args[0] as { code?: string } | undefined)?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      logger.info('graphql-ws: a client sent a message over WS_MAX_PAYLOAD_BYTES; closed with 1009');
      return true;
    }
    return emit(event, ...args);
  };
}

/*
 * A graphql-ws socket and its live connection, tied both ways: the socket's close releases the
 * connection; the connection's end (a revoked key, an expired token) closes the socket. Functions
 * of their own: a closure made in the upgrade handler would keep the handler's scope, the upgrade
 * request included, alive for as long as the socket is open.
 */
function releaseOnClose(socket: Duplex, connection: LiveConnection): void {
  socket.once('close', () => connection.release());
}
function closeOnEnd(ws: WebSocket, connection: LiveConnection): void {
  connection.onEnd((err) => ws.close(closeCodeOf(err), closeReasonOf(err)));
}

/** The language of a graphql-ws operation's messages: its context's, else the socket's headers'. */
function socketLocale(extra: Partial<SocketExtra>, id: string): Locale {
  return extra.contexts?.get(id)?.locale ?? (extra.headers ? requestLocale(extra.headers) : defaultLocale);
}

/** How long a draining gateway keeps answering keep-alive clients (503, Connection: close) before it stops listening. */
const DRAIN_NOTICE_MS = 1000;

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export interface GatewayServer {
  app: FastifyInstance;
  /** The separate metrics listener's address (METRICS_LISTEN), or null. */
  metricsAddress: { host: string; port: number } | null;
  /** Stops accepting, closes streams (clients resume with since), drains in-flight requests. */
  close(): Promise<void>;
}

/**
 * A server span per request, continuing the caller's `traceparent`. It is made active again just
 * before the handler (after the body is read, whose events run outside the request's context), so
 * the GraphQL operation, the Temporal client and the services below are its children.
 */
function traceRequests(app: FastifyInstance): void {
  const spans = new WeakMap<object, { span: Span; ctx: Context }>();
  const tracer = trace.getTracer('codex-gateway');
  app.addHook('onRequest', (request, _reply, done) => {
    const parent = contextFromHeaders(request.headers);
    const route = request.routeOptions.url;
    const span = tracer.startSpan(`${request.method} ${route ?? 'unmatched'}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route, 'url.path': request.url.split('?')[0] } }, parent);
    const ctx = trace.setSpan(parent, span);
    spans.set(request, { span, ctx });
    context.with(ctx, done);
  });
  app.addHook('preHandler', (request, _reply, done) => {
    const entry = spans.get(request);
    if (entry) context.with(entry.ctx, done);
    else done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const entry = spans.get(request);
    if (entry) {
      entry.span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR });
      entry.span.end();
    }
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    spans.get(request)?.span.setAttribute('http.request.aborted', true).end();
    done();
  });
}

/** Builds the gateway on the given services; call `app.listen` to serve. */
export async function createServer(deps: ServiceDeps, schema: GraphQLSchema): Promise<GatewayServer> {
  const { config, logger } = deps;
  watchDatabase(deps.db);
  const runner = new OperationRunner(schema, deps);
  // Typed as Fastify's logger so that the instance is a plain FastifyInstance (what the route modules take).
  const httpLogger: FastifyBaseLogger = logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance: httpLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // Requests that arrive while the gateway drains get our own 503 (below), in the error envelope.
    return503OnClosing: false,
    trustProxy: trustProxySetting(config.TRUST_PROXY),
    // Our own access log below prints the URL without credential query parameters.
    logController: new LogController({ disableRequestLogging: true }),
    // A caller's X-Request-Id is kept when it is safe to log; otherwise we make one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newId('request');
    },
  });

  const methodsOf = recordRouteMethods(app);
  decorateErrorEnvelope(app, config);
  if (activeTracing()) traceRequests(app);

  // JSON only: a text/plain body must be refused, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  // Many SDKs send `Content-Type: application/json` on every request, a DELETE or a POST without
  // a body included: an empty body is no body. Anything else must be valid JSON (Fastify's parser,
  // which also refuses __proto__ and constructor.prototype keys).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, body as string, done); // it answers through done
  });

  // Draining (close() was called): requests still arriving get a 503 that a client can retry on
  // another gateway, and every answer closes its connection. Fastify closes idle keep-alive
  // connections only once, when closing starts; a connection whose request was in flight then would
  // otherwise stay open after its answer and hold the close until the keep-alive timeout.
  let draining = false;
  app.addHook('onRequest', async (request, reply) => {
    accessFacts.open(request.id);
    reply.header('X-Request-Id', request.id);
    // The API's messages follow Accept-Language: its answers say which language they are in.
    if (/^\/(v1|graphql)([/?]|$)/.test(request.url)) reply.header('Content-Language', requestLocale(request.headers)).header('Vary', 'Accept-Language');
    if (draining) {
      const err = new ServiceUnavailableError('This gateway is shutting down; send the request again (another gateway, or this one once restarted, will answer).');
      for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
      return reply.status(503).send(errorBody(err, request.errorEnvelope));
    }
    const badVocabulary = vocabularyError(request.headers);
    if (badVocabulary) return reply.status(badVocabulary.status).send(errorBody(badVocabulary, request.errorEnvelope));
  });
  app.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('Connection', 'close');
  });
  registerLimitHeaders(app, deps);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const { accountId = null, operation = null, operationType = null, cost = null } = accessFacts.take(request.id);
    request.log.info(
      {
        requestId: request.id,
        accountId,
        operation,
        operationType,
        cost,
        req: { method: request.method, url: redactUrl(request.url), ip: request.ip },
        res: { statusCode: reply.statusCode },
        responseTime: reply.elapsedTime,
      },
      'request completed',
    );
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    const err = error as { code?: string; statusCode?: number; message?: string };
    let appError: AppError;
    if (error instanceof AppError) appError = error as AppError;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') appError = new PayloadTooLargeError(config.BODY_LIMIT_BYTES);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') appError = withMessage(new InvalidRequestError('Send the body as JSON with "Content-Type: application/json".'), 'invalid_request.media_type');
    else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') appError = new InvalidRequestError('The body is empty; send a JSON object.');
    else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err.statusCode === 400 && error instanceof SyntaxError)) {
      appError = new InvalidRequestError(`The body is not valid JSON: ${err.message?.replace(/^.*?: /, '') ?? 'parse error'}.`);
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) appError = new InvalidRequestError(err.message ?? 'Bad request.');
    else {
      request.log.error({ err: error, requestId: request.id }, 'unhandled error');
      appError = asAppError(error);
    }
    for (const [name, value] of Object.entries(appError.headers)) reply.header(name, value);
    return reply.status(appError.status).send(errorBody(appError, request.errorEnvelope));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    const allowed = methodsOf(path);
    // A handler that found nothing (an unknown asset) also lands here: that stays a 404.
    if (allowed.length && !allowed.includes(request.method)) {
      const err = new MethodNotAllowedError(request.method, path, allowed);
      return reply.status(err.status).headers(err.headers).send(errorBody(err, request.errorEnvelope));
    }
    const err = withMessage(new AppError('resource_not_found', 404, `No endpoint ${request.method} ${path}. See /v1/openapi.json for the API.`), 'resource_not_found.endpoint', {
      method: request.method,
      path,
    });
    return reply.status(404).send(errorBody(err, request.errorEnvelope));
  });

  // GraphQL over HTTP.
  const apollo = new ApolloServer<GraphQLContext>({
    // Queries and mutations run as compiled documents (./graphql/jit.ts).
    gateway: jitGateway(schema),
    introspection: true,
    includeStacktraceInErrorResponses: false,
    // The process has one shutdown path (src/runtime.ts onShutdownSignal); Apollo's own signal
    // handler would stop it a second time and re-send the signal.
    stopOnTerminationSignals: false,
    // Replaced by our own check on GET (above), which accepts the Accept header urql sends and names
    // the header to send; POST bodies are JSON only (no form or text parser), which no form can send.
    csrfPrevention: false,
    // requestId is added by the plugin below, which sees the context (or the reply header when there is none).
    formatError: (formatted, error) => formatGraphQLError(formatted, error, undefined, logger),
    plugins: [
      fastifyApolloDrainPlugin(app),
      // A browser's GET /graphql gets our own explorer (registerDashboard), not Apollo's CDN-loaded Sandbox.
      ApolloServerPluginLandingPageDisabled(),
      // No answer may be cached (every field's hint was maxAge 0): the header is set below, without a hook on every field.
      ApolloServerPluginCacheControlDisabled(),
      limitsPlugin(runner),
      ...(activeTracing() ? [apolloOperationSpans()] : []),
      {
        async requestDidStart() {
          const started = performance.now();
          return {
            // formatError sees no context: the request's language travels on its errors (formatGraphQLError reads it and drops it).
            async didEncounterErrors({ errors, contextValue }) {
              for (const e of errors) (e.extensions as Record<string, unknown>).locale = contextValue.locale;
            },
            async willSendResponse({ response, contextValue, operation }) {
              response.http.headers.set('cache-control', 'no-store');
              if (operation) {
                const code = response.body.kind === 'single' ? response.body.singleResult.errors?.[0]?.extensions?.code : undefined;
                observeOperation('graphql', schema, operation, started, code === undefined ? undefined : { code: typeof code === 'string' ? code.toLowerCase() : undefined });
              }
              if (response.body.kind !== 'single') return;
              const { errors, data } = response.body.singleResult;
              for (const e of errors ?? []) {
                (e.extensions as Record<string, unknown>).requestId = contextValue.requestId;
              }
              // A request without a credential that got nothing but "authenticate first" is a 401, as on REST.
              if (!data && errors?.length && errors.every((e) => e.extensions?.code === 'AUTHENTICATION_REQUIRED')) {
                response.http.status = 401;
              }
            },
          };
        },
      },
    ],
  });
  // GraphQL over GET: queries only, with a header a cross-site form cannot send (./graphql/get-requests.ts).
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !request.url.startsWith('/graphql?')) return;
    const refused = refuseGraphqlGet(new URLSearchParams(request.url.slice('/graphql?'.length)), request.headers);
    if (refused) return reply.status(refused.status).headers(refused.headers).send(errorBody(refused, request.errorEnvelope));
  });
  await apollo.start();
  const graphqlHandler = fastifyApolloHandler(apollo, {
    context: async (request: FastifyRequest) => {
      try {
        const context = await runner.context({ requestId: request.id, headers: request.headers, ip: request.ip });
        bindContext(request, context);
        return context;
      } catch (err) {
        throw graphqlErrorOf(asAppError(err), { requestId: request.id, locale: requestLocale(request.headers) });
      }
    },
  });
  // With tracing on, the operation runs in its span (a child of the request's).
  app.route<{ Reply: string }>({ method: ['GET', 'POST', 'OPTIONS'], url: '/graphql', handler: activeTracing() ? traceApolloHandler(graphqlHandler) : graphqlHandler });

  // Sockets and event streams: re-checked on revocation, ended at token expiry, capped per credential and address.
  const live = new LiveConnections(deps.auth, { perCredential: config.WS_MAX_SOCKETS_PER_CREDENTIAL, perAddress: config.WS_MAX_SOCKETS_PER_ADDRESS }, logger);

  // REST, chat and the task stream.
  const socketRoutes = mountRoutes(app, routeTable, runner, live);
  await registerOAuthEndpoints(app, deps);
  await app.register(scimRoutes(deps), { prefix: '/scim/v2' });
  const openapi = buildOpenApi(restRoutes, config.publicUrl, version);
  app.get('/v1/openapi.json', async () => openapi);
  registerHealth(app, deps, version);
  registerErrorReference(app);
  registerViewer(app);
  registerDashboard(app);
  // Metrics on the main port only for the holder of METRICS_TOKEN; without one they are not served here (404).
  const metricsToken = config.METRICS_TOKEN;
  if (metricsToken) {
    app.get('/metrics', async (request, reply) => {
      if (!bearerMatches(request.headers.authorization, metricsToken)) {
        throw new AuthenticationError('Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>".');
      }
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  const metricsServer = config.metricsListen ? await listenForMetrics(metrics.registry, config.metricsListen) : null;

  // WebSockets on the same port: graphql-ws at /graphql, the REST task stream at /v1/agents/tasks/{id}/stream.
  const graphqlWss = new WebSocketServer({ noServer: true, maxPayload: config.WS_MAX_PAYLOAD_BYTES, WebSocket: NextMessageSocket });
  const graphqlWsSent = metrics.messagesSent.labels({ transport: 'graphql-ws' });
  /** A `next` message's payload: `result` with the caller's `extensions.rateLimit`, its errors formatted. */
  const nextMessage = (extra: Partial<SocketExtra>, id: string, result: ExecutionResult, context: GraphQLContext | undefined, rateLimit: object | null) => {
    // Plain data (a subscription's events): the message's text from JSON made once per result.
    const shared = nextPayload(id, result, rateLimit);
    if (shared) return shared;
    const errors = result.errors?.map((e) => formatGraphQLError(e.toJSON(), e, context?.requestId, logger, socketLocale(extra, id)));
    return { ...result, ...(errors ? { errors } : {}), ...(rateLimit ? { extensions: { ...result.extensions, rateLimit } } : {}) };
  };
  /** Each graphql-ws socket's live connection, by its upgrade request (until onConnect keeps it in the socket's extra). */
  const liveOf = new WeakMap<IncomingMessage, LiveConnection>();
  // With tracing on, each operation runs in its span, continuing the client's trace.
  const wsSpans = activeTracing() ? wsOperationSpans() : null;
  // Each operation counted (operations, duration) as over HTTP, around its span.
  const wsOperations = countedWsOperations(schema, wsSpans ?? undefined);
  // Each document sent over the sockets parsed and validated once.
  const wsDocuments = new DocumentCache(schema);
  const graphqlWs = useServer<Record<string, unknown>, Partial<SocketExtra>>(
    {
      schema,
      execute: wsOperations.execute,
      subscribe: wsOperations.subscribe,
      context: (ctx, id) => ctx.extra.contexts!.get(id)!,
      onConnect: async (ctx) => {
        const connection = liveOf.get(ctx.extra.request)!;
        ctx.extra.connection = connection;
        const params = ctx.connectionParams ?? {};
        const headers = { ...ctx.extra.request.headers };
        const auth = params.authorization ?? params.Authorization;
        if (typeof auth === 'string') headers.authorization = auth;
        if (typeof params.apiKey === 'string') headers['x-api-key'] = params.apiKey;
        try {
          const credential = extractCredential(headers);
          if (!credential) throw new AuthenticationError();
          await connection.authenticate(credential);
          ctx.extra.headers = headers;
          // graphql-ws would hold the upgrade request (its headers, raw headers, stream state) for the
          // socket's life; what the socket's operations need of it is in extra now.
          Reflect.deleteProperty(ctx.extra, 'request');
          ctx.extra.contexts = new Map();
          const subscriptionIds = (ctx.extra.subscriptionIds = new Set());
          ctx.extra.socket.once('close', () => {
            metrics.subscriptionsOpen.dec({ transport: 'graphql-ws' }, subscriptionIds.size);
            subscriptionIds.clear();
          });
          return true;
        } catch (err) {
          // 4401 without a valid credential, 4403 outside its CIDR allow-list, 4429 past the sockets per credential.
          if (!(err instanceof AppError)) logger.error({ err }, 'graphql-ws: authenticating a socket failed');
          const e = asAppError(err);
          ctx.extra.socket.close(closeCodeOf(e), closeReasonOf(e));
          return false;
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        const connection = ctx.extra.connection!;
        // graphql-ws has entered this operation already.
        const max = config.WS_MAX_SUBSCRIPTIONS_PER_SOCKET;
        if (Object.keys(ctx.subscriptions).length > max) return [graphqlErrorOf(new TooManyOperationsError(max))];
        // Each operation is authenticated as an HTTP request is: a revoked key or ended session is refused (and its socket closed).
        const requestId = newId('request');
        let context: GraphQLContext;
        try {
          context = await runner.liveContext(connection, { requestId, headers: ctx.extra.headers!, ip: connection.ip });
        } catch (err) {
          return [graphqlErrorOf(asAppError(err), { requestId, locale: requestLocale(ctx.extra.headers!) })];
        }
        ctx.extra.contexts!.set(id, context);
        wsSpans?.remember(context, { upgradeHeaders: ctx.extra.headers!, connectionParams: ctx.connectionParams, extensions: payload.extensions });
        // The plan's limits apply over the socket as over HTTP.
        return admitOverWebSocket(runner, context, payload, wsDocuments);
      },
      onOperation: (ctx, id, _payload, _args, result) => {
        // A subscription (its result is a stream): counted open until it completes or its socket closes.
        if (!(Symbol.asyncIterator in result) || !ctx.extra.subscriptionIds) return;
        ctx.extra.subscriptionIds.add(id);
        metrics.subscriptionsOpen.inc({ transport: 'graphql-ws' });
      },
      onComplete: (ctx, id) => {
        ctx.extra.contexts?.delete(id);
        if (ctx.extra.subscriptionIds?.delete(id)) metrics.subscriptionsOpen.dec({ transport: 'graphql-ws' });
      },
      // Every result and error says where the caller's limits stand (extensions.rateLimit).
      onError: async (ctx, id, _payload, errors) => {
        const context = ctx.extra.contexts?.get(id);
        const rateLimit = await socketRateLimit(runner, context, { errors });
        return errors.map((e) => {
          const formatted = formatGraphQLError(e.toJSON(), e, context?.requestId, logger, socketLocale(ctx.extra, id));
          return rateLimit ? { ...formatted, extensions: { ...formatted.extensions, rateLimit } } : formatted;
        });
      },
      onNext: (ctx, id, _payload, _args, result) => {
        graphqlWsSent.inc();
        const context = ctx.extra.contexts?.get(id);
        // Known at once for a subscription's events, so no promise (nor closure) per message.
        const rateLimit = socketRateLimit(runner, context, result);
        return rateLimit instanceof Promise ? rateLimit.then((limits) => nextMessage(ctx.extra, id, result, context, limits)) : nextMessage(ctx.extra, id, result, context, rateLimit);
      },
      jsonMessageReplacer: replaceNextMessage,
    },
    graphqlWss,
    0, // no keep-alive timer per socket: one for all of them (below)
  );
  const pings = keepAlive(graphqlWss);
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/graphql') {
      let connection: LiveConnection;
      try {
        const badVocabulary = vocabularyError(request.headers);
        if (badVocabulary) throw badVocabulary;
        connection = live.connect(clientIp(request, config.TRUST_PROXY));
      } catch (err) {
        rejectUpgrade(socket, asAppError(err), envelopeOf(newId('request'), request.headers, config));
        return;
      }
      releaseOnClose(socket, connection);
      liveOf.set(request, connection);
      graphqlWss.handleUpgrade(request, socket, head, (upgraded) => {
        watchSocket(upgraded, 'graphql-ws', logger, { requestId: newId('request'), path, ip: connection.ip }, false);
        closeOnEnd(upgraded, connection);
        quietOversizedMessages(upgraded, logger);
        graphqlWss.emit('connection', upgraded, request);
      });
      return;
    }
    void socketRoutes.handleUpgrade(request, socket, head).then((handled) => {
      if (!handled) {
        const envelope = envelopeOf(newId('request'), request.headers, config);
        const body = JSON.stringify(errorBody(new NotFoundError('stream', path ?? ''), envelope));
        socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Language: ${envelope.locale}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    });
  });

  const metricsAddress = metricsServer?.address();
  return {
    app,
    metricsAddress: metricsAddress && typeof metricsAddress === 'object' ? { host: metricsAddress.address, port: metricsAddress.port } : null,
    async close() {
      draining = true;
      socketRoutes.close();
      live.close();
      pings.stop();
      await graphqlWs.dispose(); // closes graphql-ws sockets with 1001
      graphqlWss.close();
      // Keep-alive clients still connected get a moment to send their next request and have it
      // answered with Connection: close, rather than find their idle connection closed under it
      // the instant the listener closes (which a client sees as a reset).
      const open = await new Promise<number>((resolve) => app.server.getConnections((err, count) => resolve(err ? 0 : count)));
      if (open > 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_NOTICE_MS));
      await app.close(); // stops accepting, drains in-flight requests, stops Apollo
      if (metricsServer) await new Promise((resolve) => metricsServer.close(resolve));
    },
  };
}


