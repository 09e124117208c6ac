/**
 * The limit headers (X-RateLimit-*, RateLimit-Policy, RateLimit: see
 * src/services/limits/headers.ts) on every HTTP answer to an identified caller, whichever path
 * answered it: one `onSend` hook reads where the request's limits stand.
 *  - A request that reached the limiter (REST, SSE before its stream) has its context bound here
 *    (`bindContext`); the runner keeps its `limits` current (admitted, refused by a limit,
 *    refunded). No extra store round trip. GraphQL over HTTP runs on a copy of its context: its
 *    plugin writes the headers itself, and this hook leaves an answer that has them alone.
 *  - A request answered before admission (invalid input, a GraphQL document that does not
 *    validate) whose caller is known, an error answered before any handler knew the caller (an
 *    unknown path, a body too large, a credential outside its addresses), and the OAuth token
 *    endpoint (`identify`): the limits are read without charging (one store round trip, on
 *    these answers only).
 * Successful answers of the endpoints outside the limits (health, documents, the dashboard) carry none.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { extractCredential, type GraphQLContext } from '../context.js';
import type { Principal, ServiceDeps } from '../services/deps.js';
import { limitHeaders, type LimitState } from '../services/limits/headers.js';

type Bound = Pick<GraphQLContext, 'principal' | 'limits'>;

const bound = new WeakMap<IncomingMessage, Bound>();

/** Ties a request to its operation's context: its answer reports the context's limits. */
export function bindContext(request: FastifyRequest, context: Bound): void {
  bound.set(request.raw, context);
}

/** Names the caller of a request answered outside the runner (an OAuth client that authenticated). */
export function identify(request: FastifyRequest, caller: Pick<Principal, 'userId' | 'credentialId'>): void {
  bound.set(request.raw, { principal: caller as Principal, limits: undefined });
}

/** Where the limits of the request's caller stand, or null for a caller that is not identified. */
export async function limitsOfRequest(deps: Pick<ServiceDeps, 'auth' | 'limiter'>, request: FastifyRequest, reply: FastifyReply): Promise<LimitState | null> {
  const context = bound.get(request.raw);
  if (context?.limits) return context.limits;
  if (context) return context.principal ? deps.limiter.peek(context.principal) : null;
  if (reply.statusCode < 400) return null;
  let credential: string | null;
  try {
    credential = extractCredential(request.headers);
  } catch {
    return null;
  }
  // Without the request-bound checks (a key outside its addresses is still its owner's).
  const principal = credential ? await deps.auth.principalOf(credential).catch(() => null) : null;
  return principal ? deps.limiter.peek(principal) : null;
}

export function registerLimitHeaders(app: FastifyInstance, deps: Pick<ServiceDeps, 'auth' | 'limiter' | 'logger'>): void {
  app.addHook('onSend', async (request, reply, payload) => {
    try {
      const known = bound.get(request.raw)?.limits;
      // GraphQL over HTTP wrote them already (src/graphql/limits-plugin.ts).
      if (!known && reply.hasHeader('ratelimit-policy')) return payload;
      const limits = known ?? (await limitsOfRequest(deps, request, reply));
      if (limits) reply.headers(limitHeaders(limits));
    } catch (err) {
      // The answer goes out without them (the limits' store is unreachable and LIMITS_ON_REDIS_FAILURE=closed).
      deps.logger.debug({ err: { message: (err as Error).message } }, 'limit headers left out');
    }
    return payload;
  });
}
