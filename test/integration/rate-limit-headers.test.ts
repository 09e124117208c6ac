/**
 * Limit headers: X-RateLimit-* name the window closest to running out (or the one that refused),
 * RateLimit-Policy / RateLimit list every limit, every answer to an identified caller carries them
 * (errors, refusals before admission, the OAuth token endpoint), graphql-ws results carry
 * `extensions.rateLimit`, and requests refused before doing any work cost nothing.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { cleanJs } from '../helpers/fixtures.js';
import { graphql, remainingIn, restClient, type HttpResult } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
});
afterAll(() => sys?.close());

/** A user whose limits are the tier's plan with these overrides. */
async function userWith(tier: string, overrides: Record<string, number> = {}) {
  const user = await sys.createUser(`headers-${tier}`, { tier });
  if (Object.keys(overrides).length) await sys.services.db.accountLimits.create({ data: { userId: user.userId, ...overrides } });
  return user;
}

function expectLimitHeaders(res: HttpResult, tier: string) {
  expect(res.headers.get('x-ratelimit-limit'), `status ${res.status}`).toMatch(/^\d+$/);
  expect(res.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
  expect(res.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
  expect(res.headers.get('x-ratelimit-used')).toMatch(/^\d+$/);
  expect(res.headers.get('x-ratelimit-tier')).toBe(tier);
  expect(res.headers.get('ratelimit-policy')).toContain('"minute";q=');
  expect(res.headers.get('ratelimit')).toContain('"minute";r=');
}

const executeBody = (extra: Record<string, unknown> = {}) => ({ task: 'Find security problems', agent_type: 'security_expert', context: { files: [cleanJs] }, ...extra });

describe('X-RateLimit-* name the closest window', () => {
  it('show the minute window at its 429 with nothing remaining, and every limit in RateLimit-Policy', async () => {
    const { apiKey } = await userWith('free', { requestsPerMonth: 1000 });
    const api = restClient(sys.url, apiKey);
    const admitted: HttpResult[] = [];
    for (let i = 0; i < 5; i++) admitted.push(await api.get('/v1/agents/tasks'));
    expect(admitted.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // The minute (5) runs out long before the hour (500) or the month (1000).
    expect(admitted.map((r) => r.headers.get('x-ratelimit-limit'))).toEqual(['5', '5', '5', '5', '5']);
    expect(admitted.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0']);
    const refused = await api.get('/v1/agents/tasks');
    expect(refused.status).toBe(429);
    expect(refused.body.error.details.window).toBe('minute');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('5');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-used')).toBe('5');
    const reset = Number(refused.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000 - 1);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 61);
    expect(refused.headers.get('x-ratelimit-tier')).toBe('free');
    const policy = refused.headers.get('ratelimit-policy')!;
    expect(policy).toMatch(/"minute";q=5;w=60/);
    expect(policy).toMatch(/"hour";q=500;w=3600/);
    expect(policy).toMatch(/"month";q=1000;w=\d+/);
    expect(policy).toMatch(/"concurrency";q=5;qu="concurrent-requests"/);
    expect(remainingIn(refused, 'minute')).toBe(0);
    expect(remainingIn(refused, 'hour')).toBe(495);
    expect(refused.headers.get('ratelimit')).toMatch(/"minute";r=0;t=\d+/);
  });

  it('name the hour when its share left is the smallest', async () => {
    const { apiKey } = await userWith('team', { requestsPerHour: 4, requestsPerMinute: 100 });
    const res = await restClient(sys.url, apiKey).get('/v1/agents/tasks');
    expect(res.headers.get('x-ratelimit-limit')).toBe('4');
    expect(res.headers.get('x-ratelimit-remaining')).toBe('3');
    expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000 + 3500);
  });
});

describe('every answer to an identified caller carries them', () => {
  it('on 404, 422, 400, 403 (outside its addresses), 409 idempotency_conflict and GraphQL errors', async () => {
    const { apiKey } = await userWith('pro');
    const api = restClient(sys.url, apiKey);
    const ranged = await api.post('/v1/keys', { name: 'ranged', allowed_cidrs: ['10.0.0.0/8'] });
    expect(ranged.status, JSON.stringify(ranged.body)).toBe(201);
    const key = `headers-${Date.now()}`;
    const first = await api.post('/v1/agents/execute', executeBody(), { 'idempotency-key': key });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const answers: Array<[string, HttpResult, number]> = [
      ['an unknown path', await api.get('/v1/nowhere'), 404],
      ['an unknown task', await api.get(`/v1/agents/tasks/${newId('task')}`), 404],
      ['an invalid body', await api.post('/v1/agents/execute', { agent_type: 'poet' }), 422],
      ['malformed JSON', await api.post('/v1/agents/execute', '{"task": ', { 'content-type': 'application/json' }), 400],
      ['a key outside its addresses', await restClient(sys.url, ranged.body.secret).get('/v1/agents/tasks'), 403],
      ['a reused Idempotency-Key', await api.post('/v1/agents/execute', executeBody({ task: 'Something else' }), { 'idempotency-key': key }), 409],
      ['a GraphQL document that does not validate', await graphql(sys.url, apiKey, '{ nope }'), 400],
    ];
    for (const [what, res, status] of answers) {
      expect(res.status, what).toBe(status);
      expectLimitHeaders(res, 'pro');
    }
  });

  it('not to a caller without a credential on an unknown path, nor on health', async () => {
    expect((await restClient(sys.url).get('/v1/health')).headers.get('x-ratelimit-limit')).toBeNull();
    const unknown = await restClient(sys.url, 'cdx_sk_' + 'x'.repeat(43)).get('/v1/agents/tasks');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('on the OAuth token endpoint once the client authenticated', async () => {
    const { apiKey } = await userWith('pro');
    const created = await restClient(sys.url, apiKey).post('/v1/oauth/clients', { name: 'ci', scopes: ['read'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const form = (extra: Record<string, string>) => new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.id, client_secret: created.body.client_secret, ...extra }).toString();
    const token = (body: string) => restClient(sys.url).request('POST', '/v1/oauth/token', body, { 'content-type': 'application/x-www-form-urlencoded' });
    const issued = await token(form({}));
    expect(issued.status).toBe(200);
    expectLimitHeaders(issued, 'pro');
    // A scope the client does not hold is refused after it authenticated.
    const badScope = await token(form({ scope: 'write' }));
    expect(badScope.status).toBe(400);
    expectLimitHeaders(badScope, 'pro');
    // A wrong secret names nobody: no limits to report.
    const wrong = await token(form({ client_secret: 'cdx_cs_' + 'x'.repeat(43) }));
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('in graphql-ws results as extensions.rateLimit', async () => {
    const { apiKey } = await userWith('pro');
    const client = createClient({ url: `${sys.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
    try {
      const result = await new Promise<any>((resolve, reject) => {
        let value: unknown;
        client.subscribe({ query: '{ viewer { id } }' }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
      });
      expect(result.data.viewer.id).toEqual(expect.any(String));
      expect(result.extensions.rateLimit).toMatchObject({ window: 'minute', limit: 100, remaining: 99, used: 1, reset: expect.any(Number), tier: 'pro' });
      expect(result.extensions.rateLimit.policies.map((p: { name: string }) => p.name)).toEqual(['minute', 'hour', 'month', 'concurrency']);
    } finally {
      await client.dispose();
    }
  });

  it('over graphql-ws, answers a document that does not parse or validate with its errors, charging nothing, every time it is sent', async () => {
    const { apiKey } = await userWith('pro');
    const client = createClient({ url: `${sys.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
    const run = (query: string) =>
      new Promise<{ value?: any; errors?: any[] }>((resolve) => {
        let value: unknown;
        client.subscribe({ query }, { next: (v) => (value = v), error: (errors) => resolve({ errors: errors as any[] }), complete: () => resolve({ value }) });
      });
    try {
      for (let i = 0; i < 2; i++) {
        const syntax = await run('{ viewer { id }');
        expect(syntax.errors?.[0].message).toMatch(/Syntax Error/);
        const invalid = await run('{ viewer { nope } }');
        expect(invalid.errors?.[0].message).toMatch(/Cannot query field "nope"/);
      }
      const valid = await run('{ viewer { id } }');
      expect(valid.value.data.viewer.id).toEqual(expect.any(String));
      expect(valid.value.extensions.rateLimit).toMatchObject({ window: 'minute', used: 1 });
    } finally {
      await client.dispose();
    }
  });
});

describe('requests refused before doing any work cost nothing', () => {
  it('leaves every window as it was after 422s, an unknown agent type and an unknown id; an admitted request counts', async () => {
    const { apiKey } = await userWith('free', { requestsPerMonth: 1000 });
    const api = restClient(sys.url, apiKey);
    const before = await api.get('/v1/agents/tasks');
    expect(before.status).toBe(200);
    const refused = [
      await api.post('/v1/agents/execute', { agent_type: 'security_expert' }),
      await api.post('/v1/agents/execute', executeBody({ agent_type: 'poet' })),
      await api.get(`/v1/agents/tasks/${newId('task')}`),
    ];
    expect(refused.map((r) => r.status)).toEqual([422, 422, 404]);
    for (const [i, res] of refused.entries()) {
      for (const window of ['minute', 'hour', 'month'] as const) expect(remainingIn(res, window), `${window} after refusal ${i}`).toBe(remainingIn(before, window));
    }
    const after = await api.get('/v1/agents/tasks');
    expect(after.status).toBe(200);
    expect(remainingIn(after, 'minute')).toBe(remainingIn(before, 'minute') - 1);
    expect(remainingIn(after, 'hour')).toBe(remainingIn(before, 'hour') - 1);
  });
});
