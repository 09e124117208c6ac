/**
 * The paid-plan lifecycle (upgrade, cancel at period end, reactivate). The public API calls a paid
 * plan a "subscription" (/v1/subscription, `subscription_id`, GraphQL `BillingSubscription`), as
 * its clients expect; inside the code it is a paid plan (the `PaidPlan` model), so that
 * "subscription" names only GraphQL subscriptions. An account without one is on the free plan. States: active; active with cancel_at_period_end; canceled.
 *
 *  - upgrade to a higher tier: takes effect at once (the next request has the new limits); the
 *    caller pays the proration for the rest of the current period:
 *        proration = (new price − old price) × (seconds left in the period / seconds in the period)
 *    in the same billing cycle. A new subscription (from free), or a change of billing cycle,
 *    starts a new period now: proration = new price − old price × (time left / period length),
 *    i.e. the full new price less the unused part of the old one. Rounded to the cent.
 *  - a lower tier ("upgrade" with a lower new_tier) is a downgrade: it waits for the period end.
 *  - a change that costs money (a higher tier, another billing cycle) is first put to the billing
 *    provider, which may refuse it (402 payment_required); downgrades and cancels never are.
 *  - cancel at period end (default): stays active until then; reactivate undoes it before then.
 *    Cancel immediately: canceled now, back to free, the unused part credited.
 *  - at the period end: a scheduled cancel ends it, a scheduled downgrade starts, otherwise the
 *    period renews and is charged. This settles lazily, the first time the account is seen after
 *    the end, so it needs no timer.
 */
import type { PaidPlan } from '../../generated/prisma/client.js';
import type { Db } from '../../db/client.js';
import { wholeNumberMessage } from '../../bounded-int.js';
import { ConflictError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { PLANS, normaliseTier, type Tier } from '../limits/plans.js';
import type { BillingProvider } from './provider.js';
import { requirePersonalCredential } from '../teams.js';

export type BillingCycle = 'monthly' | 'yearly';
const RANK: Record<Tier, number> = { free: 0, pro: 1, team: 2, enterprise: 3 };

type Deps = Pick<ServiceDeps, 'db' | 'limiter' | 'auth'> & { billing: BillingProvider };

export interface PaymentMethod {
  type: 'card';
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

/** The expiry years a card may have: four digits, none long past or far ahead. */
export const EXP_YEAR_MIN = 2000;
export const EXP_YEAR_MAX = 2100;

const price = (tier: Tier, cycle: BillingCycle) => (cycle === 'yearly' ? PLANS[tier].yearlyCents : PLANS[tier].monthlyCents);

export function addPeriod(start: Date, cycle: BillingCycle): Date {
  const end = new Date(start);
  if (cycle === 'yearly') end.setUTCFullYear(end.getUTCFullYear() + 1);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  return end;
}

/** The part of the period still ahead, 0 to 1. */
function remainingShare(sub: Pick<PaidPlan, 'currentPeriodStart' | 'currentPeriodEnd'>, now: Date): number {
  const total = sub.currentPeriodEnd.getTime() - sub.currentPeriodStart.getTime();
  return Math.min(1, Math.max(0, (sub.currentPeriodEnd.getTime() - now.getTime()) / total));
}

/**
 * Applies what the passing of period ends decided (see the module comment); `onChange` hears of
 * a tier change (to drop cached limits and principals). Returns the current row.
 */
export async function settlePaidPlan(
  db: Db,
  billing: BillingProvider,
  userId: string,
  now = new Date(),
  onChange?: (userId: string) => Promise<void>,
): Promise<PaidPlan | null> {
  const sub = await db.paidPlan.findUnique({ where: { userId } });
  const before = sub?.tier;
  const settled = await settlePeriods(db, billing, userId, sub, now);
  if (settled && (settled.tier !== before || settled.status !== sub?.status)) await onChange?.(userId);
  return settled;
}

async function settlePeriods(db: Db, billing: BillingProvider, userId: string, sub: PaidPlan | null, now: Date): Promise<PaidPlan | null> {
  while (sub && sub.status === 'active' && sub.currentPeriodEnd <= now) {
    const end = sub.currentPeriodEnd;
    const tier = sub.cancelAtPeriodEnd ? 'free' : ((sub.pendingTier as Tier | null) ?? (sub.tier as Tier));
    const cycle = sub.billingCycle as BillingCycle;
    // Claimed by the period end it settles: of two gateways settling at once, one does it.
    const claimed = await db.paidPlan.updateMany({
      where: { id: sub.id, status: 'active', currentPeriodEnd: end },
      data: sub.cancelAtPeriodEnd
        ? { status: 'canceled', canceledAt: end, pendingTier: null }
        : { tier, pendingTier: null, amountCents: price(tier, cycle), currentPeriodStart: end, currentPeriodEnd: addPeriod(end, cycle) },
    });
    if (claimed.count === 1) {
      await db.user.update({ where: { id: userId }, data: { tier } });
      if (!sub.cancelAtPeriodEnd) await billing.charge(sub.id, price(tier, cycle), 'renewal', `${tier} plan, ${cycle}, period from ${end.toISOString()}`);
    }
    sub = await db.paidPlan.findUnique({ where: { userId } });
  }
  return sub;
}

function checkPaymentMethod(pm: PaymentMethod | null | undefined): PaymentMethod | null {
  if (!pm) return null;
  const errors = [];
  if (!/^\d{4}$/.test(pm.last4)) errors.push({ field: 'payment_method.last4', message: 'must be the last 4 digits of the card' });
  const within = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;
  if (!within(pm.exp_month, 1, 12)) errors.push({ field: 'payment_method.exp_month', message: wholeNumberMessage(1, 12) });
  if (!within(pm.exp_year, EXP_YEAR_MIN, EXP_YEAR_MAX)) errors.push({ field: 'payment_method.exp_year', message: wholeNumberMessage(EXP_YEAR_MIN, EXP_YEAR_MAX) });
  if (!pm.brand || pm.brand.length > 30) errors.push({ field: 'payment_method.brand', message: 'must be the card brand, e.g. visa' });
  if (errors.length) throw new ValidationError(errors);
  return { type: 'card', brand: pm.brand.toLowerCase(), last4: pm.last4, exp_month: pm.exp_month, exp_year: pm.exp_year };
}

/** Tells every gateway that the account's plan changed: limits and cached principals reload. */
export async function planChanged(deps: Pick<ServiceDeps, 'limiter' | 'auth'>, userId: string) {
  await deps.limiter.limitsChanged(userId);
  await deps.auth.revoke([userId]); // drops cached principals (they carry the tier); nothing is revoked
}

export interface ChangeResult {
  subscription: PaidPlan;
  prorationCents: number;
  effectiveDate: Date;
  message: string;
}

/** Moves to another tier: up at once (prorated), down at the period end. */
export async function changePlan(
  deps: Deps,
  principal: Principal,
  input: { newTier: string; billingCycle?: BillingCycle | null; paymentMethod?: PaymentMethod | null },
  now = new Date(),
): Promise<ChangeResult> {
  requirePersonalCredential(principal, 'the subscription');
  const newTier = normaliseTier(input.newTier);
  if (!newTier || newTier === 'free' || newTier === 'enterprise') {
    throw new ValidationError([
      { field: 'new_tier', message: newTier === 'enterprise' ? 'enterprise plans are set up by an operator: contact sales' : 'must be pro or team (to leave a paid plan, cancel it)' },
    ]);
  }
  const paymentMethod = checkPaymentMethod(input.paymentMethod);
  const sub = await settlePaidPlan(deps.db, deps.billing, principal.userId, now);
  const active = sub && sub.status === 'active' ? sub : null;
  const currentTier = (active?.tier as Tier | undefined) ?? 'free';
  const cycle: BillingCycle = input.billingCycle ?? (active?.billingCycle as BillingCycle | undefined) ?? 'monthly';
  if (currentTier === 'enterprise') throw new ConflictError('invalid_subscription_change', 'Enterprise plans are changed by an operator: contact sales.');
  if (newTier === currentTier && cycle === active?.billingCycle) {
    throw new ConflictError('invalid_subscription_change', `You are already on the ${newTier} plan (${cycle}).`);
  }

  const paymentMethodJson: object | undefined = paymentMethod ?? undefined; // a Json column takes it as a plain object
  if (active && RANK[newTier] < RANK[currentTier]) {
    if (active.pendingTier === newTier) throw new ConflictError('invalid_subscription_change', `A change to ${newTier} is already scheduled for ${active.currentPeriodEnd.toISOString()}.`);
    const updated = await deps.db.paidPlan.update({
      where: { id: active.id },
      data: { pendingTier: newTier, ...(paymentMethod ? { paymentMethod: paymentMethodJson } : {}) },
    });
    return { subscription: updated, prorationCents: 0, effectiveDate: active.currentPeriodEnd, message: `Subscription will change to ${newTier} at the end of the current billing period` };
  }

  // Everything below costs money: the provider may refuse it before anything changes.
  await deps.billing.authorizePlanChange({ userId: principal.userId, fromTier: currentTier, toTier: newTier, billingCycle: cycle });
  let subscription: PaidPlan;
  let proration: number;
  if (!active || cycle !== active.billingCycle) {
    const unused = active ? Math.round(price(currentTier, active.billingCycle as BillingCycle) * remainingShare(active, now)) : 0;
    proration = price(newTier, cycle) - unused;
    const data = {
      tier: newTier,
      status: 'active' as const,
      billingCycle: cycle,
      amountCents: price(newTier, cycle),
      currentPeriodStart: now,
      currentPeriodEnd: addPeriod(now, cycle),
      cancelAtPeriodEnd: false,
      canceledAt: null,
      pendingTier: null,
      ...(paymentMethod ? { paymentMethod: paymentMethod as object } : {}),
    };
    subscription = sub
      ? await deps.db.paidPlan.update({ where: { id: sub.id }, data })
      : await deps.db.paidPlan.create({ data: { id: newId('subscription'), userId: principal.userId, ...data } });
  } else {
    proration = Math.round((price(newTier, cycle) - price(currentTier, cycle)) * remainingShare(active, now));
    subscription = await deps.db.paidPlan.update({
      where: { id: active.id },
      data: { tier: newTier, amountCents: price(newTier, cycle), cancelAtPeriodEnd: false, pendingTier: null, ...(paymentMethod ? { paymentMethod: paymentMethodJson } : {}) },
    });
  }
  await deps.db.user.update({ where: { id: principal.userId }, data: { tier: newTier } });
  await deps.billing.charge(subscription.id, proration, 'proration', `${currentTier} → ${newTier} (${cycle})`);
  await planChanged(deps, principal.userId);
  return { subscription, prorationCents: proration, effectiveDate: now, message: 'Subscription upgraded successfully' };
}

export async function cancelPaidPlan(
  deps: Deps,
  principal: Principal,
  input: { cancelAtPeriodEnd?: boolean | null; reason?: string | null; feedback?: string | null },
  now = new Date(),
): Promise<{ subscription: PaidPlan; cancelsAt: Date; message: string }> {
  requirePersonalCredential(principal, 'the subscription');
  const sub = await settlePaidPlan(deps.db, deps.billing, principal.userId, now);
  if (!sub || sub.status !== 'active') throw new ConflictError('invalid_subscription_change', 'There is no active subscription to cancel: the account is on the free plan.');
  const atPeriodEnd = input.cancelAtPeriodEnd ?? true;
  const text = { cancelReason: input.reason?.slice(0, 500) ?? null, cancelFeedback: input.feedback?.slice(0, 2000) ?? null };
  if (atPeriodEnd) {
    if (sub.cancelAtPeriodEnd) throw new ConflictError('invalid_subscription_change', `The subscription is already set to end on ${sub.currentPeriodEnd.toISOString()}.`);
    const updated = await deps.db.paidPlan.update({ where: { id: sub.id }, data: { cancelAtPeriodEnd: true, ...text } });
    return { subscription: updated, cancelsAt: sub.currentPeriodEnd, message: 'Subscription will be cancelled at the end of the current billing period' };
  }
  const credit = Math.round(sub.amountCents * remainingShare(sub, now));
  const updated = await deps.db.paidPlan.update({ where: { id: sub.id }, data: { status: 'canceled', canceledAt: now, cancelAtPeriodEnd: false, pendingTier: null, ...text } });
  await deps.db.user.update({ where: { id: principal.userId }, data: { tier: 'free' } });
  if (credit > 0) await deps.billing.charge(sub.id, -credit, 'credit', 'unused part of the period after an immediate cancellation');
  await planChanged(deps, principal.userId);
  return { subscription: updated, cancelsAt: now, message: 'Subscription cancelled' };
}

export async function reactivatePaidPlan(deps: Deps, principal: Principal, now = new Date()): Promise<PaidPlan> {
  requirePersonalCredential(principal, 'the subscription');
  const sub = await settlePaidPlan(deps.db, deps.billing, principal.userId, now);
  if (!sub || sub.status !== 'active') {
    throw new ConflictError('invalid_subscription_change', 'The subscription has ended and cannot be reactivated: start a new one with POST /v1/subscription/upgrade.');
  }
  if (!sub.cancelAtPeriodEnd) throw new ConflictError('invalid_subscription_change', 'The subscription is active and not scheduled for cancellation: there is nothing to reactivate.');
  return deps.db.paidPlan.update({ where: { id: sub.id }, data: { cancelAtPeriodEnd: false, cancelReason: null, cancelFeedback: null } });
}

/** The account's subscription (settled), or null on the free plan. */
export async function getPaidPlan(deps: Deps, principal: Principal): Promise<PaidPlan | null> {
  const sub = await settlePaidPlan(deps.db, deps.billing, principal.userId);
  return sub && sub.status === 'active' ? sub : null;
}

