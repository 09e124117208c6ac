/**
 * What an account used in its current period: requests and credits by day and by endpoint (the
 * usage ledger), model tokens (its tasks), storage (the bytes of what it submitted and got back),
 * against its limits. Also the subscription summary GET /v1/subscription and /v1/auth/me show.
 */
import type { PaidPlan } from '../../generated/prisma/client.js';
import { settlePaidPlan } from '../billing/plans.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { requirePersonalCredential } from '../teams.js';
import { limitsOf } from './plans.js';
import { storageUse, type StorageUse } from './storage.js';
import { utcDay } from './usage.js';

type Deps = Pick<ServiceDeps, 'db' | 'usage' | 'limiter' | 'billing'>;

export interface UsageReport {
  periodStart: Date;
  periodEnd: Date;
  tier: string;
  creditsUsed: number;
  creditsLimit: number;
  requestsUsed: number;
  quotaStatus: 'ok' | 'warning' | 'exceeded';
  byDay: Array<{ date: string; requests: number; credits: number }>;
  byEndpoint: Array<{ endpoint: string; requests: number; credits: number }>;
  tokens: { prompt: number; completion: number; total: number };
  storageUsedBytes: number;
  /** The bytes stored, by kind (what storageUsedBytes adds up). */
  storage: StorageUse;
  storageLimitBytes: number;
  parallelAgentsLimit: number;
}

export async function usageReport(deps: Deps, principal: Principal): Promise<UsageReport> {
  requirePersonalCredential(principal, 'usage and billing');
  await deps.usage.flush(); // include this very request's neighbours
  const { limits, period, tier } = await deps.limiter.account(principal);
  const since = utcDay(period.start);
  const userId = principal.userId;
  // Storage is read as requireStorage reads it (not from the limiter's 10-second cache), so the report and the refusals agree.
  const [byDay, byEndpoint, tokens, storage, current] = await Promise.all([
    deps.db.$queryRaw<{ day: Date; requests: bigint; credits: bigint }[]>`
      SELECT day, sum(requests) AS requests, sum(credits) AS credits FROM usage_daily
      WHERE user_id = ${userId} AND day >= ${since}::date GROUP BY day ORDER BY day`,
    deps.db.$queryRaw<{ endpoint: string; requests: bigint; credits: bigint }[]>`
      SELECT endpoint, sum(requests) AS requests, sum(credits) AS credits FROM usage_daily
      WHERE user_id = ${userId} AND day >= ${since}::date GROUP BY endpoint ORDER BY sum(credits) DESC, endpoint`,
    deps.db.$queryRaw<{ prompt: bigint | null; completion: bigint | null }[]>`
      SELECT sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion FROM agent_tasks
      WHERE owner_id = ${userId} AND created_at >= ${period.start}`,
    storageUse(deps.db, userId),
    limitsOf(deps.db, userId, tier),
  ]);
  const n = (v: bigint | null | undefined) => Number(v ?? 0);
  const creditsUsed = byDay.reduce((s, r) => s + n(r.credits), 0);
  const prompt = n(tokens[0]?.prompt);
  const completion = n(tokens[0]?.completion);
  return {
    periodStart: period.start,
    periodEnd: period.end,
    tier,
    creditsUsed,
    creditsLimit: limits.requestsPerMonth,
    requestsUsed: byDay.reduce((s, r) => s + n(r.requests), 0),
    quotaStatus: creditsUsed >= limits.requestsPerMonth ? 'exceeded' : creditsUsed >= 0.9 * limits.requestsPerMonth ? 'warning' : 'ok',
    byDay: byDay.map((r) => ({ date: utcDay(r.day), requests: n(r.requests), credits: n(r.credits) })),
    byEndpoint: byEndpoint.map((r) => ({ endpoint: r.endpoint, requests: n(r.requests), credits: n(r.credits) })),
    tokens: { prompt, completion, total: prompt + completion },
    storageUsedBytes: storage.total,
    storage,
    storageLimitBytes: current.storageBytes,
    parallelAgentsLimit: limits.parallelAgents,
  };
}

/** The subscription as GET /v1/subscription shows it; a free account has a synthetic free one (no id). */
export interface SubscriptionView {
  subscription: PaidPlan | null;
  tier: string;
  usage: UsageReport;
}

export async function planView(deps: Deps, principal: Principal): Promise<SubscriptionView> {
  const sub = await settlePaidPlan(deps.db, deps.billing, principal.userId);
  const usage = await usageReport(deps, principal);
  return { subscription: sub && sub.status === 'active' ? sub : null, tier: usage.tier, usage };
}
