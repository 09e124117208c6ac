/**
 * The subscription lifecycle over REST and GraphQL: upgrade from free and between tiers with
 * proration, downgrade at the period end, cancel (at period end or at once), reactivate, the
 * period end settling lazily, and the invalid transitions with their errors. By default the
 * built-in billing collects no payment, so it refuses paid changes; the operator makes them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

// This gateway lets accounts buy plans themselves (SELF_SERVICE_PLANS); the default is tested below.
beforeAll(async () => {
  sys = await startTestSystem({ worker: false, env: { SELF_SERVICE_PLANS: 'true' } });
});
afterAll(() => sys?.close());

async function freeUser() {
  const user = await sys.createUser('Subscriber', { tier: 'free' });
  return { ...user, api: restClient(sys.url, user.apiKey) };
}

/** Moves the stored period so that it ended a moment ago (as if a month had passed). */
async function endPeriod(userId: string) {
  const sub = await sys.services.db.paidPlan.findUniqueOrThrow({ where: { userId } });
  const length = sub.currentPeriodEnd.getTime() - sub.currentPeriodStart.getTime();
  const end = new Date(Date.now() - 1000);
  await sys.services.db.paidPlan.update({ where: { userId }, data: { currentPeriodStart: new Date(end.getTime() - length), currentPeriodEnd: end } });
  await sys.services.limiter.limitsChanged(userId);
}

describe('GET /v1/subscription', () => {
  it('shows a free account with no subscription id, the calendar month and its limits', async () => {
    const { api } = await freeUser();
    const res = await api.get('/v1/subscription');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      subscription_id: null,
      tier: 'free',
      status: 'active',
      billing_cycle: null,
      amount: 0,
      currency: 'usd',
      cancel_at_period_end: false,
      usage: { requests_limit: 100, storage_limit_bytes: 1024 ** 3, parallel_agents_limit: 1 },
      payment_method: null,
    });
    expect(new Date(res.body.current_period_start).getUTCDate()).toBe(1);
  });
});

describe('upgrade', () => {
  it('from free starts a paid period at once, charging the full price, and keeps only brand, last4 and expiry', async () => {
    const { api, userId } = await freeUser();
    const res = await api.post('/v1/subscription/upgrade', {
      new_tier: 'professional',
      billing_cycle: 'monthly',
      payment_method: { brand: 'Visa', last4: '4242', exp_month: 12, exp_year: 2030 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      subscription_id: expect.stringMatching(/^sub_/),
      tier: 'pro',
      status: 'active',
      amount: 15,
      proration_amount: 15,
      message: 'Subscription upgraded successfully',
      effective_date: expect.any(String),
    });
    const sub = (await api.get('/v1/subscription')).body;
    expect(sub).toMatchObject({ tier: 'pro', billing_cycle: 'monthly', amount: 15, usage: { requests_limit: 10_000 } });
    expect(sub.payment_method).toEqual({ type: 'card', brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 });
    const charges = await sys.services.db.billingCharge.findMany({ where: { paidPlan: { userId } } });
    expect(charges.map((c) => [c.kind, c.amountCents])).toEqual([['proration', 1500]]);
    // The new limits apply to the next request.
    expect((await api.get('/v1/agents/tasks')).headers.get('x-ratelimit-tier')).toBe('pro');
  });

  it('between paid tiers charges (new − old) × the share of the period left', async () => {
    const { api, userId } = await freeUser();
    await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    // Half the period has gone.
    const sub = await sys.services.db.paidPlan.findUniqueOrThrow({ where: { userId } });
    const length = sub.currentPeriodEnd.getTime() - sub.currentPeriodStart.getTime();
    await sys.services.db.paidPlan.update({
      where: { userId },
      data: { currentPeriodStart: new Date(Date.now() - length / 2), currentPeriodEnd: new Date(Date.now() + length / 2) },
    });
    const res = await api.post('/v1/subscription/upgrade', { new_tier: 'team' });
    expect(res.body).toMatchObject({ tier: 'team', amount: 50 });
    expect(res.body.proration_amount).toBeCloseTo((50 - 15) / 2, 1);
  });

  it.each([
    [{ new_tier: 'pro' }, 409, 'invalid_subscription_change', /already on the pro plan/],
    [{ new_tier: 'enterprise' }, 422, 'validation_error', /contact sales/],
    [{ new_tier: 'gold' }, 422, 'validation_error', /must be pro or team/],
    [{ new_tier: 'team', payment_method: { brand: 'visa', last4: '4242', exp_month: 1, exp_year: 2030, number: '4242424242424242' } }, 422, 'validation_error', /payment_method\.number/],
    [{ new_tier: 'team', payment_method: { brand: 'visa', last4: '42', exp_month: 13, exp_year: 2030 } }, 422, 'validation_error', /last4.*exp_month/s],
    [{ new_tier: 'team', billing_cycle: 'weekly' }, 422, 'validation_error', /billing_cycle/],
  ])('refuses %j with %i %s and changes nothing', async (body, status, code, message) => {
    const { api, userId } = await freeUser();
    await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    const before = await sys.services.db.paidPlan.findUniqueOrThrow({ where: { userId } });
    const res = await api.post('/v1/subscription/upgrade', body);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect(await sys.services.db.paidPlan.findUniqueOrThrow({ where: { userId } })).toEqual(before);
  });
});

describe('downgrade, cancel, reactivate and the period end', () => {
  it('a downgrade waits for the period end, then the lower tier starts and the period renews', async () => {
    const { api, userId } = await freeUser();
    await api.post('/v1/subscription/upgrade', { new_tier: 'team' });
    const down = await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    expect(down.body).toMatchObject({ tier: 'team', proration_amount: 0, message: expect.stringMatching(/end of the current billing period/) });
    expect((await api.get('/v1/subscription')).body).toMatchObject({ tier: 'team', pending_tier: 'pro' });
    await endPeriod(userId);
    const after = (await api.get('/v1/subscription')).body;
    expect(after).toMatchObject({ tier: 'pro', pending_tier: null, amount: 15 });
    expect(new Date(after.current_period_end).getTime()).toBeGreaterThan(Date.now());
    const user = await sys.services.db.user.findUniqueOrThrow({ where: { id: userId } });
    expect(user.tier).toBe('pro');
  });

  it('cancel at period end keeps it active until then; reactivate undoes it; the invalid steps are refused', async () => {
    const { api } = await freeUser();
    expect((await api.post('/v1/subscription/cancel', {})).body.error.code).toBe('invalid_subscription_change'); // nothing to cancel
    await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    const reactivateActive = await api.post('/v1/subscription/reactivate', undefined);
    expect(reactivateActive.status).toBe(409);
    expect(reactivateActive.body.error.message).toMatch(/not scheduled for cancellation/);
    const cancel = await api.post('/v1/subscription/cancel', { cancel_at_period_end: true, reason: 'Switching to Pro Desktop', feedback: 'Great product' });
    expect(cancel.status).toBe(200);
    const sub = (await api.get('/v1/subscription')).body;
    expect(cancel.body).toEqual({
      subscription_id: sub.subscription_id,
      status: 'active',
      cancel_at_period_end: true,
      cancels_at: sub.current_period_end,
      message: 'Subscription will be cancelled at the end of the current billing period',
    });
    expect((await api.post('/v1/subscription/cancel', {})).status).toBe(409); // already scheduled
    const reactivated = await api.post('/v1/subscription/reactivate', undefined);
    expect(reactivated.body).toEqual({ subscription_id: sub.subscription_id, status: 'active', cancel_at_period_end: false, message: 'Subscription reactivated successfully' });
  });

  it('a scheduled cancel ends the subscription at the period end and the account is free again; it cannot be reactivated', async () => {
    const { api, userId } = await freeUser();
    await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    await api.post('/v1/subscription/cancel', {});
    await endPeriod(userId);
    expect((await api.get('/v1/subscription')).body).toMatchObject({ subscription_id: null, tier: 'free' });
    const res = await api.post('/v1/subscription/reactivate', undefined);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/has ended/);
  });

  it('cancel immediately returns to free at once and credits the unused part', async () => {
    const { api, userId } = await freeUser();
    await api.post('/v1/subscription/upgrade', { new_tier: 'team' });
    const res = await api.post('/v1/subscription/cancel', { cancel_at_period_end: false });
    expect(res.body).toMatchObject({ status: 'canceled', cancel_at_period_end: false, message: 'Subscription cancelled' });
    expect((await api.get('/v1/agents/tasks')).headers.get('x-ratelimit-tier')).toBe('free');
    const charges = await sys.services.db.billingCharge.findMany({ where: { paidPlan: { userId } }, orderBy: { createdAt: 'asc' } });
    expect(charges.map((c) => c.kind)).toEqual(['proration', 'credit']);
    expect(charges[1].amountCents).toBeLessThan(0);
    expect(-charges[1].amountCents).toBeLessThanOrEqual(5000);
    // A new upgrade starts a new subscription period.
    expect((await api.post('/v1/subscription/upgrade', { new_tier: 'pro' })).body).toMatchObject({ status: 'active', proration_amount: 15 });
  });
});

describe('over GraphQL', () => {
  it('runs the same state machine', async () => {
    const { apiKey } = await freeUser();
    const up = await graphql(sys.url, apiKey, 'mutation { upgradeSubscription(input: { newTier: "pro", billingCycle: YEARLY }) { prorationAmount subscription { tier billingCycle amount } } }');
    expect(up.body.data.upgradeSubscription).toEqual({ prorationAmount: 150, subscription: { tier: 'pro', billingCycle: 'YEARLY', amount: 150 } });
    const again = await graphql(sys.url, apiKey, 'mutation { upgradeSubscription(input: { newTier: "pro" }) { message } }');
    expect(again.body.errors![0].extensions.code).toBe('INVALID_SUBSCRIPTION_CHANGE');
    const cancel = await graphql(sys.url, apiKey, 'mutation { cancelSubscription { cancelsAt subscription { cancelAtPeriodEnd } } }');
    expect(cancel.body.data.cancelSubscription.subscription.cancelAtPeriodEnd).toBe(true);
    const sub = await graphql(sys.url, apiKey, '{ subscription { tier cancelAtPeriodEnd usage { creditsLimit } } }');
    expect(sub.body.data.subscription).toEqual({ tier: 'pro', cancelAtPeriodEnd: true, usage: { creditsLimit: 10_000 } });
  });

  it('is not open to a publishable key for changes', async () => {
    const { api, apiKey } = await freeUser();
    const pk = (await api.post('/v1/keys', { name: 'web', kind: 'publishable' })).body.secret;
    const res = await restClient(sys.url, pk).post('/v1/subscription/upgrade', { new_tier: 'pro' });
    expect(res.status).toBe(403);
    expect((await restClient(sys.url, apiKey).get('/v1/subscription')).body.tier).toBe('free');
  });
});

describe('with the default billing provider (no self-service plans)', () => {
  let closed: TestSystem;
  beforeAll(async () => {
    closed = await startTestSystem({ worker: false, database: sys.database });
  });
  afterAll(() => closed?.close());

  it('refuses a paid upgrade with 402 payment_required and changes nothing', async () => {
    const { userId, apiKey } = await sys.createUser('No payment', { tier: 'free' });
    const api = restClient(closed.url, apiKey);
    for (const body of [{ new_tier: 'team' }, { new_tier: 'pro', billing_cycle: 'yearly', payment_method: { brand: 'visa', last4: '4242', exp_month: 1, exp_year: 2030 } }]) {
      const res = await api.post('/v1/subscription/upgrade', body);
      expect(res.status).toBe(402);
      expect(res.body.error).toMatchObject({ code: 'payment_required', message: expect.stringContaining('npm run admin -- plan set'), details: { current_tier: 'free', requested_tier: body.new_tier } });
    }
    const gql = await graphql(closed.url, apiKey, 'mutation { upgradeSubscription(input: { newTier: "team" }) { message } }');
    expect(gql.body.errors![0].extensions.code).toBe('PAYMENT_REQUIRED');
    expect((await api.get('/v1/subscription')).body).toMatchObject({ subscription_id: null, tier: 'free' });
    expect((await api.get('/v1/agents/tasks')).headers.get('x-ratelimit-tier')).toBe('free');
    expect(await sys.services.db.paidPlan.count({ where: { userId } })).toBe(0);
  });

  it('lets the operator change a plan with npm run admin; the account can still move down on its own', async () => {
    const email = `plan-${Date.now()}@example.com`;
    const { userId, apiKey } = await sys.createUser('Operator-made', { tier: 'free', email });
    const api = restClient(closed.url, apiKey);
    const admin = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/admin.ts', 'plan', 'set', '--email', email, ...args], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: sys.database.url, LOG_LEVEL: 'silent' },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const [bad, set] = await Promise.all([admin('--tier', 'gold'), admin('--tier', 'team', '--cycle', 'yearly')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--tier must be one of free, pro, team/);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/Subscription upgraded successfully \(team, yearly/);
    await closed.services.limiter.limitsChanged(userId);
    expect((await api.get('/v1/subscription')).body).toMatchObject({ tier: 'team', billing_cycle: 'yearly', status: 'active' });
    // A move down costs nothing and is never refused: it waits for the period end.
    const down = await api.post('/v1/subscription/upgrade', { new_tier: 'pro' });
    expect(down.status).toBe(200);
    expect(down.body).toMatchObject({ tier: 'team', message: expect.stringMatching(/end of the current billing period/) });
    expect((await api.post('/v1/subscription/cancel', { cancel_at_period_end: false })).body).toMatchObject({ status: 'canceled' });
    expect((await api.get('/v1/subscription')).body.tier).toBe('free');
  }, 240_000); // the admin command starts its own Node process with tsx
});
