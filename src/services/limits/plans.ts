/**
 * The plans, one table for both names each tier goes by (starter = free, professional = pro).
 * Limits are data: an operator can override any of them per account
 * (`npm run admin -- limits set`), which is how enterprise accounts get theirs.
 */
import type { Db } from '../../db/client.js';

export const TIERS = ['free', 'pro', 'team', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

export interface Limits {
  requestsPerMonth: number;
  requestsPerHour: number;
  requestsPerMinute: number;
  concurrent: number;
  parallelAgents: number;
  storageBytes: number;
}

export interface Plan extends Limits {
  tier: Tier;
  /** Deepest GraphQL selection the plan may send. */
  maxQueryDepth: number;
  /** Price per billing cycle, in cents (USD). */
  monthlyCents: number;
  yearlyCents: number;
}

const GB = 1024 ** 3;

export const PLANS: Record<Tier, Plan> = {
  free: { tier: 'free', maxQueryDepth: 8, requestsPerMonth: 100, requestsPerHour: 500, requestsPerMinute: 5, concurrent: 5, parallelAgents: 1, storageBytes: 1 * GB, monthlyCents: 0, yearlyCents: 0 },
  pro: { tier: 'pro', maxQueryDepth: 12, requestsPerMonth: 10_000, requestsPerHour: 5_000, requestsPerMinute: 100, concurrent: 25, parallelAgents: 10, storageBytes: 10 * GB, monthlyCents: 1_500, yearlyCents: 15_000 },
  team: { tier: 'team', maxQueryDepth: 15, requestsPerMonth: 100_000, requestsPerHour: 50_000, requestsPerMinute: 1_000, concurrent: 100, parallelAgents: 50, storageBytes: 100 * GB, monthlyCents: 5_000, yearlyCents: 50_000 },
  // Per account: these are the defaults until an operator sets the account's own.
  enterprise: { tier: 'enterprise', maxQueryDepth: 20, requestsPerMonth: 10_000_000, requestsPerHour: 500_000, requestsPerMinute: 10_000, concurrent: 500, parallelAgents: 500, storageBytes: 1024 * GB, monthlyCents: 0, yearlyCents: 0 },
};

/** Tier names as either spec document writes them. */
export function normaliseTier(name: string): Tier | null {
  const t = name.trim().toLowerCase();
  const alias: Record<string, Tier> = { starter: 'free', professional: 'pro' };
  return (TIERS as readonly string[]).includes(t) ? (t as Tier) : (alias[t] ?? null);
}

export const planOf = (tier: string): Plan => PLANS[normaliseTier(tier) ?? 'free'];

/** An account's effective limits: its tier's plan with the operator's overrides on top. */
export async function limitsOf(db: Db, userId: string, tier: string): Promise<Limits> {
  const plan = planOf(tier);
  const o = await db.accountLimits.findUnique({ where: { userId } });
  return {
    requestsPerMonth: o?.requestsPerMonth ?? plan.requestsPerMonth,
    requestsPerHour: o?.requestsPerHour ?? plan.requestsPerHour,
    requestsPerMinute: o?.requestsPerMinute ?? plan.requestsPerMinute,
    concurrent: o?.concurrent ?? plan.concurrent,
    parallelAgents: o?.parallelAgents ?? plan.parallelAgents,
    storageBytes: o?.storageBytes != null ? Number(o.storageBytes) : plan.storageBytes,
  };
}
