/**
 * The route table's entries by transport: a REST route answered over HTTP (JSON, or SSE for a
 * route with an event stream), a route that answers only as server-sent events (/v1/chat), and a
 * route served over a WebSocket (the task stream). Every one runs its GraphQL document through
 * the operation runner.
 */
import type { z } from 'zod';
import type { AppError } from '../errors.js';
import type { RestRoute } from '../rest/route.js';

export type Transport = 'http' | 'sse' | 'websocket';

/** A POST answered with its subscription's events as server-sent events (errors before the first event: the JSON envelope). */
export interface SseRoute<B = unknown, E = unknown> {
  transport: 'sse';
  method: 'POST';
  /** OpenAPI-style path. */
  path: string;
  body: z.ZodType<B>;
  /** The GraphQL subscription it runs. */
  document: string;
  variables(body: B): Record<string, unknown>;
  /** One subscription result (the root field's value) as an event. */
  event(data: E): { event: string; data: unknown };
  /** Whether the stream keeps a concurrency slot while it is open (a model call does work all along). */
  holdsSlot?: boolean;
}

/** What a WebSocket route is given: its path parameters and query string. */
export interface SocketRequest {
  params: Record<string, string>;
  query: URLSearchParams;
}

/** A GET upgraded to a WebSocket that sends its subscription's events as JSON messages and closes with 1000 when it completes. */
export interface WebSocketRoute<E = unknown> {
  transport: 'websocket';
  method: 'GET';
  /** OpenAPI-style path; the credential may come as a `token` query parameter. */
  path: string;
  document: string;
  /** Its variables; may throw a ValidationError (answered before the upgrade). */
  variables(req: SocketRequest): Record<string, unknown>;
  /** One subscription result (the root field's value) as the message sent. */
  message(data: E): unknown;
  /** The error for an operation GraphQL refused before running it. */
  invalid?(req: SocketRequest): AppError;
  /** The close reason when the subscription completes. */
  completed: string;
  /** What a client told to reconnect (shutdown, failure) should send again. */
  resume: string;
}

/** One entry of the route table: a REST route (HTTP is the default transport), an SSE route or a WebSocket route. */
export type EdgeRoute = (RestRoute & { transport?: 'http' }) | SseRoute | WebSocketRoute;

export const isSseRoute = (route: EdgeRoute): route is SseRoute => route.transport === 'sse';
export const isWebSocketRoute = (route: EdgeRoute): route is WebSocketRoute => route.transport === 'websocket';
export const isHttpRoute = (route: EdgeRoute): route is RestRoute => !route.transport || route.transport === 'http';

/** A path pattern (`/v1/agents/tasks/{task_id}/stream`) as a matcher of request paths to their parameters (still URL-encoded). */
export function pathMatcher(path: string): (url: string) => Record<string, string> | null {
  const names: string[] = [];
  const pattern = new RegExp(`^${path.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`);
  return (url) => {
    const match = pattern.exec(url);
    return match ? Object.fromEntries(names.map((name, i) => [name, match[i + 1]])) : null;
  };
}
