/**
 * WebSocket /v1/agents/tasks/{task_id}/stream?token=…&since=N: runs the taskEvents subscription
 * and sends each event as the spec's progress / result / error message, with its `seq`. The
 * stream closes with 4401 when its credential is revoked or its access token expires.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse, subscribe, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import { INT32_MAX, parseBoundedInt, wholeNumberMessage } from '../../bounded-int.js';
import { contextFor, extractCredential } from '../../context.js';
import { clientIp } from '../client-ip.js';
import { AppError, AuthenticationError, NotFoundError, ValidationError } from '../../errors.js';
import { appErrorOf } from '../../graphql/format-error.js';
import { newId } from '../../ids.js';
import type { ServiceDeps } from '../../services/deps.js';
import { closeCodeOf, closeReasonOf, type LiveConnection, type LiveConnections } from '../../services/auth/live-connections.js';
import { asAppError, errorBody } from '../envelope.js';
import { findingsJson } from './agents.js';
import { operation } from './operations.js';

const PATH = /^\/v1\/agents\/tasks\/([^/]+)\/stream$/;

/** The spec's message for one taskEvents item. */
export function taskStreamMessage(e: any) {
  const base = { type: e.type.toLowerCase(), task_id: e.taskId, seq: e.seq, status: e.status.toLowerCase(), progress: e.progress };
  if (e.type === 'RESULT') return { ...base, result: { findings: findingsJson(e.result.findings), summary: e.result.summary }, timestamp: e.timestamp };
  if (e.type === 'ERROR') return { ...base, error: { code: e.error.code.toLowerCase(), message: e.error.message }, timestamp: e.timestamp };
  return { ...base, message: e.message, ...(e.queuePosition != null ? { queue_position: e.queuePosition } : {}), timestamp: e.timestamp };
}

/** Refuses a WebSocket upgrade with the error envelope and the error's HTTP status. */
export function rejectUpgrade(socket: Duplex, err: AppError, requestId: string) {
  const body = JSON.stringify(errorBody(err, requestId));
  const headers = Object.entries(err.headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${err.code}\r\nContent-Type: application/json\r\nX-Request-Id: ${requestId}\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** The upgrade handler for the task stream, and a close function for shutdown. */
export function createTaskStreamServer(schema: GraphQLSchema, deps: ServiceDeps, live: LiveConnections) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.WS_MAX_PAYLOAD_BYTES });
  const document = parse(operation('task-events'));
  const aborts = new Set<AbortController>();

  async function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<boolean> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const match = PATH.exec(url.pathname);
    if (!match) return false;
    const requestId = newId('request');
    let stream: AsyncGenerator<ExecutionResult> | undefined;
    let upgraded = false;
    let connection: LiveConnection | null = null;
    try {
      const sinceParam = url.searchParams.get('since');
      const since = sinceParam === null || sinceParam === '' ? 0 : parseBoundedInt(sinceParam, 0, INT32_MAX); // sequence numbers are 32-bit
      if (since === null) throw new ValidationError([{ field: 'since', message: `${wholeNumberMessage(0, INT32_MAX)}: the last seq you saw` }]);
      const credential = extractCredential(request.headers, url.searchParams.get('token'));
      if (!credential) throw new AuthenticationError();
      const held = (connection = live.connect(clientIp(request, deps.config.TRUST_PROXY)));
      // A client that leaves before the upgrade gives back its place and stops the subscription opened for it.
      socket.once('close', () => {
        held.release();
        if (!upgraded) void stream?.return(undefined);
      });
      const principal = await connection.authenticate(credential);
      const context = contextFor(deps, { requestId, headers: request.headers, ip: connection.ip }, principal);
      const result = await subscribe({ schema, document, contextValue: context, variableValues: { taskId: decodeURIComponent(match[1]!), since } });
      if (!(Symbol.asyncIterator in result)) {
        const err = result.errors?.[0];
        throw appErrorOf(err) ?? (err && !err.originalError ? new NotFoundError('task', match[1]!) : err?.originalError ?? err);
      }
      const events = (stream = result as AsyncGenerator<ExecutionResult>);
      if (connection.ended) throw connection.ended;
      if (socket.destroyed) {
        void events.return(undefined); // the client left while it was being authenticated
        return true;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        upgraded = true;
        // A credential that stops holding ends the stream: 4401 (revoked, expired), 4403 (outside its CIDR allow-list).
        held.onEnd((err) => {
          if (ws.readyState === ws.OPEN) ws.close(closeCodeOf(err), closeReasonOf(err));
          void events.return(undefined);
        });
        void pump(ws, events);
      });
    } catch (err) {
      connection?.release();
      void stream?.return(undefined);
      if (!(err instanceof AppError)) deps.logger.error({ err, requestId }, 'task stream failed to open');
      rejectUpgrade(socket, asAppError(err), requestId);
    }
    return true;
  }

  async function pump(ws: WebSocket, stream: AsyncGenerator<ExecutionResult>) {
    const abort = new AbortController();
    aborts.add(abort);
    const stop = () => void stream.return(undefined);
    ws.on('close', stop);
    // A frame over WS_MAX_PAYLOAD_BYTES (1009) or a broken one: ws closes the socket itself.
    ws.on('error', (err) => deps.logger.info({ err: { message: err.message } }, 'task stream: client sent a message it may not'));
    abort.signal.addEventListener('abort', () => {
      stop();
      ws.close(1001, 'server shutting down; reconnect with ?since=<last seq>');
    });
    try {
      for await (const result of stream) {
        if (result.errors?.length) throw result.errors[0];
        ws.send(JSON.stringify(taskStreamMessage((result.data as any).taskEvents)));
      }
      if (ws.readyState === ws.OPEN) ws.close(1000, 'task finished');
    } catch (err) {
      deps.logger.error({ err }, 'task stream failed');
      if (ws.readyState === ws.OPEN) ws.close(1011, 'internal error; reconnect with ?since=<last seq>');
    } finally {
      aborts.delete(abort);
    }
  }

  return {
    handleUpgrade,
    /** Closes every stream with 1001 so clients reconnect elsewhere with ?since=. */
    close() {
      for (const abort of aborts) abort.abort();
      wss.close();
    },
  };
}
