/**
 * Admission of one request: concurrency per credential, the monthly quota per account, and the
 * rolling per-minute and per-hour windows per credential, all from the account's limits (plan
 * plus operator overrides), charged in credits (most requests cost 1; bulk ones more). Every
 * request takes at least 1 from the windows, also one free of monthly credits (reading usage).
 * The same code admits REST routes and GraphQL operations, so both spend one budget. A request
 * without a credential is admitted per client address (ANON_RATE_LIMIT_PER_MINUTE, same store).
 * What it answers: X-RateLimit-* headers for the response, or the error (429 rate / 429
 * concurrency / 402 quota) with those headers. Operations refused here cost nothing.
 */
import type { Db } from '../../db/client.js';
import { AppError, InvalidRequestError } from '../../errors.js';
import { checkShape, type OperationCost, type ShapeLimits } from '../../graphql/cost.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Principal } from '../deps.js';
import { limitsOf, planOf, type Limits } from './plans.js';
import { ResilientLimitStore, type LimitStore, type WindowState } from './store.js';
import { utcDay, type UsageRecorder } from './usage.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const LIMITS_CACHE_MS = 10_000;
const LIMITS_CHANGED = 'limits.changed';
/** The tier X-RateLimit-Tier names for callers without a credential. */
export const ANONYMOUS_TIER = 'anonymous';

export class RateLimitError extends AppError {
  constructor(message: string, details: Record<string, unknown>, headers: Record<string, string>) {
    super('rate_limit_exceeded', 429, message, details, headers);
  }
}

export class ConcurrencyLimitError extends AppError {
  constructor(limit: number, tier: string, headers: Record<string, string>) {
    super(
      'concurrency_limit_exceeded',
      429,
      `Too many requests in flight: your ${tier} plan allows ${limit} at once. Wait for one to finish, then retry.`,
      { limit, tier, retry_after: 1 },
      { ...headers, 'Retry-After': '1' },
    );
  }
}

export class InsufficientCreditsError extends AppError {
  constructor(tier: string, used: number, limit: number, upgradeUrl: string, headers: Record<string, string>) {
    super(
      'insufficient_credits',
      402,
      `Monthly request limit reached (${used} of ${limit} credits on the ${tier} plan). Upgrade to continue.`,
      { current_tier: tier, requests_used: used, requests_limit: limit, upgrade_url: upgradeUrl },
      headers,
    );
  }
}

/** The hourly budget after an admitted request: what X-RateLimit-* and GraphQL's rateLimit say. */
export interface RateState {
  limit: number;
  remaining: number;
  used: number;
  /** Unix seconds when the oldest credit in the hour window expires. */
  reset: number;
  tier: string;
}

export interface Admission {
  /** null when limits are off. */
  rate: RateState | null;
  /** X-RateLimit-* for the response (from `rate`). */
  headers: Record<string, string>;
  /** Ends the request's claim on the concurrency limit (idempotent). */
  release(): Promise<void>;
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
      subscriptionOf: (userId: string) => Promise<{ status: string; currentPeriodStart: Date; currentPeriodEnd: Date } | null>;
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
    const subscription = await this.options.subscriptionOf(principal.userId); // settles a period that has ended
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

  /**
   * Admits a request costing `credits` of the monthly quota for `endpoint`, or throws the limit it
   * hit. The windows count `rateCost` (default: the credits, at least 1).
   */
  async admit(principal: Principal, credits: number, endpoint: string, rateCost = Math.max(1, credits)): Promise<Admission> {
    if (!this.options.enabled) return { rate: null, headers: {}, release: async () => {} };
    const { limits, period, tier } = await this.account(principal);
    const rateKey = `cred:${principal.credentialId}`;
    const now = Date.now();
    const result = await this.store.admit({
      rateKey,
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
    });
    if (result.outcome === 'concurrency') throw new ConcurrencyLimitError(limits.concurrent, tier, { 'X-RateLimit-Tier': tier });
    if (result.outcome === 'quota') {
      throw new InsufficientCreditsError(tier, result.monthUsed, limits.requestsPerMonth, this.options.upgradeUrl, { 'X-RateLimit-Tier': tier });
    }
    const hour = result.rate.windows.find((w) => w.name === 'hour')!;
    const rate: RateState = { limit: hour.limit, remaining: Math.max(0, hour.limit - hour.used), used: hour.used, reset: Math.ceil(hour.resetAt / 1000), tier };
    const headers = rateHeaders(rate);
    if (result.outcome === 'rate') throw rateLimitError(result.rate.blocked!, `on the ${tier} plan`, tier, rateCost, headers, now);
    this.usage.record(principal.userId, endpoint, credits);
    let released = false;
    return {
      rate,
      headers,
      release: async () => {
        if (released) return;
        released = true;
        await this.store.release(rateKey);
      },
    };
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
      throw new InsufficientCreditsError(tier, result.monthUsed, limits.requestsPerMonth, this.options.upgradeUrl, { 'X-RateLimit-Tier': tier });
    }
    if (result.outcome === 'admitted') await this.store.release(rateKey);
    this.usage.record(principal.userId, endpoint, credits);
  }

  /**
   * Admits a request without a credential costing `rateCost`, against the per-minute budget of
   * its client address (shared by every gateway when the store is Redis), or throws 429.
   */
  async admitAddress(ip: string | null, rateCost: number): Promise<Admission> {
    if (!this.options.enabled) return { rate: null, headers: {}, release: async () => {} };
    const now = Date.now();
    const limit = this.options.anonymous.perMinute;
    const result = await this.store.hit(`addr:${ip ?? 'unknown'}`, [{ name: 'minute', limit, windowMs: MINUTE }], Math.max(1, rateCost), now);
    const minute = result.windows[0];
    const rate: RateState = { limit, remaining: Math.max(0, limit - minute.used), used: minute.used, reset: Math.ceil(minute.resetAt / 1000), tier: ANONYMOUS_TIER };
    const headers = rateHeaders(rate);
    if (result.blocked) throw rateLimitError(result.blocked, 'per address without a credential (send an API key for your plan\'s limits)', ANONYMOUS_TIER, rateCost, headers, now);
    return { rate, headers, release: async () => {} };
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

function rateLimitError(blocked: WindowState, whose: string, tier: string, cost: number, headers: Record<string, string>, now: number): RateLimitError {
  const retryAfter = Math.max(1, Math.ceil((blocked.resetAt - now) / 1000));
  return new RateLimitError(
    `Rate limit exceeded: ${blocked.limit} credits per ${blocked.name} ${whose}. Try again in ${retryAfter} seconds.`,
    { retry_after: retryAfter, tier, limit: blocked.limit, window: blocked.name, reset_at: new Date(blocked.resetAt).toISOString(), cost },
    { ...headers, 'Retry-After': String(retryAfter) },
  );
}

/** X-RateLimit-* from the hourly window (the spec's "per-hour ceiling"); for callers without a credential, their minute. */
function rateHeaders(rate: RateState): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(rate.limit),
    'X-RateLimit-Remaining': String(rate.remaining),
    'X-RateLimit-Reset': String(rate.reset),
    'X-RateLimit-Used': String(rate.used),
    'X-RateLimit-Tier': rate.tier,
  };
}
