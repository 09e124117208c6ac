/**
 * The per-request context, built the same way for /graphql over HTTP and WebSocket, for REST
 * routes and for the REST task stream: a request id, the caller's address, the authenticated
 * principal (null without a credential: the schema's auth scopes then allow only sign-in
 * operations), the services.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AuthenticationError } from './errors.js';
import { requestLocale, type Locale } from './i18n/locale.js';
import { newId } from './ids.js';
import { Loaders } from './loaders/index.js';
import type { Principal, ServiceDeps } from './services/deps.js';
import type { LimitState, RateState } from './services/limits/limiter.js';

export interface GraphQLContext {
  requestId: string;
  /** The client address (after TRUST_PROXY), for CIDR allow-lists and sign-in throttling. */
  ip: string | null;
  principal: Principal | null;
  deps: ServiceDeps;
  /** Batched reads of what list items resolve (one statement per page, not per item). */
  loaders: Loaders;
  /** The language of the request's messages, from its Accept-Language (English by default). */
  locale: Locale;
  /** What the limiter admitted this GraphQL operation with (the window closest to running out after it, and its cost). */
  admitted?: { rate: RateState | null; cost: number };
  /**
   * Where the caller's limits stand for this request's answer: after its admission, its refusal
   * by the limits, or its refund (refused before doing any work). Its headers and GraphQL's
   * `extensions.rateLimit` say this; unset until the request reaches the limiter.
   */
  limits?: LimitState | null;
  /** Set when a subscription answers from an earlier request with the same idempotency key (a chat replay), before its first event. */
  replayed?: boolean;
}

/** The credential of a request: `Authorization: Bearer …`, `X-API-Key`, or a `token` query parameter (WebSocket). */
export function extractCredential(headers: IncomingHttpHeaders, queryToken?: string | null): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <api key or access token>".');
    return match[1];
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey) return apiKey.trim();
  return queryToken || null;
}

/** Authenticates the request when it carries a credential (401 when that credential is bad) and returns its context. */
export async function buildContext(
  deps: ServiceDeps,
  request: { requestId?: string; headers: IncomingHttpHeaders; queryToken?: string | null; ip?: string | null },
): Promise<GraphQLContext> {
  const credential = extractCredential(request.headers, request.queryToken);
  const principal = credential ? await deps.auth.authenticate(credential, request.ip ?? null) : null;
  return contextFor(deps, request, principal);
}

/** The context of a request whose principal is already known (an operation on a live connection). */
export function contextFor(
  deps: ServiceDeps,
  request: { requestId?: string; headers: IncomingHttpHeaders; ip?: string | null },
  principal: Principal | null,
): GraphQLContext {
  const context: GraphQLContext = {
    requestId: request.requestId ?? newId('request'),
    ip: request.ip ?? null,
    locale: requestLocale(request.headers),
    principal,
    deps,
    loaders: new Loaders(deps, () => context.principal),
  };
  return context;
}

/** The principal of an authenticated context; resolvers behind an auth scope call this. */
export function callerOf(ctx: Pick<GraphQLContext, 'principal'>): Principal {
  if (!ctx.principal) throw new AuthenticationError();
  return ctx.principal;
}
