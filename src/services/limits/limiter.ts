/**
 * Admission of one request: concurrency per credential, the monthly quota per account, and the
 * rolling per-minute and per-hour windows per credential, all from the account's limits (plan
 * plus operator overrides), charged in credits (most requests cost 1; bulk ones more). Every
 * request takes at least 1 from the windows, also one free of monthly credits (reading usage).
 * The same code admits REST routes and GraphQL operations, so both spend one budget. A request
 * without a credential is admitted per client address (ANON_RATE_LIMIT_PER_MINUTE, same store).
 * What it answers: where every limit stands (./headers.ts renders it as the response's
 * headers), or the error (429 rate / 429 concurrency / 402 quota) carrying the same. Operations
 * refused here cost nothing, and an admitted one refused before it did any work is refunded
 * (`isCharged`). `peek` reads the limits without charging, for answers given before admission.
 */
import type { Db } from '../../db/client.js';
import { AppError, InvalidRequestError, type ErrorCode } from '../../errors.js';
import { checkShape, type OperationCost, type ShapeLimits } from '../../graphql/cost.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Principal } from '../deps.js';
import { limitsOf, planOf, type Limits } from './plans.js';
import { limitHeaders, rateStateOf, type LimitState, type QuotaName, type RateState } from './headers.js';
import { ResilientLimitStore, type AdmitRequest, type LimitSnapshot, type LimitStore, type WindowState } from './store.js';
import { utcDay, type UsageRecorder } from './usage.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const LIMITS_CACHE_MS = 10_000;
const LIMITS_CHANGED = 'limits.changed';
/** The tier X-RateLimit-Tier names for callers without a credential. */
export const ANONYMOUS_TIER = 'anonymous';
export type { LimitState, RateState } from './headers.js';

/** An error of the limits, with where every limit stands (its answer's headers). */
export interface LimitRefusal {
  readonly limits: LimitState;
}

export class RateLimitError extends AppError implements LimitRefusal {
  constructor(message: string, details: Record<string, unknown>, readonly limits: LimitState) {
    super('rate_limit_exceeded', 429, message, details, { ...limitHeaders(limits), 'Retry-After': String(details.retry_after) });
  }
}

export class ConcurrencyLimitError extends AppError implements LimitRefusal {
  constructor(limit: number, tier: string, readonly limits: LimitState) {
    super(
      'concurrency_limit_exceeded',
      429,
      `Too many requests in flight: your ${tier} plan allows ${limit} at once. Wait for one to finish, then retry.`,
      { limit, tier, retry_after: 1 },
      { ...limitHeaders(limits), 'Retry-After': '1' },
    );
  }
}

export class InsufficientCreditsError extends AppError implements LimitRefusal {
  constructor(tier: string, used: number, limit: number, upgradeUrl: string, readonly limits: LimitState) {
    super(
      'insufficient_credits',
      402,
      `Monthly request limit reached (${used} of ${limit} credits on the ${tier} plan). Upgrade to continue.`,
      { current_tier: tier, requests_used: used, requests_limit: limit, upgrade_url: upgradeUrl },
      limitHeaders(limits),
    );
  }
}

/** The limits behind an error, when the limiter refused with it. */
export const limitsOfError = (err: unknown): LimitState | null => (err instanceof AppError && 'limits' in err ? ((err as AppError & LimitRefusal).limits ?? null) : null);

/**
 * Whether a request answered with error `code` stays charged. A request refused before it did any
 * work is not: its input was malformed or invalid (400, 413, 422), its caller may not (401, 403)
 * or what it names does not exist for the caller (404, 405), its Idempotency-Key was used for
 * another body (409 idempotency_conflict), a limit or the billing provider refused it (402, 429),
 * or a dependency it needs is down (503). Conflicts with a resource's state (other 409s, 410) and
 * failures of work that ran (408, 500) stay charged. Callers without a credential are always
 * charged: their per-address budget is what stops guessing ids and share links.
 */
export function isCharged(code: string): boolean {
  return !UNCHARGED.has(code);
}

const UNCHARGED: ReadonlySet<string> = new Set<ErrorCode>([
  'invalid_request',
  'authentication_required',
  'insufficient_credits',
  'payment_required',
  'storage_limit_exceeded',
  'permission_denied',
  'resource_not_found',
  'method_not_allowed',
  'idempotency_conflict',
  'payload_too_large',
  'validation_error',
  'rate_limit_exceeded',
  'concurrency_limit_exceeded',
  'service_unavailable',
  'model_not_configured',
]);

export interface Admission {
  /** Where every limit stands after admitting it; null when limits are off. */
  state: LimitState | null;
  /** The window X-RateLimit-* describe (from `state`). */
  rate: RateState | null;
  /** X-RateLimit-*, RateLimit-Policy and RateLimit for the response (from `state`). */
  headers: Record<string, string>;
  /** Ends the request's claim on the concurrency limit (idempotent). */
  release(): Promise<void>;
  /** Takes back what admitting it charged (refused before doing any work); the state after (idempotent). */
  refund(): Promise<LimitState | null>;
}

const noLimits = (): Admission => ({ state: null, rate: null, headers: {}, release: async () => {}, refund: async () => null });

function admission(state: LimitState, release: () => Promise<void>, refund: () => Promise<LimitState | null>): Admission {
  let released = false;
  let refunded: Promise<LimitState | null> | null = null;
  return {
    state,
    rate: rateStateOf(state),
    headers: limitHeaders(state),
    release: async () => {
      if (released) return;
      released = true;
      await release();
    },
    refund: () => (refunded ??= refund()),
  };
}

/** The account's current monthly period: its subscription's, else the calendar month (UTC). */
export function currentPeriod(sub: { status: string; currentPeriodStart: Date; currentPeriodEnd: Date } | null, now = new Date()): { start: Date; end: Date } {
  if (sub && sub.status === 'active' && sub.currentPeriodEnd > now) return { start: sub.currentPeriodStart, end: sub.currentPeriodEnd };
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
}

export class Limiter {
  private readonly cache = new Map<string, { tier: string; limits: Limits; period: { start: Date; end: Date }; until: number }>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Db,
    private readonly store: LimitStore,
    private readonly usage: UsageRecorder,
    private readonly bus: EventBus,
    private readonly options: {
      enabled: boolean;
      upgradeUrl: string;
      /** The account's subscription after applying what its period end decided. */
      paidPlanOf: (userId: string) => Promise<{ status: string; currentPeriodStart: Date; currentPeriodEnd: Date } | null>;
      /** Callers without a credential, per client address: credits per minute, and the most one operation may cost. */
      anonymous: { perMinute: number; maxCost: number };
      /** The shape every GraphQL operation keeps (checked even with limits off). */
      shape: ShapeLimits;
    },
  ) {
    this.unsubscribe = bus.onBroadcast(LIMITS_CHANGED, (userId) => this.cache.delete(userId));
  }

  /** Call after a plan, override or billing period changes: every gateway applies it to the next request. */
  async limitsChanged(userId: string): Promise<void> {
    this.cache.delete(userId);
    await this.bus.broadcast(LIMITS_CHANGED, userId);
  }

  /**
   * The account's tier, limits and current period (cached briefly; `limitsChanged` clears it).
   * Read from the database rather than the credential, so a plan change applies to the next request.
   */
  async account(principal: Pick<Principal, 'userId'>) {
    const hit = this.cache.get(principal.userId);
    if (hit && hit.until > Date.now() && hit.period.end.getTime() > Date.now()) return hit;
    const subscription = await this.options.paidPlanOf(principal.userId); // settles a period that has ended
    const user = await this.db.user.findUnique({ where: { id: principal.userId }, select: { tier: true } });
    const tier = user?.tier ?? 'free';
    const entry = { tier, limits: await limitsOf(this.db, principal.userId, tier), period: currentPeriod(subscription), until: Date.now() + LIMITS_CACHE_MS };
    this.cache.set(principal.userId, entry);
    return entry;
  }

  /**
   * Refuses a GraphQL operation before it runs when its shape is refused for everyone (aliases,
   * introspection, ids: see checkShape), or it is too deep or too costly for the caller: deeper
   * than the plan allows, or costing more than the per-minute budget (it could never be
   * admitted). Without a credential: the free plan's depth, and at most ANON_MAX_COST.
   */
  async checkQuery(principal: Principal | null, cost: OperationCost): Promise<void> {
    checkShape(cost, this.options.shape);
    if (!this.options.enabled) return;
    const account = principal ? await this.account(principal) : null;
    const tier = account?.tier ?? ANONYMOUS_TIER;
    const maxCost = account?.limits.requestsPerMinute ?? this.options.anonymous.maxCost;
    const maxDepth = planOf(principal ? tier : 'free').maxQueryDepth;
    if (cost.depth > maxDepth) {
      const who = principal ? `the ${tier} plan allows` : 'without a credential the limit is';
      throw new InvalidRequestError(`The query is ${cost.depth} levels deep; ${who} ${maxDepth}. Split it into smaller queries.`, {
        limit: 'max_depth', value: cost.depth, max: maxDepth,
      });
    }
    if (cost.rateCost > maxCost) {
      const message = principal
        ? `The query costs ${cost.rateCost} credits; the ${tier} plan allows at most ${maxCost} per minute. Ask for smaller pages (first/last) or fewer fields.`
        : `The query costs ${cost.rateCost} credits; an operation without a credential may cost at most ${maxCost}. Send an API key, or ask for smaller pages (first/last) or fewer fields.`;
      throw new InvalidRequestError(message, { limit: 'max_cost', value: cost.rateCost, max: maxCost });
    }
  }

  /** The store request for one admission of `principal` (its credential's windows, its account's month). */
  private async request(principal: Pick<Principal, 'userId' | 'credentialId'>, credits: number, rateCost: number) {
    const { limits, period, tier } = await this.account(principal);
    const now = Date.now();
    const request: AdmitRequest = {
      rateKey: `cred:${principal.credentialId}`,
      concurrent: limits.concurrent,
      monthKey: `month:${principal.userId}:${period.start.toISOString()}`,
      monthLimit: limits.requestsPerMonth,
      monthTtlMs: period.end.getTime() - now + HOUR,
      monthInitial: () => this.usedSince(principal.userId, period.start),
      windows: [
        { name: 'minute', limit: limits.requestsPerMinute, windowMs: MINUTE },
        { name: 'hour', limit: limits.requestsPerHour, windowMs: HOUR },
      ],
      cost: credits,
      windowCost: Math.max(rateCost, credits),
      now,
    };
    const stateOf = (seen: LimitSnapshot, refusedBy?: QuotaName): LimitState => ({
      tier,
      at: now,
      refusedBy,
      quotas: [
        ...seen.windows.map((w) => ({ name: w.name, limit: w.limit, used: w.used, resetAt: w.resetAt, windowSeconds: w.name === 'minute' ? 60 : 3600 })),
        { name: 'month', limit: limits.requestsPerMonth, used: seen.monthUsed, resetAt: period.end.getTime(), windowSeconds: Math.round((period.end.getTime() - period.start.getTime()) / 1000) },
        { name: 'concurrency', limit: limits.concurrent, used: seen.inFlight, resetAt: null, windowSeconds: null },
      ],
    });
    return { request, stateOf, limits, tier };
  }

  /**
   * Admits a request costing `credits` of the monthly quota for `endpoint`, or throws the limit it
   * hit. The windows count `rateCost` (default: the credits, at least 1).
   */
  async admit(principal: Principal, credits: number, endpoint: string, rateCost = Math.max(1, credits)): Promise<Admission> {
    if (!this.options.enabled) return noLimits();
    const { request, stateOf, limits, tier } = await this.request(principal, credits, rateCost);
    const result = await this.store.admit(request);
    switch (result.outcome) {
      case 'concurrency':
        throw new ConcurrencyLimitError(limits.concurrent, tier, stateOf(result, 'concurrency'));
      case 'quota':
        throw new InsufficientCreditsError(tier, result.monthUsed, limits.requestsPerMonth, this.options.upgradeUrl, stateOf(result, 'month'));
      case 'rate':
        throw rateLimitError(result.rate.blocked!, `on the ${tier} plan`, tier, rateCost, stateOf(result, result.rate.blocked!.name), request.now);
    }
    this.usage.record(principal.userId, endpoint, credits);
    return admission(
      stateOf(result),
      () => this.store.release(request.rateKey),
      async () => {
        this.usage.record(principal.userId, endpoint, -credits, new Date(request.now), -1);
        return stateOf(await this.store.refund({ ...request, now: Date.now() }, result.entryId!));
      },
    );
  }

  /**
   * Where the limits of `principal` stand, charging nothing: for answers that refused the request
   * before it was admitted (invalid input, an unknown path, a credential outside its addresses).
   * Null when limits are off.
   */
  async peek(principal: Pick<Principal, 'userId' | 'credentialId'>): Promise<LimitState | null> {
    if (!this.options.enabled) return null;
    const { request, stateOf } = await this.request(principal, 0, 0);
    return stateOf(await this.store.peek(request));
  }

  /**
   * Charges `credits` of the monthly quota for work a request starts beyond its own cost (a bulk
   * operation's items, priced once they are counted), or throws insufficient_credits and charges
   * nothing. The rate windows are not counted: the request that started it already was.
   */
  async chargeCredits(principal: Principal, credits: number, endpoint: string): Promise<void> {
    if (!this.options.enabled || credits <= 0) return;
    const { limits, period, tier } = await this.account(principal);
    const rateKey = `charge:${principal.userId}`;
    const now = Date.now();
    const result = await this.store.admit({
      rateKey,
      concurrent: Number.MAX_SAFE_INTEGER,
      monthKey: `month:${principal.userId}:${period.start.toISOString()}`,
      monthLimit: limits.requestsPerMonth,
      monthTtlMs: period.end.getTime() - now + HOUR,
      monthInitial: () => this.usedSince(principal.userId, period.start),
      windows: [],
      cost: credits,
      windowCost: 0,
      now,
    });
    if (result.outcome === 'quota') {
      const month = { name: 'month' as const, limit: limits.requestsPerMonth, used: result.monthUsed, resetAt: period.end.getTime(), windowSeconds: Math.round((period.end.getTime() - period.start.getTime()) / 1000) };
      throw new InsufficientCreditsError(tier, result.monthUsed, limits.requestsPerMonth, this.options.upgradeUrl, { tier, at: now, refusedBy: 'month', quotas: [month] });
    }
    if (result.outcome === 'admitted') await this.store.release(rateKey);
    this.usage.record(principal.userId, endpoint, credits);
  }

  /**
   * Admits a request without a credential costing `rateCost`, against the per-minute budget of
   * its client address (shared by every gateway when the store is Redis), or throws 429.
   */
  async admitAddress(ip: string | null, rateCost: number): Promise<Admission> {
    if (!this.options.enabled) return noLimits();
    const now = Date.now();
    const limit = this.options.anonymous.perMinute;
    const result = await this.store.hit(`addr:${ip ?? 'unknown'}`, [{ name: 'minute', limit, windowMs: MINUTE }], Math.max(1, rateCost), now);
    const minute = result.windows[0];
    const state: LimitState = { tier: ANONYMOUS_TIER, at: now, quotas: [{ ...minute, windowSeconds: 60 }], refusedBy: result.blocked ? 'minute' : undefined };
    if (result.blocked) throw rateLimitError(result.blocked, 'per address without a credential (send an API key for your plan\'s limits)', ANONYMOUS_TIER, rateCost, state, now);
    // Without a credential every request is charged (see isCharged): nothing to refund.
    return admission(state, async () => {}, async () => state);
  }

  /** Credits the account used since `start` (written and not yet written). */
  private async usedSince(userId: string, start: Date): Promise<number> {
    const since = utcDay(start);
    const rows = await this.db.$queryRaw<{ credits: bigint | null }[]>`
      SELECT sum(credits) AS credits FROM usage_daily WHERE user_id = ${userId} AND day >= ${since}::date`;
    return Number(rows[0]?.credits ?? 0) + this.usage.pendingCredits(userId, since);
  }

  /** Redis's state when the counters live there (null: in this process's memory). */
  async redisHealth(): Promise<{ status: 'ok' | 'unreachable'; on_failure: 'open' | 'closed' } | null> {
    if (!(this.store instanceof ResilientLimitStore)) return null;
    return { status: (await this.store.ping()) ? 'ok' : 'unreachable', on_failure: this.store.failureMode };
  }

  close(): void {
    this.unsubscribe();
  }
}

function rateLimitError(blocked: WindowState, whose: string, tier: string, cost: number, state: LimitState, now: number): RateLimitError {
  const retryAfter = Math.max(1, Math.ceil((blocked.resetAt - now) / 1000));
  return new RateLimitError(
    `Rate limit exceeded: ${blocked.limit} credits per ${blocked.name} ${whose}. Try again in ${retryAfter} seconds.`,
    { retry_after: retryAfter, tier, limit: blocked.limit, window: blocked.name, reset_at: new Date(blocked.resetAt).toISOString(), cost },
    state,
  );
}
