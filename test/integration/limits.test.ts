/**
 * Limits: exact admission under concurrency (one gateway in memory, two gateways sharing Redis),
 * rolling windows, X-RateLimit-* headers, the distinct 429s, the monthly quota (402) cleared by an
 * upgrade, GraphQL cost refused before it runs, the shape every operation keeps (aliases,
 * introspection, ids), callers without a credential (per address, small budget), and the usage ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { MemoryLimitStore, RedisLimitStore, type LimitStore } from '../../src/services/limits/store.js';
import { ConcurrencyLimitError } from '../../src/services/limits/limiter.js';
import type { Principal } from '../../src/services/deps.js';
import { FULL_SCOPES } from '../../src/services/deps.js';
import { graphql, remainingIn, restClient, subscribeGraphql, type HttpResult } from '../helpers/client.js';
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

  it('admits a request free of monthly credits that still takes room in the windows', async () => {
    const key = `free-read-${Math.random()}`;
    const request = (cost: number, windowCost: number) => ({
      rateKey: key, concurrent: 10, monthKey: `${key}:month`, monthLimit: 3, monthTtlMs: 3_600_000, monthInitial: async () => 3,
      windows: [{ name: 'minute' as const, limit: 2, windowMs: 60_000 }], cost, windowCost, now: 5_000_000,
    });
    const first = await store.admit(request(0, 1)); // the monthly quota is spent (3 of 3), a free read passes
    expect(first).toMatchObject({ outcome: 'admitted', monthUsed: 3, rate: { windows: [{ used: 1 }] } });
    await store.release(key);
    expect(await store.admit(request(0, 2))).toMatchObject({ outcome: 'rate', rate: { blocked: { name: 'minute', used: 1 } } });
    expect(await store.admit(request(1, 1))).toMatchObject({ outcome: 'quota', monthUsed: 3 });
  });

  it('takes back one of several requests made in the same millisecond, and only it', async () => {
    const key = `same-ms-${Math.random()}`;
    const now = 7_000_000;
    const request = { rateKey: key, concurrent: 10, monthKey: `${key}:month`, monthLimit: 100, monthTtlMs: 3_600_000, monthInitial: async () => 0, windows: [{ name: 'minute' as const, limit: 10, windowMs: 60_000 }], cost: 1, now };
    const admitted = [await store.admit(request), await store.admit(request), await store.admit({ ...request, now: now + 5 })];
    for (const a of admitted) expect(a.outcome).toBe('admitted');
    const after = await store.refund({ ...request, now: now + 10 }, admitted[0].entryId!);
    expect(after.windows[0]).toMatchObject({ used: 2, resetAt: now + 60_000 }); // the other request of that millisecond stays
    const last = await store.refund({ ...request, now: now + 10 }, admitted[1].entryId!);
    expect(last.windows[0]).toMatchObject({ used: 1, resetAt: now + 5 + 60_000 }); // that millisecond is empty now
    expect((await store.refund({ ...request, now: now + 10 }, 'not-an-entry')).windows[0].used).toBe(1);
  });

  it('keeps exact counts through thousands of hits as they roll out of the window', async () => {
    const key = `many-${Math.random()}`;
    const minute = [{ name: 'minute' as const, limit: 1_000_000, windowMs: 60_000 }];
    const t0 = 9_000_000;
    const times = Array.from({ length: 6000 }, (_, i) => t0 + Math.floor(i / 3) * 25); // three per millisecond, 25 ms apart
    for (const t of times) await store.hit(key, minute, 1, t);
    for (const now of [times.at(-1)!, t0 + 60_000, t0 + 90_000, t0 + 200_000]) {
      const inWindow = times.filter((t) => t > now - 60_000);
      expect((await store.hit(key, minute, 0, now)).windows[0], `at +${now - t0} ms`).toMatchObject({ used: inWindow.length, resetAt: (inWindow[0] ?? now) + 60_000 });
    }
  });
});

describe('headers and errors', () => {
  it('carry X-RateLimit-* on every response, counting down the window closest to running out', async () => {
    const { apiKey } = await userWith(sys, 'pro');
    const api = restClient(sys.url, apiKey);
    const first = await api.get('/v1/agents/tasks');
    const second = await api.get('/v1/agents/tasks');
    // 99 of 100 left in the minute is a smaller share than 4999 of 5000 in the hour.
    expect(first.headers.get('x-ratelimit-limit')).toBe('100');
    expect(first.headers.get('x-ratelimit-tier')).toBe('pro');
    expect(Number(first.headers.get('x-ratelimit-used'))).toBe(1);
    expect(Number(second.headers.get('x-ratelimit-remaining'))).toBe(98);
    const reset = Number(first.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 61);
    expect(second.headers.get('ratelimit')).toMatch(/"minute";r=98;t=\d+, "hour";r=4998;t=\d+/);
    const gql = await graphql(sys.url, apiKey, '{ rateLimit { window limit remaining used cost tier } }');
    // rateLimit costs no credit of the monthly quota, but as every operation it takes 1 from the windows.
    expect(gql.headers.get('x-ratelimit-used')).toBe('3');
    expect(gql.body.data.rateLimit).toEqual({ window: 'minute', limit: 100, remaining: 97, used: 3, cost: 0, tier: 'PRO'.toLowerCase() });
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
    expect((small.body as any).extensions.cost).toEqual({ requested: 1, actual: 1, depth: 3, rate: 1 });
    expect((large.body as any).extensions.cost).toMatchObject({ requested: 7 });
    expect(remainingIn(small, 'hour') - remainingIn(large, 'hour')).toBe(7);
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
    expect(after.body.data.rateLimit.used).toBe(before.body.data.rateLimit.used + 1); // the second read itself, nothing for the refused one
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

const aliased = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

/** A GraphQL request without a credential, from `address` (the gateway trusts its loopback proxy). */
async function anonymousGraphql(url: string, query: string, address?: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(address ? { 'x-forwarded-for': address } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, size: text.length, body: JSON.parse(text) as { data?: any; errors?: Array<{ message: string; extensions: Record<string, any> }>; extensions?: any } };
}

describe('operations without a credential', () => {
  it('refuses 300 aliased __schema before running any, with a short answer that says the limit and the fix', async () => {
    const res = await anonymousGraphql(sys.url, aliased(300, '__schema { types { name fields { name } } }'));
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.size).toBeLessThan(2000);
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'INVALID_REQUEST', details: { limit: 'max_aliases', value: 300, max: 50 } });
    expect(res.body.errors![0].message).toMatch(/300 fields under aliases; at most 50 are allowed\. Split it/);
  });

  it('allows one introspection, at its cost, and not two', async () => {
    const one = await anonymousGraphql(sys.url, '{ __schema { queryType { name } } }');
    expect(one.status).toBe(200);
    expect(one.body.data.__schema.queryType.name).toBe('Query');
    expect(one.body.extensions.cost).toMatchObject({ requested: 0, rate: 5 });
    expect(one.headers.get('x-ratelimit-tier')).toBe('anonymous');
    const two = await anonymousGraphql(sys.url, '{ a: __schema { queryType { name } } b: __schema { types { name } } }');
    expect(two.status).toBe(400);
    expect(two.body.errors![0].extensions.details).toEqual({ limit: 'max_introspection', value: 2, max: 1 });
  });

  it('refuses sharedVisualization 300 times over, and 10,000 commits through a share link', async () => {
    const many = await anonymousGraphql(sys.url, aliased(300, 'sharedVisualization(shareId: "shr_0") { visualization { nodes { id } } }'));
    expect(many.status).toBe(400);
    expect(many.body.errors![0].extensions.details).toMatchObject({ limit: 'max_aliases', value: 300 });
    const commits = await anonymousGraphql(sys.url, '{ sharedVisualization(shareId: "shr_0") { visualization { commits(first: 10000) { edges { node { sha } } } } } }');
    expect(commits.status).toBe(400);
    expect(commits.body.errors![0].extensions.details).toEqual({ limit: 'max_cost', value: 501, max: 20 });
    expect(commits.body.errors![0].message).toMatch(/costs 501 credits; an operation without a credential may cost at most 20\. Send an API key, or ask for smaller pages/);
    // A page a viewer asks for fits (and the unknown share answers as such: it ran).
    const page = await anonymousGraphql(sys.url, '{ sharedVisualization(shareId: "shr_0") { visualization { commits(first: 100) { edges { node { sha } } } } } }');
    expect(page.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
  });

  it('are limited per client address, over GraphQL and REST alike, with 429 and Retry-After', async () => {
    const proxied = await startTestSystem({ worker: false, env: { TRUST_PROXY: 'loopback', ANON_RATE_LIMIT_PER_MINUTE: '5' } });
    try {
      const a = '198.51.100.7';
      for (let i = 0; i < 4; i++) {
        const ok = await anonymousGraphql(proxied.url, '{ __typename }', a);
        expect(ok.status).toBe(200);
        expect(ok.headers.get('x-ratelimit-used')).toBe(String(i + 1));
      }
      expect((await restClient(proxied.url).get('/v1/shared/shr_0', { 'x-forwarded-for': a })).status).toBe(404); // the 5th, over REST
      const refused = await anonymousGraphql(proxied.url, '{ __typename }', a);
      expect(refused.status).toBe(429);
      expect(refused.body.errors![0].extensions).toMatchObject({
        code: 'RATE_LIMIT_EXCEEDED',
        details: { tier: 'anonymous', limit: 5, window: 'minute', retry_after: expect.any(Number) },
      });
      expect(refused.body.errors![0].message).toMatch(/5 credits per minute per address without a credential .*send an API key/);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const rest = await restClient(proxied.url).post('/v1/auth/login', { email: 'a@b.c', password: 'x' }, { 'x-forwarded-for': a });
      expect(rest.status).toBe(429);
      expect(rest.body.error.code).toBe('rate_limit_exceeded');
      // Another address has its own budget; a credential has its plan's.
      expect((await anonymousGraphql(proxied.url, '{ __typename }', '198.51.100.8')).status).toBe(200);
      const { apiKey } = await userWith(proxied, 'pro');
      expect((await graphql(proxied.url, apiKey, '{ viewer { id } }')).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});

describe('zero-cost fields and wide operations', () => {
  it('refuses 1,000 aliases of usage, and counts each read of usage against the windows (not the month)', async () => {
    const { apiKey } = await userWith(sys, 'free');
    const wide = await graphql(sys.url, apiKey, aliased(1000, 'usage { creditsUsed }'));
    expect(wide.status).toBe(400);
    expect(wide.body.errors![0].extensions.details).toEqual({ limit: 'max_aliases', value: 1000, max: 50 });
    // 20 aliases are within the shape, but cost 20 of a 5-per-minute plan.
    const twenty = await graphql(sys.url, apiKey, aliased(20, 'usage { creditsUsed }'));
    expect(twenty.status).toBe(400);
    expect(twenty.body.errors![0].extensions.details).toEqual({ limit: 'max_cost', value: 20, max: 5 });
    const results = [];
    for (let i = 0; i < 13; i++) results.push(await graphql(sys.url, apiKey, '{ usage { creditsUsed } }'));
    expect(results.map((r) => r.status)).toEqual([...Array(5).fill(200), ...Array(8).fill(429)]);
    expect(results.slice(0, 5).map((r) => r.headers.get('x-ratelimit-used'))).toEqual(['1', '2', '3', '4', '5']);
    expect(results.slice(0, 5).map((r) => (r.body as any).extensions.cost)).toEqual(Array(5).fill({ requested: 0, actual: 0, depth: 1, rate: 1 }));
    expect(results[5].body.errors![0].extensions.code).toBe('RATE_LIMIT_EXCEEDED');
    expect(results[0].body.data.usage.creditsUsed).toBe(0); // free of monthly credits
  });

  it('refuses nodes with 2,000 ids and project.search aliased 500 times; a search costs a credit', async () => {
    const { apiKey } = await userWith(sys, 'team');
    const ids = Array.from({ length: 2000 }, (_, i) => `task_${i}`);
    const nodes = await graphql(sys.url, apiKey, 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids });
    expect(nodes.status).toBe(400);
    expect(nodes.body.errors![0].extensions.details).toEqual({ limit: 'max_ids', value: 2000, max: 100 });
    expect(nodes.body.errors![0].message).toMatch(/batches of 100/);
    const fewer = await graphql(sys.url, apiKey, 'query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: ids.slice(0, 100) });
    expect(fewer.status).toBe(200);
    expect((fewer.body as any).extensions.cost.requested).toBe(5);
    const searches = await graphql(sys.url, apiKey, `{ project(id: "prj_0") ${aliased(500, 'search(query: "x") { files { path } }')} }`);
    expect(searches.status).toBe(400);
    expect(searches.body.errors![0].extensions.details).toMatchObject({ limit: 'max_aliases', value: 500 });
    const { apiKey: free } = await userWith(sys, 'free');
    const ten = await graphql(sys.url, free, `{ project(id: "prj_0") ${aliased(10, 'search(query: "x") { files { path } }')} }`);
    expect(ten.body.errors![0].extensions.details).toEqual({ limit: 'max_cost', value: 11, max: 5 });
  });

  it('holds over the WebSocket too', async () => {
    const { apiKey } = await userWith(sys, 'team');
    const ws = await subscribeGraphql(sys.url.replace('http', 'ws'), apiKey, aliased(300, 'viewer { id }'), {});
    expect(ws.results).toEqual([]);
    expect(ws.errors[0]).toMatchObject({ message: expect.stringMatching(/300 fields under aliases/), extensions: { code: 'INVALID_REQUEST' } });
  });
});
