/**
 * Idempotency-Key on every POST route, driven by the route table: each POST is either exercised
 * here (the same key and body answer the first result with `Idempotent-Replayed: true`, nothing
 * runs twice; another body with the key is 409 idempotency_conflict) or named with the test file
 * that does the same for it, so a new POST route fails this file until it is covered. Routes that
 * issue tokens answer a repeat with 409 (tokens are handed out once), and logout's repeat is 401.
 * The PATCH and DELETE routes and their mutations are exercised in idempotency-changes.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRoutes } from '../../src/rest/v1/index.js';
import { restClient } from '../helpers/client.js';
import { vulnerableJs } from '../helpers/fixtures.js';
import { expectIdempotencyConflict, expectRepeatsReplayed } from '../helpers/idempotency.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ env: { ALLOW_SIGNUP: 'true', SELF_SERVICE_PLANS: 'true' } });
});
afterAll(() => sys?.close());

const PASSWORD = 'correct horse battery staple 9';
let n = 0;
const unique = (what: string) => `${what}-${Date.now()}-${++n}`;
const key = () => unique('key');

async function user(tier?: string) {
  const email = `${unique('u')}@example.com`;
  const created = await sys.createUser('Idem', { email, password: PASSWORD, tier });
  return { ...created, email, api: restClient(sys.url, created.apiKey) };
}

/** One POST as a test case: the request, a second request that differs (null: the route takes nothing that can differ), and who sends them. */
interface Case {
  path: string;
  body?: unknown;
  other: { path: string; body?: unknown } | null;
  api: ReturnType<typeof restClient>;
  /** What shows the work ran once, checked after the repeats. */
  ranOnce?(): Promise<void>;
}

const post = (api: ReturnType<typeof restClient>, path: string, body: unknown, idempotencyKey: string) =>
  api.request('POST', path, body, { 'idempotency-key': idempotencyKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) });

/** Setups of the POST routes this file exercises, by route. */
const cases: Record<string, () => Promise<Case>> = {
  'POST /v1/teams/{team_id}/members': async () => {
    const owner = await user();
    const team = (await owner.api.post('/v1/teams', { name: unique('team') })).body;
    const path = `/v1/teams/${team.id}/members`;
    const email = `${unique('invitee')}@example.com`;
    return {
      api: owner.api,
      path,
      body: { email, role: 'member' },
      other: { path, body: { email: `${unique('other')}@example.com`, role: 'member' } },
      ranOnce: async () => expect((await owner.api.get(`/v1/teams/${team.id}/invitations`)).body.data).toHaveLength(1),
    };
  },
  'POST /v1/invitations/{invitation_id}/accept': async () => invitationCase('accept'),
  'POST /v1/invitations/{invitation_id}/decline': async () => invitationCase('decline'),
  'POST /v1/subscription/upgrade': async () => {
    const u = await user();
    return { api: u.api, path: '/v1/subscription/upgrade', body: { new_tier: 'pro', billing_cycle: 'monthly' }, other: { path: '/v1/subscription/upgrade', body: { new_tier: 'team' } } };
  },
  'POST /v1/subscription/cancel': async () => {
    const u = await user();
    expect((await u.api.post('/v1/subscription/upgrade', { new_tier: 'pro' })).status).toBe(200);
    return { api: u.api, path: '/v1/subscription/cancel', body: { cancel_at_period_end: true }, other: { path: '/v1/subscription/cancel', body: { cancel_at_period_end: false } } };
  },
  'POST /v1/subscription/reactivate': async () => {
    const u = await user();
    expect((await u.api.post('/v1/subscription/upgrade', { new_tier: 'pro' })).status).toBe(200);
    expect((await u.api.post('/v1/subscription/cancel', {})).status).toBe(200);
    return { api: u.api, path: '/v1/subscription/reactivate', other: null };
  },
  'POST /v1/reviews/{review_id}/approve': async () => {
    const u = await user();
    const a = (await u.api.post('/v1/reviews', { files: [vulnerableJs] })).body;
    const b = (await u.api.post('/v1/reviews', { files: [vulnerableJs] })).body;
    expect([a.status, b.status]).toEqual(['completed', 'completed']);
    return { api: u.api, path: `/v1/reviews/${a.id}/approve`, other: { path: `/v1/reviews/${b.id}/approve` } };
  },
  'POST /v1/generations/scaffold': async () => {
    const u = await user();
    return { api: u.api, path: '/v1/generations/scaffold', body: { name: 'demo-cli', template: 'cli' }, other: { path: '/v1/generations/scaffold', body: { name: 'other-cli', template: 'cli' } } };
  },
};

async function invitationCase(answer: 'accept' | 'decline'): Promise<Case> {
  const owner = await user();
  const invitee = await user();
  const team = (await owner.api.post('/v1/teams', { name: unique('team') })).body;
  const other = (await owner.api.post('/v1/teams', { name: unique('team') })).body;
  const invite = async (teamId: string) => (await owner.api.post(`/v1/teams/${teamId}/members`, { email: invitee.email, role: 'member' })).body.id as string;
  const [first, second] = [await invite(team.id), await invite(other.id)];
  return { api: invitee.api, path: `/v1/invitations/${first}/${answer}`, other: { path: `/v1/invitations/${second}/${answer}` } };
}

/** POST routes whose replay and conflict are tested in their own files (each creates or starts something). */
const testedElsewhere: Record<string, string> = {
  'POST /v1/agents/execute': 'tasks-rest.test.ts',
  'POST /v1/agents/orchestrate': 'bulk-operations.test.ts',
  'POST /v1/agents/tasks/{task_id}/rerun': 'bulk-operations.test.ts',
  'POST /v1/agents/orchestrations/{orchestration_id}/rerun': 'bulk-operations.test.ts',
  'POST /v1/agents/bulk': 'bulk-operations.test.ts',
  'POST /v1/keys': 'api-keys.test.ts',
  'POST /v1/teams': 'teams.test.ts',
  'POST /v1/teams/{team_id}/scim-tokens': 'scim.test.ts',
  'POST /v1/oauth/clients': 'oauth.test.ts',
  'POST /v1/generations': 'generations.test.ts',
  'POST /v1/generations/{generation_id}/retry': 'generations.test.ts',
  'POST /v1/projects': 'projects.test.ts',
  'POST /v1/projects/{project_id}/index': 'projects.test.ts',
  'POST /v1/reviews': 'reviews.test.ts',
  'POST /v1/webhooks': 'webhooks.test.ts',
  'POST /v1/webhooks/{webhook_id}/test': 'webhooks.test.ts',
  'POST /v1/webhooks/{webhook_id}/rotate-secret': 'webhooks.test.ts',
  'POST /v1/webhooks/deliveries/{delivery_id}/redeliver': 'webhooks.test.ts',
  'POST /v1/visualize/repository': 'visualizations.test.ts',
  'POST /v1/visualize/{visualization_id}/comment': 'visualizations.test.ts',
  'POST /v1/visualize/{visualization_id}/share': 'visualizations.test.ts',
  // Tokens are issued once per key: tested below.
  'POST /v1/auth/login': 'this file (tokens)',
  'POST /v1/auth/signup': 'this file (tokens)',
  'POST /v1/auth/refresh': 'this file (tokens)',
  'POST /v1/auth/logout': 'this file (tokens)',
};

const postRoutes = restRoutes.filter((r) => r.method === 'POST').map((r) => `POST ${r.path}`);

it('every POST route of the table is exercised here or named with the file that tests its Idempotency-Key', () => {
  const uncovered = postRoutes.filter((r) => !(r in cases) && !(r in testedElsewhere));
  expect(uncovered).toEqual([]);
});

describe.each(Object.keys(cases))('%s with an Idempotency-Key', (route) => {
  it('a concurrent and a later repeat answer the first result (Idempotent-Replayed: true); another request with the key is 409', async () => {
    const c = await cases[route]();
    const k = key();
    await expectRepeatsReplayed(() => post(c.api, c.path, c.body, k));
    await c.ranOnce?.();
    if (c.other) expectIdempotencyConflict(await post(c.api, c.other.path, c.other.body, k));
  });
});

describe('routes that issue tokens', () => {
  it('login: the first request gets tokens, a repeat with the key (any body) is 409 and issues none; the key is per account', async () => {
    const u = await user();
    const anonymous = restClient(sys.url);
    const k = key();
    const first = await post(anonymous, '/v1/auth/login', { email: u.email, password: PASSWORD }, k);
    expect(first.status).toBe(200);
    expect(first.body.access_token).toEqual(expect.any(String));
    const sessions = await sys.services.db.session.count({ where: { userId: u.userId } });
    for (const body of [{ email: u.email, password: PASSWORD }, { email: u.email, password: 'wrong password 1' }]) {
      const repeat = await post(anonymous, '/v1/auth/login', body, k);
      expect(repeat.status).toBe(409);
      expect(repeat.body.error.code).toBe('idempotency_conflict');
      expect(JSON.stringify(repeat.body)).not.toContain(first.body.access_token);
    }
    expect(await sys.services.db.session.count({ where: { userId: u.userId } })).toBe(sessions);
    // The same key for another account is that account's own key.
    const other = await user();
    expect((await post(anonymous, '/v1/auth/login', { email: other.email, password: PASSWORD }, k)).status).toBe(200);
    // Nothing of the token or the password is kept with the key.
    const records = await sys.services.db.idempotencyRecord.findMany({ where: { key: k } });
    expect(records).toHaveLength(2);
    for (const r of records) expect(JSON.stringify(r)).not.toMatch(new RegExp(`${first.body.access_token}|${first.body.refresh_token}|${PASSWORD}|${u.email}`));
  });

  it('signup: a repeat creates no second account and answers 409', async () => {
    const anonymous = restClient(sys.url);
    const email = `${unique('new')}@example.com`;
    const k = key();
    expect((await post(anonymous, '/v1/auth/signup', { email, password: PASSWORD }, k)).status).toBe(201);
    const repeat = await post(anonymous, '/v1/auth/signup', { email, password: PASSWORD }, k);
    expect(repeat.status).toBe(409);
    expect(repeat.body.error.code).toBe('idempotency_conflict');
  });

  it('refresh: a repeat is 409 and does not count as reuse of the refresh token (the session lives on)', async () => {
    const u = await user();
    const anonymous = restClient(sys.url);
    const tokens = (await anonymous.post('/v1/auth/login', { email: u.email, password: PASSWORD })).body;
    const k = key();
    const first = await post(anonymous, '/v1/auth/refresh', { refresh_token: tokens.refresh_token }, k);
    expect(first.status).toBe(200);
    const repeat = await post(anonymous, '/v1/auth/refresh', { refresh_token: tokens.refresh_token }, k);
    expect(repeat.status).toBe(409);
    expect((await restClient(sys.url, first.body.access_token).get('/v1/auth/me')).status).toBe(200);
  });

  it('logout: takes the key; a repeat cannot authenticate any more (401)', async () => {
    const u = await user();
    const tokens = (await restClient(sys.url).post('/v1/auth/login', { email: u.email, password: PASSWORD })).body;
    const session = restClient(sys.url, tokens.access_token);
    const k = key();
    expect((await post(session, '/v1/auth/logout', undefined, k)).status).toBe(200);
    expect((await post(session, '/v1/auth/logout', undefined, k)).status).toBe(401);
  });

  it('POST /v1/oauth/token: one token per key; a repeat is 409 in the OAuth error shape', async () => {
    const u = await user();
    const client = (await u.api.post('/v1/oauth/clients', { name: 'ci' })).body;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.client_secret }).toString();
    const k = key();
    const send = () => restClient(sys.url).request('POST', '/v1/oauth/token', form, { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': k });
    const first = await send();
    expect(first.status).toBe(200);
    const repeat = await send();
    expect(repeat.status).toBe(409);
    expect(repeat.body).toMatchObject({ error: 'idempotency_conflict', error_description: expect.stringContaining('once') });
  });
});
