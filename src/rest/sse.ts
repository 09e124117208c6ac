/**
 * Server-Sent Events for REST routes that stream (`Accept: text/event-stream`): runs the route's
 * GraphQL subscription with the request's context and writes each result as an SSE event whose
 * id is the stream's sequence number, so a client that reconnects with `Last-Event-ID` resumes
 * with nothing lost or repeated. A comment line every 15 s keeps proxies from closing it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ExecutionResult } from 'graphql';
import { extractCredential, type GraphQLContext } from '../context.js';
import { INT32_MAX, parseBoundedInt, wholeNumberMessage } from '../bounded-int.js';
import { streamError } from '../edge/errors.js';
import { AuthenticationError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LiveConnection, LiveConnections } from '../services/auth/live-connections.js';
import { errorBody } from './envelope.js';

const KEEPALIVE_MS = 15_000;

/** Whether the client asked for an event stream. */
export function wantsEventStream(headers: IncomingHttpHeaders): boolean {
  return /(^|,)\s*text\/event-stream\b/i.test(headers.accept ?? '');
}

/** The Last-Event-ID header as a sequence number (0 when absent); anything else is a 422. */
export function lastEventId(headers: IncomingHttpHeaders): number {
  const raw = headers['last-event-id'];
  if (raw === undefined || raw === '') return 0;
  const value = parseBoundedInt((Array.isArray(raw) ? raw[0] : raw).trim(), 0, INT32_MAX); // sequence numbers are 32-bit
  if (value === null) {
    throw new ValidationError([{ field: 'last-event-id', message: `(header) ${wholeNumberMessage(0, INT32_MAX)}: the id of an event this stream sent` }]);
  }
  return value;
}

/** One SSE frame; data is JSON on one line. */
function frame(e: { id?: string; event: string; data: unknown }): string {
  return `${e.id !== undefined ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export interface EventStreamRun {
  contextValue: GraphQLContext;
  /** Starts the subscription; a refusal (e.g. not visible) is thrown before anything is sent, an ordinary error response. */
  start(): Promise<AsyncGenerator<ExecutionResult>>;
  /** Called once the stream has ended (gives back what `start` held). */
  finish?(): Promise<void>;
  /** An event sent first, without an id (what the stream is about). */
  opening?: { event: string; data: unknown };
  /** One result's data as an event; `id` (when the stream resumes) is what Last-Event-ID resumes after. */
  event(data: unknown): { id?: string; event: string; data: unknown };
}

/** Open streams per server, ended before it closes (clients reconnect elsewhere with Last-Event-ID). */
const openStreams = new WeakMap<FastifyInstance, Set<() => void>>();

/** Makes `app` end its event streams when it closes; call once, before it starts. */
export function closeEventStreamsOnClose(app: FastifyInstance): void {
  const streams = new Set<() => void>();
  openStreams.set(app, streams);
  app.addHook('preClose', async () => {
    for (const stop of streams) stop();
  });
}

/**
 * Holds an authenticated request's stream as a live connection (429 past the connections of its
 * address or credential), so that revoking its credential ends it; release it when it ends.
 */
export function holdLiveStream(live: LiveConnections, request: FastifyRequest, context: GraphQLContext): LiveConnection {
  const credential = extractCredential(request.headers);
  if (!credential || !context.principal) throw new AuthenticationError();
  const connection = live.connect(context.ip);
  try {
    connection.hold(credential, context.principal);
  } catch (err) {
    connection.release();
    throw err;
  }
  return connection;
}

/**
 * Answers the request with the subscription's events until it completes or the client leaves, or
 * its credential stops holding (revoked, expired: an `error` event with the envelope, then the end).
 */
export async function sendEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
  live: LiveConnections,
  run: EventStreamRun,
): Promise<void> {
  const connection = holdLiveStream(live, request, run.contextValue);
  let results: AsyncGenerator<ExecutionResult>;
  try {
    results = await run.start();
  } catch (err) {
    connection.release();
    throw err;
  }
  reply.hijack();
  const res = reply.raw;
  const headers: Record<string, string | number | string[]> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  let open = true;
  const stop = () => {
    open = false;
    void results.return(undefined);
  };
  const shutdown = () => {
    stop();
    res.end();
  };
  const streams = openStreams.get(request.server);
  streams?.add(shutdown);
  res.on('close', stop);
  connection.onEnd((err) => {
    if (open) res.write(frame({ event: 'error', data: errorBody(err, request.errorEnvelope) }));
    shutdown();
  });
  const keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
  try {
    if (run.opening) res.write(frame(run.opening));
    for await (const result of results) {
      if (!open) break;
      if (result.errors?.length) throw result.errors[0];
      const data = Object.values(result.data ?? {})[0];
      res.write(frame(run.event(data)));
    }
  } catch (err) {
    const appError = streamError(err, logger, request.id, 'event stream');
    if (open) res.write(frame({ event: 'error', data: errorBody(appError, request.errorEnvelope) }));
  } finally {
    clearInterval(keepalive);
    streams?.delete(shutdown);
    res.off('close', stop);
    connection.release();
    if (open) res.end();
    await run.finish?.();
  }
}
