/**
 * How a caller learns where its limits stand, on every answer:
 *  - `X-RateLimit-Limit/-Remaining/-Reset/-Used` describe ONE window: the one that refused the
 *    request (429, 402), else the one closest to running out (lowest share remaining; on a tie
 *    the one with fewer credits left, then the one that frees up later). Reset is Unix seconds.
 *    The concurrency limit is named only when it refused the request (it has no reset time).
 *  - `RateLimit-Policy` and `RateLimit` (IETF draft-ietf-httpapi-ratelimit-headers, Structured
 *    Field lists) describe every limit: `"minute";q=5;w=60` and `"minute";r=3;t=42`, likewise the
 *    hour, the month's credits (w: the billing period's length) and the requests in flight
 *    (`qu="concurrent-requests"`, no window).
 *  - GraphQL's `extensions.rateLimit`: the closest window plus every limit as `policies`.
 */

export type QuotaName = 'minute' | 'hour' | 'month' | 'concurrency';

/** One limit at a moment. */
export interface QuotaState {
  name: QuotaName;
  limit: number;
  used: number;
  /** When room frees up (ms since epoch); null for concurrency (a request in flight ends). */
  resetAt: number | null;
  /** The window's length in seconds; null for concurrency. */
  windowSeconds: number | null;
}

/** Where every limit of a caller stands after its request was admitted, refused or refunded. */
export interface LimitState {
  tier: string;
  quotas: QuotaState[];
  /** The limit that refused the request, when one did. */
  refusedBy?: QuotaName;
  /** When it was read (ms since epoch). */
  at: number;
}

/** The window X-RateLimit-* describe, as the GraphQL `rateLimit` field and extensions show it. */
export interface RateState {
  window: QuotaName;
  limit: number;
  remaining: number;
  used: number;
  /** Unix seconds when room frees up in this window. */
  reset: number;
  tier: string;
}

const remainingOf = (q: QuotaState) => Math.max(0, q.limit - q.used);
const shareLeft = (q: QuotaState) => (q.limit > 0 ? remainingOf(q) / q.limit : 0);
/** Unix seconds of a reset; concurrency frees up when a request ends, so a second from now. */
const resetSeconds = (q: QuotaState, at: number) => Math.ceil((q.resetAt ?? at + 1000) / 1000);
/** Seconds from `at` until the quota frees up (the IETF `t`). */
const secondsLeft = (q: QuotaState, at: number) => Math.max(0, Math.ceil(((q.resetAt ?? at) - at) / 1000));

/** The limit that refused the request, else the window closest to running out. */
export function closestQuota(state: LimitState): QuotaState {
  const refused = state.refusedBy && state.quotas.find((q) => q.name === state.refusedBy);
  if (refused) return refused;
  const windows = state.quotas.filter((q) => q.resetAt !== null);
  return windows.reduce((best, q) => {
    const byShare = shareLeft(q) - shareLeft(best);
    if (byShare !== 0) return byShare < 0 ? q : best;
    const byRemaining = remainingOf(q) - remainingOf(best);
    if (byRemaining !== 0) return byRemaining < 0 ? q : best;
    return (q.resetAt ?? 0) > (best.resetAt ?? 0) ? q : best;
  });
}

export function rateStateOf(state: LimitState): RateState {
  const q = closestQuota(state);
  return { window: q.name, limit: q.limit, remaining: remainingOf(q), used: q.used, reset: resetSeconds(q, state.at), tier: state.tier };
}

/** RateLimit-Policy: every limit's quota and window. */
export function policyField(state: LimitState): string {
  return state.quotas
    .map((q) => `"${q.name}";q=${q.limit}${q.windowSeconds === null ? ';qu="concurrent-requests"' : `;w=${q.windowSeconds}`}`)
    .join(', ');
}

/** RateLimit: what is left of every limit, and in how many seconds a window frees up. */
export function rateLimitField(state: LimitState): string {
  return state.quotas.map((q) => `"${q.name}";r=${remainingOf(q)}${q.resetAt === null ? '' : `;t=${secondsLeft(q, state.at)}`}`).join(', ');
}

/** Every header a response carries for `state`. */
export function limitHeaders(state: LimitState): Record<string, string> {
  const rate = rateStateOf(state);
  return {
    'X-RateLimit-Limit': String(rate.limit),
    'X-RateLimit-Remaining': String(rate.remaining),
    'X-RateLimit-Reset': String(rate.reset),
    'X-RateLimit-Used': String(rate.used),
    'X-RateLimit-Tier': rate.tier,
    'RateLimit-Policy': policyField(state),
    RateLimit: rateLimitField(state),
  };
}

/** GraphQL's `extensions.rateLimit`: the closest window (as X-RateLimit-* say) and every limit. */
export function rateLimitExtension(state: LimitState) {
  return {
    ...rateStateOf(state),
    policies: state.quotas.map((q) => ({
      name: q.name,
      limit: q.limit,
      remaining: remainingOf(q),
      reset: q.resetAt === null ? null : resetSeconds(q, state.at),
      windowSeconds: q.windowSeconds,
    })),
  };
}
