/**
 * A REST route is a declaration: its path and schemas (which also make the OpenAPI document),
 * the typed GraphQL document it runs, how request fields become its variables, and how its
 * result becomes the JSON of the `response` schema. Routes hold no business rules.
 *
 * `defineRoute` checks the declaration against the schema on both sides: the variables must be
 * the document's, `reply` receives the document's result type and must return what `response`
 * accepts, so a change of the GraphQL schema or of the JSON that breaks a route fails to compile.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TadaDocumentNode } from 'gql.tada';
import type { z } from 'zod';
import type { ErrorCode } from '../errors.js';

export interface RestRequest<B = unknown, Q = unknown, P = unknown> {
  body: B;
  query: Q;
  params: P;
  headers: IncomingHttpHeaders;
}

/** A route as the route table holds it, its types checked by `defineRoute` and erased here. */
export type RestRoute = TypedRestRoute<unknown, unknown, unknown, unknown, Record<string, unknown>, unknown>;

/**
 * A route with its types: B, Q, P the parsed body, query and path parameters; D and V the
 * document's result and variables; R the response schema's input (what `reply` returns).
 */
export interface TypedRestRoute<B, Q, P, D, V, R> {
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
  /** Schema of the success body: what `reply` returns, and the OpenAPI document's response. */
  response: z.ZodType<unknown, R>;
  /** Error codes this route can answer besides the common ones. */
  errors?: ErrorCode[];
  /** Whether it answers without a credential (sign-in routes). */
  public?: boolean;
  /** Whether it accepts Idempotency-Key. */
  idempotent?: boolean;
  /** The GraphQL operation this route runs (written with `graphql` of ./graphql.ts). */
  document: TadaDocumentNode<D, V>;
  variables(req: RestRequest<B, Q, P>): NoInfer<V>;
  /**
   * Reshapes `data` into the response body; may throw an AppError for a status other than success.
   * Literal values (an enum's member, `'list'`) need `as const`: the return is checked, not inferred.
   */
  reply(data: NoInfer<D>, req: RestRequest<B, Q, P>): NoInfer<R>;
  /** When the work may still be running: successStatus, or 202 (accepted, still processing). */
  statusOf?(data: NoInfer<D>): number;
  /** A body that is not JSON (reply returns a Buffer): its content type and extra headers. */
  binary?: { contentType: string; headers?(data: NoInfer<D>): Record<string, string> };
  /** Headers on every answer of the route, errors included (e.g. no-store on token responses). */
  headers?: Record<string, string>;
  /** Longer text for the OpenAPI document (formulas, behaviour). */
  description?: string;
  /**
   * With `Accept: text/event-stream`, after `document` ran: Server-Sent Events from this
   * subscription, resumable with `Last-Event-ID` (the last event id the client saw).
   */
  eventStream?: NoInfer<EventStreamSpec<D, RestRequest<B, Q, P>>>;
}

/** How a route streams: the subscription it runs and how each result becomes an SSE event. */
export interface EventStreamSpec<D = unknown, Req = RestRequest> {
  /** The GraphQL subscription document. */
  document: TadaDocumentNode<unknown, Record<string, unknown>>;
  /** Its variables; `lastEventId` is 0 when the client sent none. */
  variables(data: D, req: Req, lastEventId: number): Record<string, unknown>;
  /** An event sent first, without an id (what the stream is about, e.g. the created resource). */
  opening?(data: D, req: Req): { event: string; data: unknown };
  /** One subscription result (its root field's value) as an SSE event; `id` is what Last-Event-ID resumes after. */
  event(data: unknown): { id: string; event: string; data: unknown };
  /** The route answers only with events, whatever Accept says (a feed with no JSON form); `response` is its opening event's data. */
  only?: boolean;
}

/** A subscription and its typed events, for a route's `eventStream`. */
export function defineEventStream<D, S, SV, Req = RestRequest>(spec: {
  document: TadaDocumentNode<S, SV>;
  variables(data: D, req: Req, lastEventId: number): NoInfer<SV>;
  opening?(data: D, req: Req): { event: string; data: unknown };
  /** Its one root field's value in a result. */
  event(data: NoInfer<S[keyof S]>): { id: string; event: string; data: unknown };
  only?: boolean;
}): EventStreamSpec<D, Req> {
  return spec as unknown as EventStreamSpec<D, Req>;
}

/** Declares a route, checking its document, variables, reply and response schema against each other. */
export function defineRoute<B = unknown, Q = unknown, P = unknown, D = unknown, V = Record<string, unknown>, R = unknown>(
  route: TypedRestRoute<B, Q, P, D, V, R>,
): RestRoute {
  // The route table runs every route alike; the types above were checked where the route is declared.
  return route as unknown as RestRoute;
}

/** A lowercase enum value, typed as such (GraphQL enums are upper case, the JSON's lower case). */
export function lower<T extends string>(value: T): Lowercase<T> {
  return value.toLowerCase() as Lowercase<T>;
}

/** The Idempotency-Key header of a request, for an operation's `idempotencyKey` argument. */
export function idempotencyKey(headers: IncomingHttpHeaders): string | null {
  const key = headers['idempotency-key'];
  return (Array.isArray(key) ? key[0] : key) ?? null;
}

/** An upper-case enum value for a GraphQL argument, typed as such. */
export function upper<T extends string>(value: T): Uppercase<T> {
  return value.toUpperCase() as Uppercase<T>;
}

/**
 * `value` as one of `values`, for a GraphQL String the JSON documents as an enum; a value outside
 * them is a server defect, not the caller's.
 */
export function oneOf<const T extends string>(values: readonly T[], value: string): T {
  if (!(values as readonly string[]).includes(value)) throw new Error(`unexpected value "${value}" (expected one of ${values.join(', ')})`);
  return value as T;
}

/** `value`, which the GraphQL schema types as nullable but this answer always has. */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`${what} is missing`);
  return value;
}
