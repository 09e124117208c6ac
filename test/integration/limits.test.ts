/**
 * Limits: exact admission under concurrency (one gateway in memory, two gateways sharing Redis),
 * rolling windows, X-RateLimit-* headers, the distinct 429s, the monthly quota (402) cleared by an
 * upgrade, GraphQL cost refused before it runs, and the usage ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MemoryLimitStore, RedisLimitStore, type LimitStore } from '../../src/services/limits/store.js';
import { ConcurrencyLimitError } from '../../src/services/limits/limiter.js';
import type { Principal } from '../../src/services/deps.js';
import { FULL_SCOPES } from '../../src/services/deps.js';
import { graphql, restClient, subscribeGraphql, type HttpResult } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false, env: { SELF_SERVICE_PLANS: 'true' } });
});
afterAll(() => sys?.close());

/** A user whose limits are the tier's plan with these overrides. */
async function userWith(system: TestSystem, tier: string, overrides: Record<string, number> = {}) {
  const user = await system.createUser(`limits-${tier}`, { tier });
  if (Object.keys(overrides).length) await system.services.db.accountLimits.create({ data: { userId: user.userId, ...overrides } });
  return user;
}

const count = (results: HttpResult[]) => {
  const by: Record<string, number> = {};
  for (const r of results) {
    const key = r.status === 200 ? '200' : `${r.status} ${r.body?.error?.code}`;
    by[key] = (by[key] ?? 0) + 1;
  }
  return by;
};

describe('admission is exact under concurrency', () => {
  it('admits exactly 50 of 100 parallel requests against a budget of 50 (one gateway, in memory)', async () => {
    const { apiKey } = await userWith(sys, 'team', { requestsPerMinute: 50, concurrent: 1000 });
    const api = restClient(sys.url, apiKey);
    const results = await Promise.all(Array.from({ length: 100 }, () => api.get('/v1/agents/tasks?limit=1')));
    expect(count(results)).toEqual({ '200': 50, '429 rate_limit_exceeded': 50 });
  });

  it('admits exactly 50 of 100 parallel requests spread over two gateways sharing Redis', async () => {
    const env = { REDIS_URL: inject('redisUrl'), JWT_ISSUER: 'http://gateway.test' };
    const a = await startTestSystem({ worker: false, env });
    const b = await startTestSystem({ worker: false, env, database: a.database });
    try {
      const { apiKey } = await userWith(a, 'team', { requestsPerMinute: 50, concurrent: 1000 });
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => restClient((i % 2 ? a : b).url, apiKey).get('/v1/agents/tasks?limit=1')),
      );
      expect(count(results)).toEqual({ '200': 50, '429 rate_limit_exceeded': 50 });
      // Both replicas served some of the admitted ones, and both report the one shared budget.
      const used = results.filter((r) => r.status === 200).map((r) => Number(r.headers.get('x-ratelimit-used')));
      expect(Math.max(...used)).toBe(50);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe.each([
  ['memory', async (): Promise<LimitStore> => new MemoryLimitStore()],
  ['Redis', async (): Promise<LimitStore> => RedisLimitStore.connect(inject('redisUrl'))],
])('windows roll (%s store)', (_name, open) => {
  let store: LimitStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store.close());

  it('keeps a request in the window for an hour after it was made, not until the top of the hour', async () => {
    const key = `roll-${Math.random()}`;
    const hour = [{ name: 'hour' as const, limit: 2, windowMs: 3_600_000 }];
    const t0 = Date.UTC(2026, 10, 23, 10, 15); // 10:15
    expect((await store.hit(key, hour, 1, t0)).allowed).toBe(true);
    expect((await store.hit(key, hour, 1, t0 + 30 * 60_000)).allowed).toBe(true); // 10:45
    const full = await store.hit(key, hour, 1, Date.UTC(2026, 10, 23, 11, 0, 1)); // 11:00:01: a fixed window would have reset
    expect(full.allowed).toBe(false);
    expect(full.blocked).toMatchObject({ name: 'hour', limit: 2, used: 2, resetAt: t0 + 3_600_000 });
    expect((await store.hit(key, hour, 1, t0 + 3_600_000 - 1)).allowed).toBe(false); // 11:14:59.999
    const after = await store.hit(key, hour, 1, t0 + 3_600_000 + 1); // 11:15: the 10:15 request has left
    expect(after.allowed).toBe(true);
    expect(after.windows[0]).toMatchObject({ used: 2, resetAt: t0 + 30 * 60_000 + 3_600_000 });
  });

  it('counts credits, refuses a cost that does not fit, and says when it will', async () => {
    const key = `cost-${Math.random()}`;
    const w = [
      { name: 'minute' as const, limit: 10, windowMs: 60_000 },
      { name: 'hour' as const, limit: 100, windowMs: 3_600_000 },
    ];
    const t = 1_000_000;
    expect((await store.hit(key, w, 5, t)).allowed).toBe(true);
    expect((await store.hit(key, w, 4, t + 10_000)).allowed).toBe(true);
    const refused = await store.hit(key, w, 5, t + 20_000);
    expect(refused.blocked).toMatchObject({ name: 'minute', used: 9, resetAt: t + 60_000 }); // when the first 5 leave
    expect(refused.windows.find((x) => x.name === 'hour')!.used).toBe(9); // nothing recorded
  });
});

describe('headers and errors', () => {
  it('carry X-RateLimit-* on every response, counting down the hourly budget', async () => {
    const { apiKey } = await userWith(sys, 'pro');
    const api = restClient(sys.url, apiKey);
    const first = await api.get('/v1/agents/tasks');
    const second = await api.get('/v1/agents/tasks');
    expect(first.headers.get('x-ratelimit-limit')).toBe('5000');
    expect(first.headers.get('x-ratelimit-tier')).toBe('pro');
    expect(Number(first.headers.get('x-ratelimit-used'))).toBe(1);
    expect(Number(second.headers.get('x-ratelimit-remaining'))).toBe(4998);
    const reset = Number(first.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000 + 3500);
    const gql = await graphql(sys.url, apiKey, '{ rateLimit { limit remaining used cost tier } }');
    expect(gql.headers.get('x-ratelimit-used')).toBe('2'); // rateLimit itself is free
    expect(gql.body.data.rateLimit).toEqual({ limit: 5000, remaining: 4998, used: 2, cost: 0, tier: 'PRO'.toLowerCase() });
  });

  it('answer 429 rate_limit_exceeded with Retry-After and the spec body fields, naming the window', async () => {
    const { apiKey } = await userWith(sys, 'free', { requestsPerMonth: 1000 });
    const api = restClient(sys.url, apiKey);
    for (let i = 0; i < 5; i++) expect((await api.get('/v1/agents/tasks')).status).toBe(200);
    const refused = await api.get('/v1/agents/tasks');
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({
      code: 'rate_limit_exceeded',
      details: { retry_after: expect.any(Number), tier: 'free', limit: 5, window: 'minute', reset_at: expect.any(String) },
    });
    expect(refused.body.error.message).toMatch(/5 credits per minute/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get('x-ratelimit-tier')).toBe('free');
    // GraphQL spends the same budget and answers the same way.
    const gql = await graphql(sys.url, apiKey, '{ viewer { id } }');
    expect(gql.status).toBe(429);
    expect(gql.body.errors![0].extensions.code).toBe('RATE_LIMIT_EXCEEDED');
    // And so does GraphQL over the WebSocket (a query, or the start of a subscription).
    const ws = await subscribeGraphql(sys.url.replace('http', 'ws'), apiKey, '{ viewer { id } }', {});
    expect(ws.results).toEqual([]);
    expect(ws.errors[0]).toMatchObject({ message: expect.stringMatching(/5 credits per minute/), extensions: { code: 'RATE_LIMIT_EXCEEDED' } });
  });

  it('charges operations over the WebSocket like those over HTTP', async () => {
    const { apiKey } = await userWith(sys, 'free', { requestsPerMonth: 1000 });
    for (let i = 0; i < 5; i++) expect((await subscribeGraphql(sys.url.replace('http', 'ws'), apiKey, '{ viewer { id } }', {})).results).toHaveLength(1);
    expect((await restClient(sys.url, apiKey).get('/v1/agents/tasks')).status).toBe(429);
  });

  it('answer 429 concurrency_limit_exceeded, a different code and message, while requests are in flight', async () => {
    const { userId } = await userWith(sys, 'pro', { concurrent: 2 });
    const principal: Principal = { userId, method: 'api_key', credentialId: `key-${userId}`, keyKind: 'secret', scopes: FULL_SCOPES, tier: 'pro', teamId: null, allowedCidrs: [] };
    const limiter = sys.services.limiter;
    const one = await limiter.admit(principal, 1, 'test');
    const two = await limiter.admit(principal, 1, 'test');
    const third = await limiter.admit(principal, 1, 'test').catch((e) => e);
    expect(third).toBeInstanceOf(ConcurrencyLimitError);
    expect(third).toMatchObject({ code: 'concurrency_limit_exceeded', status: 429, headers: { 'Retry-After': '1' } });
    expect(third.message).toMatch(/in flight/);
    await one.release();
    await one.release(); // twice is harmless
    const fourth = await limiter.admit(principal, 1, 'test');
    await fourth.release();
    await two.release();
  });
});

describe('the monthly quota', () => {
  it('answers 402 insufficient_credits with the spec details once spent, and an upgrade clears it at once', async () => {
    const { apiKey } = await userWith(sys, 'free', { requestsPerMinute: 1000, requestsPerHour: 1000, concurrent: 1000 });
    const api = restClient(sys.url, apiKey);
    const results = await Promise.all(Array.from({ length: 100 }, () => api.get('/v1/agents/tasks?limit=1')));
    expect(count(results)).toEqual({ '200': 100 });
    const refused = await api.get('/v1/agents/tasks');
    expect(refused.status).toBe(402);
    expect(refused.body.error).toMatchObject({
      code: 'insufficient_credits',
      details: { current_tier: 'free', requests_used: 100, requests_limit: 100, upgrade_url: 'https://codex.ai/pricing' },
    });
    // Reading the plan and changing it stay possible with the quota spent.
    expect((await api.get('/v1/usage')).body).toMatchObject({ quota_status: 'exceeded', credits: { used: 100, limit: 100, remaining: 0 } });
    const upgrade = await api.post('/v1/subscription/upgrade', { new_tier: 'pro', billing_cycle: 'monthly' });
    expect(upgrade.status).toBe(200);
    const next = await api.get('/v1/agents/tasks');
    expect(next.status).toBe(200);
    expect(next.headers.get('x-ratelimit-tier')).toBe('pro');
  });
});

describe('GraphQL cost', () => {
  it('is reported in extensions.cost and grows with the page sizes asked for', async () => {
    const { apiKey } = await userWith(sys, 'team');
    const small = await graphql(sys.url, apiKey, '{ tasks(first: 20) { edges { node { id } } } }');
    const large = await graphql(sys.url, apiKey, '{ tasks(first: 100) { edges { node { id } } } teams(first: 40) { edges { node { id } } } }');
    expect((small.body as any).extensions.cost).toEqual({ requested: 1, actual: 1, depth: 3 });
    expect((large.body as any).extensions.cost).toMatchObject({ requested: 7 });
    expect(Number(large.headers.get('x-ratelimit-used')) - Number(small.headers.get('x-ratelimit-used'))).toBe(7);
  });

  it('refuses a query over the plan ceiling before any resolver runs, and charges nothing', async () => {
    const { apiKey, userId } = await userWith(sys, 'free');
    const before = await graphql(sys.url, apiKey, '{ rateLimit { used } }');
    const tasksBefore = await sys.services.db.agentTask.count({ where: { ownerId: userId } });
    const res = await graphql(
      sys.url,
      apiKey,
      `mutation { a: createTeam(input: { name: "x" }) { team { id } } b: createTeam(input: { name: "y" }) { team { id } } c: createTeam(input: { name: "z" }) { team { id } } d: createTeam(input: { name: "w" }) { team { id } } e: createTeam(input: { name: "v" }) { team { id } } f: createTeam(input: { name: "u" }) { team { id } } }`,
    );
    expect(res.status).toBe(400);
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'INVALID_REQUEST', details: { limit: 'max_cost', value: 6, max: 5 } });
    expect(res.body.errors![0].message).toMatch(/costs 6 credits.*allows at most 5 per minute/);
    expect(await sys.services.db.teamMember.count({ where: { userId } })).toBe(0);
    expect(await sys.services.db.agentTask.count({ where: { ownerId: userId } })).toBe(tasksBefore);
    const after = await graphql(sys.url, apiKey, '{ rateLimit { used } }');
    expect(after.body.data.rateLimit.used).toBe(before.body.data.rateLimit.used);
  });
});

describe('usage', () => {
  it('reports requests and credits by day and by endpoint for REST and GraphQL alike', async () => {
    const { apiKey } = await userWith(sys, 'team');
    const api = restClient(sys.url, apiKey);
    for (let i = 0; i < 3; i++) await api.get('/v1/agents/tasks');
    await graphql(sys.url, apiKey, 'query Dashboard { tasks(first: 40) { edges { node { id } } } }');
    const usage = await api.get('/v1/usage');
    expect(usage.status).toBe(200);
    // The usage request itself is counted, and is free.
    expect(usage.body).toMatchObject({ tier: 'team', requests: { used: 5 }, credits: { used: 5, limit: 100_000 }, quota_status: 'ok' });
    expect(usage.body.by_endpoint).toEqual([
      { endpoint: 'GET /v1/agents/tasks', requests: 3, credits: 3 },
      { endpoint: 'graphql Dashboard', requests: 1, credits: 2 },
      { endpoint: 'GET /v1/usage', requests: 1, credits: 0 },
    ]);
    expect(usage.body.by_day).toEqual([{ date: new Date().toISOString().slice(0, 10), requests: 5, credits: 5 }]);
    const gql = await graphql(sys.url, apiKey, '{ usage { creditsUsed byEndpoint { endpoint credits } } }');
    expect(gql.body.data.usage.creditsUsed).toBe(5);
  });
});
