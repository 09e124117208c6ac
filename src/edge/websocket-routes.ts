/**
 * The route table's WebSocket routes: an upgrade is checked (its variables, its credential from
 * the headers or the `token` query parameter, the live connections of its address and
 * credential), authenticated, admitted against the limits like any other operation, and
 * subscribed before it is accepted; a refusal answers the upgrade with the error envelope and its
 * status. Open sockets close with 4401 when their credential is revoked or expires, 4403 outside
 * its CIDR allow-list, 1000 when the subscription completes, 1001 when the server shuts down.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DocumentNode, ExecutionResult } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import { extractCredential, type GraphQLContext } from '../context.js';
import { AppError, AuthenticationError } from '../errors.js';
import { defaultLocale } from '../i18n/locale.js';
import { newId } from '../ids.js';
import { metrics, watchSocket } from '../metrics.js';
import { CoalescingSocket } from '../net/socket-writes.js';
import { clientIp } from '../rest/client-ip.js';
import { asAppError, envelopeOf, errorBody, vocabularyError, type EnvelopeOptions } from '../rest/envelope.js';
import { closeCodeOf, closeReasonOf, type LiveConnection, type LiveConnections } from '../services/auth/live-connections.js';
import { limitHeaders, type LimitState } from '../services/limits/headers.js';
import { pathMatcher, type SocketRequest, type WebSocketRoute } from './routes.js';
import { compileDocument, operationOf, type OperationRunner } from './run-operation.js';

/** Refuses a WebSocket upgrade with the error envelope and the error's HTTP status (and the caller's limit headers, when known). */
export function rejectUpgrade(socket: Duplex, err: AppError, envelope: EnvelopeOptions, limits?: LimitState | null) {
  const { requestId } = envelope;
  const body = JSON.stringify(errorBody(err, envelope));
  const headers = Object.entries({ ...(limits ? limitHeaders(limits) : {}), ...err.headers }).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${err.code}\r\nContent-Type: application/json\r\nContent-Language: ${envelope.locale ?? defaultLocale}\r\nX-Request-Id: ${requestId}\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

interface Mounted {
  route: WebSocketRoute;
  match: (path: string) => Record<string, string> | null;
  document: DocumentNode;
}

/** The upgrade handler for the table's WebSocket routes (false: no route has this path), and a close function for shutdown. */
export function createWebSocketRoutes(routes: WebSocketRoute[], runner: OperationRunner, live: LiveConnections) {
  const { deps } = runner;
  const shape = { maxAliases: deps.config.GRAPHQL_MAX_ALIASES, maxIds: deps.config.GRAPHQL_MAX_NODE_IDS };
  const mounted: Mounted[] = routes.map((route) => ({
    route,
    match: pathMatcher(route.path),
    document: compileDocument(runner.schema, route.document, `WebSocket route ${route.path}`, shape),
  }));
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.WS_MAX_PAYLOAD_BYTES, WebSocket: CoalescingSocket });
  const aborts = new Set<AbortController>();

  async function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<boolean> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    let found: { mount: Mounted; raw: Record<string, string> } | undefined;
    for (const mount of mounted) {
      const raw = mount.match(url.pathname);
      if (raw) found = { mount, raw };
    }
    if (!found) return false;
    const { route, document } = found.mount;
    const requestId = newId('request');
    let stream: AsyncGenerator<ExecutionResult> | undefined;
    let upgraded = false;
    let connection: LiveConnection | null = null;
    let context: GraphQLContext | null = null;
    try {
      const badVocabulary = vocabularyError(request.headers);
      if (badVocabulary) throw badVocabulary;
      const params = Object.fromEntries(Object.entries(found.raw).map(([name, value]) => [name, decodeURIComponent(value)]));
      const req: SocketRequest = { params, query: url.searchParams };
      const operation = operationOf(document, route.variables(req));
      const credential = extractCredential(request.headers, url.searchParams.get('token'));
      if (!credential) throw new AuthenticationError();
      const held = (connection = live.connect(clientIp(request, deps.config.TRUST_PROXY)));
      // A client that leaves before the upgrade gives back its place and stops the subscription opened for it.
      socket.once('close', () => {
        held.release();
        if (!upgraded) void stream?.return(undefined);
      });
      context = await runner.liveContext(connection, { requestId, headers: request.headers, ip: connection.ip }, credential);
      const invalid = route.invalid && (() => route.invalid!({ params: found.raw, query: url.searchParams }));
      const events = (stream = (await runner.subscribe(context, operation, `${route.method} ${route.path}`, { invalid , pricing: 'request' })).events);
      if (connection.ended) throw connection.ended;
      if (socket.destroyed) {
        void events.return(undefined); // the client left while it was being authenticated
        return true;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        upgraded = true;
        watchSocket(ws, 'task-ws', deps.logger, { requestId, path: url.pathname, accountId: context?.principal?.userId ?? null }, url.searchParams.has('since'));
        // A credential that stops holding ends the stream: 4401 (revoked, expired), 4403 (outside its CIDR allow-list).
        held.onEnd((err) => {
          if (ws.readyState === ws.OPEN) ws.close(closeCodeOf(err), closeReasonOf(err));
          void events.return(undefined);
        });
        void pump(route, ws, events);
      });
    } catch (err) {
      connection?.release();
      void stream?.return(undefined);
      if (!(err instanceof AppError)) deps.logger.error({ err, requestId }, `${route.path}: opening the stream failed`);
      rejectUpgrade(socket, asAppError(err), envelopeOf(requestId, request.headers, deps.config), context?.limits);
    }
    return true;
  }

  async function pump(route: WebSocketRoute, ws: WebSocket, stream: AsyncGenerator<ExecutionResult>) {
    const abort = new AbortController();
    aborts.add(abort);
    const stop = () => void stream.return(undefined);
    ws.on('close', stop);
    // A frame over WS_MAX_PAYLOAD_BYTES (1009) or a broken one: ws closes the socket itself.
    ws.on('error', (err) => deps.logger.info({ err: { message: err.message } }, `${route.path}: a client sent a message it may not`));
    abort.signal.addEventListener('abort', () => {
      stop();
      ws.close(1001, `server shutting down; ${route.resume}`);
    });
    try {
      for await (const result of stream) {
        if (result.errors?.length) throw result.errors[0];
        // The next event waits while the client is not reading (its events stay in the table meanwhile).
        const written = await new Promise<boolean>((resolve) => ws.send(JSON.stringify(route.message(Object.values(result.data ?? {})[0])), (err) => resolve(!err)));
        if (!written) return; // the client went away: its socket's close ends the stream
        metrics.messagesSent.inc({ transport: 'task-ws' });
      }
      if (ws.readyState === ws.OPEN) ws.close(1000, route.completed);
    } catch (err) {
      deps.logger.error({ err }, `${route.path}: the stream failed`);
      if (ws.readyState === ws.OPEN) ws.close(1011, `internal error; ${route.resume}`);
    } finally {
      aborts.delete(abort);
    }
  }

  return {
    handleUpgrade,
    /** Closes every stream with 1001 so clients reconnect elsewhere and resume. */
    close() {
      for (const abort of aborts) abort.abort();
      wss.close();
    },
  };
}
