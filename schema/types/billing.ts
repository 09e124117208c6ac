// PaidPlan, usage and the rate-limit status of the current request.
import { callerOf } from '../../src/context.js';
import { withIdempotentResult } from '../../src/services/idempotency.js';
import type { PaidPlan } from '../../src/generated/prisma/client.js';
import { cancelPaidPlan, changePlan, reactivatePaidPlan } from '../../src/services/billing/plans.js';
import type { RateState } from '../../src/services/limits/limiter.js';
import { planView, usageReport, type SubscriptionView, type UsageReport } from '../../src/services/limits/report.js';
import { builder } from '../builder.js';

const BillingCycle = builder.enumType('BillingCycle', { values: { MONTHLY: { value: 'monthly' }, YEARLY: { value: 'yearly' } } as const });

const PaymentMethod = builder
  .objectRef<{ type: string; brand: string; last4: string; exp_month: number; exp_year: number }>('PaymentMethod')
  .implement({
    description: 'A card as we keep it: brand, last 4 digits and expiry only.',
    fields: (t) => ({
      type: t.exposeString('type'),
      brand: t.exposeString('brand'),
      last4: t.exposeString('last4'),
      expMonth: t.exposeInt('exp_month'),
      expYear: t.exposeInt('exp_year'),
    }),
  });

const Count = builder.objectRef<{ requests: number; credits: number; date?: string; endpoint?: string }>('UsageCount').implement({
  fields: (t) => ({
    date: t.exposeString('date', { nullable: true }),
    endpoint: t.exposeString('endpoint', { nullable: true, description: 'A REST route ("POST /v1/agents/execute") or a GraphQL operation ("graphql MyQuery").' }),
    requests: t.exposeInt('requests'),
    credits: t.exposeInt('credits'),
  }),
});

export const UsageRef = builder.objectRef<UsageReport>('Usage').implement({
  description: 'Usage in the current billing period (calendar month UTC without a subscription).',
  fields: (t) => ({
    periodStart: t.field({ type: 'DateTime', resolve: (u) => u.periodStart }),
    periodEnd: t.field({ type: 'DateTime', resolve: (u) => u.periodEnd }),
    tier: t.exposeString('tier'),
    requestsUsed: t.exposeInt('requestsUsed'),
    creditsUsed: t.exposeInt('creditsUsed', { description: 'What the monthly quota counts: most requests cost 1 credit, bulk ones more.' }),
    creditsLimit: t.exposeInt('creditsLimit'),
    quotaStatus: t.exposeString('quotaStatus', { description: 'ok, warning (90% used) or exceeded.' }),
    byDay: t.field({ type: [Count], resolve: (u) => u.byDay }),
    byEndpoint: t.field({ type: [Count], resolve: (u) => u.byEndpoint }),
    promptTokens: t.int({ resolve: (u) => u.tokens.prompt }),
    completionTokens: t.int({ resolve: (u) => u.tokens.completion }),
    storageUsedBytes: t.float({ resolve: (u) => u.storageUsedBytes }),
    storageLimitBytes: t.float({ resolve: (u) => u.storageLimitBytes }),
    parallelAgentsLimit: t.exposeInt('parallelAgentsLimit'),
  }),
});

const paymentMethodOf = (s: PaidPlan | null) => (s?.paymentMethod as { type: string; brand: string; last4: string; exp_month: number; exp_year: number } | null) ?? null;

export const SubscriptionRef = builder.objectRef<SubscriptionView>('BillingSubscription').implement({
  description: 'Your plan. On the free plan there is no subscription id and no billing cycle.',
  fields: (t) => ({
    subscriptionId: t.string({ nullable: true, resolve: (v) => v.subscription?.id ?? null }),
    tier: t.string({ resolve: (v) => v.subscription?.tier ?? v.tier }),
    status: t.string({ resolve: (v) => v.subscription?.status ?? 'active' }),
    billingCycle: t.field({ type: BillingCycle, nullable: true, resolve: (v) => (v.subscription?.billingCycle as 'monthly' | 'yearly' | undefined) ?? null }),
    amount: t.float({ description: 'Price per cycle in `currency`.', resolve: (v) => (v.subscription?.amountCents ?? 0) / 100 }),
    currency: t.string({ resolve: (v) => v.subscription?.currency ?? 'usd' }),
    currentPeriodStart: t.field({ type: 'DateTime', resolve: (v) => v.usage.periodStart }),
    currentPeriodEnd: t.field({ type: 'DateTime', resolve: (v) => v.usage.periodEnd }),
    cancelAtPeriodEnd: t.boolean({ resolve: (v) => v.subscription?.cancelAtPeriodEnd ?? false }),
    pendingTier: t.string({ nullable: true, description: 'A downgrade that starts at the period end.', resolve: (v) => v.subscription?.pendingTier ?? null }),
    usage: t.field({ type: UsageRef, resolve: (v) => v.usage }),
    paymentMethod: t.field({ type: PaymentMethod, nullable: true, resolve: (v) => paymentMethodOf(v.subscription) }),
  }),
});

const RateLimit = builder.objectRef<RateState & { cost: number }>('RateLimit').implement({
  description: 'The window of your limits closest to running out after this operation (what the X-RateLimit-* headers say), and what this operation cost.',
  fields: (t) => ({
    window: t.exposeString('window', { description: 'Which limit this is: minute, hour or month (credits).' }),
    limit: t.exposeInt('limit'),
    remaining: t.exposeInt('remaining'),
    used: t.exposeInt('used'),
    resetAt: t.field({ type: 'DateTime', resolve: (a) => new Date(a.reset * 1000) }),
    tier: t.exposeString('tier'),
    cost: t.exposeInt('cost'),
  }),
});

builder.queryFields((t) => ({
  // Reading your plan and usage is free of credits, so it works even when the monthly quota is
  // spent; each read runs queries, so it takes 1 from the per-minute and per-hour windows.
  subscription: t.field({ type: SubscriptionRef, authScopes: { $all: { read: true, sees: 'billing' } }, extensions: { cost: 0, work: 1 }, resolve: (_r, _a, ctx) => planView(ctx.deps, callerOf(ctx)) }),
  usage: t.field({ type: UsageRef, authScopes: { $all: { read: true, sees: 'billing' } }, extensions: { cost: 0, work: 1 }, resolve: (_r, _a, ctx) => usageReport(ctx.deps, callerOf(ctx)) }),
  rateLimit: t.field({
    type: RateLimit,
    nullable: true,
    extensions: { cost: 0 },
    description: 'Null when limits are off (RATE_LIMITS=false) or over WebSocket.',
    resolve: (_r, _a, ctx) => (ctx.admitted?.rate ? { ...ctx.admitted.rate, cost: ctx.admitted.cost } : null),
  }),
}));

const PaymentMethodInput = builder.inputType('PaymentMethodInput', {
  description: 'Brand, last 4 digits and expiry only: never send a card number.',
  fields: (t) => ({
    brand: t.string({ required: true }),
    last4: t.string({ required: true }),
    expMonth: t.int({ required: true }),
    expYear: t.int({ required: true }),
  }),
});

const UpgradePayload = builder
  .objectRef<{ view: SubscriptionView; prorationCents: number; effectiveDate: Date; message: string; replayed: boolean }>('UpgradeSubscriptionPayload')
  .implement({
    fields: (t) => ({
      subscription: t.field({ type: SubscriptionRef, resolve: (p) => p.view }),
      prorationAmount: t.float({ description: 'Charged now for the rest of the period (negative: credited).', resolve: (p) => p.prorationCents / 100 }),
      effectiveDate: t.field({ type: 'DateTime', resolve: (p) => p.effectiveDate }),
      message: t.exposeString('message'),
      replayed: t.exposeBoolean('replayed', { description: 'Whether this answered an earlier request with the same idempotencyKey (nothing changed again).' }),
    }),
  });

const CancelPayload = builder.objectRef<{ view: SubscriptionView; cancelsAt: Date; message: string; replayed: boolean }>('CancelSubscriptionPayload').implement({
  fields: (t) => ({
    subscription: t.field({ type: SubscriptionRef, resolve: (p) => p.view }),
    cancelsAt: t.field({ type: 'DateTime', resolve: (p) => p.cancelsAt }),
    message: t.exposeString('message'),
      replayed: t.exposeBoolean('replayed', { description: 'Whether this answered an earlier request with the same idempotencyKey (nothing changed again).' }),
  }),
});

const ReactivatePayload = builder.objectRef<{ view: SubscriptionView; message: string; replayed: boolean }>('ReactivateSubscriptionPayload').implement({
  fields: (t) => ({
    subscription: t.field({ type: SubscriptionRef, resolve: (p) => p.view }),
    message: t.exposeString('message'),
      replayed: t.exposeBoolean('replayed', { description: 'Whether this answered an earlier request with the same idempotencyKey (nothing changed again).' }),
  }),
});

builder.mutationFields((t) => ({
  upgradeSubscription: t.field({
    extensions: { cost: 0 }, // changing plan must work when the quota is spent
    type: UpgradePayload,
    description: 'Moves to another plan: a higher tier at once (prorated), a lower one at the period end.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: {
      input: t.arg({
        type: builder.inputType('UpgradeSubscriptionInput', {
          fields: (f) => ({ newTier: f.string({ required: true }), billingCycle: f.field({ type: BillingCycle }), paymentMethod: f.field({ type: PaymentMethodInput }) }),
        }),
        required: true,
      }),
      idempotencyKey: t.arg.string(),
    },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const pm = input.paymentMethod;
      const { result, replayed } = await withIdempotentResult(ctx.deps.db, { principalId: caller.userId, key: idempotencyKey, operation: 'upgradeSubscription', request: input }, async () => {
        const changed = await changePlan(ctx.deps, caller, {
          newTier: input.newTier,
          billingCycle: input.billingCycle,
          paymentMethod: pm ? { type: 'card', brand: pm.brand, last4: pm.last4, exp_month: pm.expMonth, exp_year: pm.expYear } : null,
        });
        return { prorationCents: changed.prorationCents, effectiveDate: changed.effectiveDate.toISOString(), message: changed.message, tier: changed.subscription.tier };
      });
      // The response shows the plan as it is now (an upgrade already applies; a downgrade waits).
      const view = await planView(ctx.deps, { ...caller, tier: result.tier });
      return { ...result, effectiveDate: new Date(result.effectiveDate), view, replayed };
    },
  }),
  cancelSubscription: t.field({
    extensions: { cost: 0 }, // changing plan must work when the quota is spent
    type: CancelPayload,
    description: 'Cancels at the period end (default) or at once (cancelAtPeriodEnd: false, unused part credited).',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: {
      input: t.arg({
        type: builder.inputType('CancelSubscriptionInput', {
          fields: (f) => ({ cancelAtPeriodEnd: f.boolean({ defaultValue: true }), reason: f.string(), feedback: f.string() }),
        }),
      }),
      idempotencyKey: t.arg.string(),
    },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { result, replayed } = await withIdempotentResult(ctx.deps.db, { principalId: caller.userId, key: idempotencyKey, operation: 'cancelSubscription', request: input ?? {} }, async () => {
        const cancelled = await cancelPaidPlan(ctx.deps, caller, input ?? {});
        return { cancelsAt: cancelled.cancelsAt.toISOString(), message: cancelled.message, subscriptionId: cancelled.subscription.id };
      });
      const subscription = await ctx.deps.db.paidPlan.findUniqueOrThrow({ where: { id: result.subscriptionId } });
      const view = await planView(ctx.deps, { ...caller, tier: subscription.status === 'canceled' ? 'free' : subscription.tier });
      return { cancelsAt: new Date(result.cancelsAt), message: result.message, view: { ...view, subscription }, replayed };
    },
  }),
  reactivateSubscription: t.field({
    extensions: { cost: 0 }, // changing plan must work when the quota is spent
    type: ReactivatePayload,
    description: 'Undoes a cancellation scheduled for the period end.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { idempotencyKey: t.arg.string() },
    resolve: async (_r, { idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { replayed } = await withIdempotentResult(ctx.deps.db, { principalId: caller.userId, key: idempotencyKey, operation: 'reactivateSubscription', request: {} }, async () => {
        await reactivatePaidPlan(ctx.deps, caller);
        return true;
      });
      return { view: await planView(ctx.deps, caller), message: 'Subscription reactivated successfully', replayed };
    },
  }),
}));
