/**
 * A REST route is a declaration: its path and schemas (which also make the OpenAPI document),
 * the GraphQL document it runs, how request fields become variables, and how `data` becomes the
 * spec's JSON. Routes hold no business rules.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';

export interface RestRequest<B = unknown, Q = unknown, P = Record<string, string>> {
  body: B;
  query: Q;
  params: P;
  headers: IncomingHttpHeaders;
}

export interface RestRoute<B = any, Q = any, P = any, D = any> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** OpenAPI-style path, e.g. /v1/agents/tasks/{task_id}. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  successStatus: number;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Schema of the success body, for the OpenAPI document. */
  response: z.ZodType;
  /** Error codes this route can answer besides the common ones. */
  errors?: ErrorCode[];
  /** Credits a call costs against the caller's limits (default 1; bulk operations more, possibly by size). */
  cost?: number | ((req: RestRequest<B, Q, P>) => number);
  /** Whether it answers without a credential (sign-in routes). */
  public?: boolean;
  /** Whether it accepts Idempotency-Key. */
  idempotent?: boolean;
  /** The GraphQL operation this route runs. */
  document: string;
  variables(req: RestRequest<B, Q, P>): Record<string, unknown>;
  /** Reshapes `data` into the response body; may throw an AppError for a status other than success. */
  reply(data: D, req: RestRequest<B, Q, P>): unknown;
  /** When the work may still be running: successStatus, or 202 (accepted, still processing). */
  statusOf?(data: D): number;
  /** A body that is not JSON (reply returns a Buffer): its content type and extra headers. */
  binary?: { contentType: string; headers?(data: D): Record<string, string> };
  /** Headers on every answer of the route, errors included (e.g. no-store on token responses). */
  headers?: Record<string, string>;
  /** Longer text for the OpenAPI document (formulas, behaviour). */
  description?: string;
  /**
   * With `Accept: text/event-stream`, after `document` ran: Server-Sent Events from this
   * subscription, resumable with `Last-Event-ID` (the last event id the client saw).
   */
  eventStream?: EventStreamSpec<B, Q, P, D>;
}

/** How a route streams: the subscription it runs and how each result becomes an SSE event. */
export interface EventStreamSpec<B = any, Q = any, P = any, D = any> {
  /** The GraphQL subscription document. */
  document: string;
  /** Its variables; `lastEventId` is 0 when the client sent none. */
  variables(data: D, req: RestRequest<B, Q, P>, lastEventId: number): Record<string, unknown>;
  /** An event sent first, without an id (what the stream is about, e.g. the created resource). */
  opening?(data: D, req: RestRequest<B, Q, P>): { event: string; data: unknown };
  /** One subscription result (`data`) as an SSE event; `id` is what Last-Event-ID resumes after. */
  event(data: any): { id: string; event: string; data: unknown };
}

/** Declares a route with its types inferred from its schemas. */
export function defineRoute<B, Q, P, D = any>(route: RestRoute<B, Q, P, D>): RestRoute<B, Q, P, D> {
  return route;
}
