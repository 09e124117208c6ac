/** /v1/subscription (the plan and its billing period) and /v1/usage (requests, credits, tokens and storage). */
import { z } from 'zod';
import { intForService } from '../../bounded-int.js';
import { EXP_YEAR_MAX, EXP_YEAR_MIN } from '../../services/billing/plans.js';
import { defineRoute, idempotencyKey, lower, oneOf, present, upper } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';

const SubscriptionFields = graphql(`
  fragment RestSubscription on BillingSubscription {
    subscriptionId tier status billingCycle amount currency currentPeriodStart currentPeriodEnd cancelAtPeriodEnd pendingTier
    usage { creditsUsed creditsLimit storageUsedBytes storageLimitBytes parallelAgentsLimit }
    paymentMethod { type brand last4 expMonth expYear }
  }
`);

const PaymentMethodJson = z.object({ type: z.literal('card'), brand: z.string(), last4: z.string(), exp_month: z.number().int(), exp_year: z.number().int() });

const SubscriptionJson = z.object({
  subscription_id: z.string().nullable().describe('null on the free plan'),
  tier: z.string(),
  status: z.enum(['active', 'canceled']),
  billing_cycle: z.enum(['monthly', 'yearly']).nullable(),
  amount: z.number(),
  currency: z.string(),
  current_period_start: z.iso.datetime(),
  current_period_end: z.iso.datetime(),
  cancel_at_period_end: z.boolean(),
  pending_tier: z.string().nullable().describe('A downgrade that starts at the period end.'),
  usage: z.object({
    requests_this_month: z.number().int(),
    requests_limit: z.number().int(),
    storage_used_bytes: z.number(),
    storage_limit_bytes: z.number(),
    parallel_agents_limit: z.number().int(),
  }),
  payment_method: PaymentMethodJson.nullable(),
});

function subscriptionJson(s: ResultOf<typeof SubscriptionFields>): z.input<typeof SubscriptionJson> {
  return {
    subscription_id: s.subscriptionId,
    tier: s.tier,
    status: oneOf(['active', 'canceled'], s.status),
    billing_cycle: s.billingCycle ? lower(s.billingCycle) : null,
    amount: s.amount,
    currency: s.currency,
    current_period_start: s.currentPeriodStart,
    current_period_end: s.currentPeriodEnd,
    cancel_at_period_end: s.cancelAtPeriodEnd,
    pending_tier: s.pendingTier,
    usage: {
      requests_this_month: s.usage.creditsUsed,
      requests_limit: s.usage.creditsLimit,
      storage_used_bytes: s.usage.storageUsedBytes,
      storage_limit_bytes: s.usage.storageLimitBytes,
      parallel_agents_limit: s.usage.parallelAgentsLimit,
    },
    payment_method: s.paymentMethod && { type: 'card' as const, brand: s.paymentMethod.brand, last4: s.paymentMethod.last4, exp_month: s.paymentMethod.expMonth, exp_year: s.paymentMethod.expYear },
  };
}

export const billingRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/subscription',
    operationId: 'getSubscription',
    summary: 'Your plan, billing period, usage against its limits and payment method',
    tag: 'Subscription',
    successStatus: 200,
    response: SubscriptionJson,
    document: graphql(`query GetSubscription { subscription { ...RestSubscription } }`, [SubscriptionFields]),
    variables: () => ({}),
    reply: (data) => subscriptionJson(data.subscription),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/subscription/upgrade',
    operationId: 'upgradeSubscription',
    summary: 'Change plan: a higher tier applies at once with a prorated charge; a lower one at the period end',
    tag: 'Subscription',
    successStatus: 200,
    idempotent: true,
    body: z
      .object({
        new_tier: z.string().describe('pro or team (professional is pro)'),
        billing_cycle: z.enum(['monthly', 'yearly']).optional(),
        payment_method: z
          .object({ brand: z.string(), last4: z.string(), exp_month: intForService(1, 12), exp_year: intForService(EXP_YEAR_MIN, EXP_YEAR_MAX) })
          .strict()
          .optional()
          .describe('Brand, last 4 digits and expiry only: a card number is refused.'),
      })
      .strict(),
    response: z.object({
      subscription_id: z.string().nullable(),
      tier: z.string(),
      status: z.string(),
      amount: z.number(),
      proration_amount: z.number().describe('(new price − old price) × share of the period left; a new period: new price − unused part of the old'),
      message: z.string(),
      effective_date: z.iso.datetime(),
    }),
    errors: ['invalid_subscription_change', 'payment_required'],
    document: graphql(`
  mutation UpgradeSubscription($input: UpgradeSubscriptionInput!, $idempotencyKey: String) {
    upgradeSubscription(input: $input, idempotencyKey: $idempotencyKey) { replayed prorationAmount effectiveDate message subscription { ...RestSubscription } }
  }
`, [SubscriptionFields]),
    variables: ({ body, headers }) => ({
      idempotencyKey: idempotencyKey(headers),
      input: {
        newTier: body.new_tier,
        billingCycle: body.billing_cycle ? upper(body.billing_cycle) : undefined,
        paymentMethod: body.payment_method && { brand: body.payment_method.brand, last4: body.payment_method.last4, expMonth: body.payment_method.exp_month, expYear: body.payment_method.exp_year },
      },
    }),
    reply: (data) => {
      const r = data.upgradeSubscription;
      return {
        subscription_id: r.subscription.subscriptionId,
        tier: r.subscription.tier,
        status: r.subscription.status,
        amount: r.subscription.amount,
        proration_amount: r.prorationAmount,
        message: r.message,
        effective_date: r.effectiveDate,
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/subscription/cancel',
    operationId: 'cancelSubscription',
    summary: 'Cancel at the period end (default) or at once',
    tag: 'Subscription',
    successStatus: 200,
    idempotent: true,
    body: z.object({ cancel_at_period_end: z.boolean().optional(), reason: z.string().max(500).optional(), feedback: z.string().max(2000).optional() }).strict().optional(),
    response: z.object({ subscription_id: z.string(), status: z.string(), cancel_at_period_end: z.boolean(), cancels_at: z.iso.datetime(), message: z.string() }),
    errors: ['invalid_subscription_change'],
    document: graphql(`
  mutation CancelSubscription($input: CancelSubscriptionInput, $idempotencyKey: String) {
    cancelSubscription(input: $input, idempotencyKey: $idempotencyKey) { replayed cancelsAt message subscription { subscriptionId status cancelAtPeriodEnd } }
  }
`),
    variables: ({ body, headers }) => ({ idempotencyKey: idempotencyKey(headers), input: { cancelAtPeriodEnd: body?.cancel_at_period_end ?? true, reason: body?.reason, feedback: body?.feedback } }),
    reply: (data) => {
      const r = data.cancelSubscription;
      return { subscription_id: present(r.subscription.subscriptionId, 'subscription id'), status: r.subscription.status, cancel_at_period_end: r.subscription.cancelAtPeriodEnd, cancels_at: r.cancelsAt, message: r.message };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/subscription/reactivate',
    operationId: 'reactivateSubscription',
    summary: 'Undo a cancellation scheduled for the period end',
    tag: 'Subscription',
    successStatus: 200,
    idempotent: true,
    response: z.object({ subscription_id: z.string(), status: z.string(), cancel_at_period_end: z.boolean(), message: z.string() }),
    errors: ['invalid_subscription_change'],
    document: graphql(`mutation ReactivateSubscription($idempotencyKey: String) { reactivateSubscription(idempotencyKey: $idempotencyKey) { replayed message subscription { subscriptionId status cancelAtPeriodEnd } } }`),
    variables: ({ headers }) => ({ idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => {
      const r = data.reactivateSubscription;
      return { subscription_id: present(r.subscription.subscriptionId, 'subscription id'), status: r.subscription.status, cancel_at_period_end: r.subscription.cancelAtPeriodEnd, message: r.message };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/usage',
    operationId: 'getUsage',
    summary: 'Requests and credits by day and endpoint, tokens, storage and quota status for the current period',
    tag: 'Usage',
    successStatus: 200,
    response: z.object({
      period_start: z.iso.datetime(),
      period_end: z.iso.datetime(),
      tier: z.string(),
      requests: z.object({ used: z.number().int() }),
      credits: z.object({ used: z.number().int(), limit: z.number().int(), remaining: z.number().int() }),
      quota_status: z.enum(['ok', 'warning', 'exceeded']),
      by_day: z.array(z.object({ date: z.string(), requests: z.number().int(), credits: z.number().int() })),
      by_endpoint: z.array(z.object({ endpoint: z.string(), requests: z.number().int(), credits: z.number().int() })),
      tokens: z.object({ prompt: z.number().int(), completion: z.number().int(), total: z.number().int() }),
      storage: z.object({ used_bytes: z.number(), limit_bytes: z.number() }),
      parallel_agents_limit: z.number().int(),
    }),
    document: graphql(`
  query GetUsage {
    usage {
      periodStart periodEnd tier requestsUsed creditsUsed creditsLimit quotaStatus
      byDay { date requests credits } byEndpoint { endpoint requests credits }
      promptTokens completionTokens storageUsedBytes storageLimitBytes parallelAgentsLimit
    }
  }
`),
    variables: () => ({}),
    reply: ({ usage: u }) => ({
      period_start: u.periodStart,
      period_end: u.periodEnd,
      tier: u.tier,
      requests: { used: u.requestsUsed },
      credits: { used: u.creditsUsed, limit: u.creditsLimit, remaining: Math.max(0, u.creditsLimit - u.creditsUsed) },
      quota_status: oneOf(['ok', 'warning', 'exceeded'], u.quotaStatus),
      by_day: u.byDay.map((d) => ({ date: present(d.date, 'usage day'), requests: d.requests, credits: d.credits })),
      by_endpoint: u.byEndpoint.map((d) => ({ endpoint: present(d.endpoint, 'usage endpoint'), requests: d.requests, credits: d.credits })),
      tokens: { prompt: u.promptTokens, completion: u.completionTokens, total: u.promptTokens + u.completionTokens },
      storage: { used_bytes: u.storageUsedBytes, limit_bytes: u.storageLimitBytes },
      parallel_agents_limit: u.parallelAgentsLimit,
    }),
  }),
];
