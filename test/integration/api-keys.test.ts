/**
 * API key management (/v1/keys) and what a key may do: secrets shown once and stored hashed,
 * publishable keys (read and generate only, daily quota), the 25-active-key limit under a race,
 * CIDR allow-lists, revocation that takes effect at once in this process and in another replica,
 * tenant isolation, input validation, the X-API-Key header, and no secret in the logs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
/** Every system this file started, so the final test can read all of their logs. */
const systems: TestSystem[] = [];
/** Every secret created here; none may appear in any log. */
const secrets = new Set<string>();

let grace: { userId: string; apiKey: string };

async function start(options: Parameters<typeof startTestSystem>[0] = {}) {
  const started = await startTestSystem({ worker: false, ...options });
  systems.push(started);
  return started;
}

async function newUser(name: string, on: TestSystem = sys) {
  const user = await on.createUser(name);
  secrets.add(user.apiKey);
  return user;
}

/** POST /v1/keys as `ownerKey`; remembers the secret it returns. */
async function createKey(ownerKey: string, body: Record<string, unknown> = { name: 'ci' }, on: TestSystem = sys) {
  const res = await restClient(on.url, ownerKey).post('/v1/keys', body);
  if (typeof res.body?.secret === 'string') secrets.add(res.body.secret);
  return res;
}

/** A new key that must be created; returns its id and secret. */
async function mustCreateKey(ownerKey: string, body: Record<string, unknown> = { name: 'ci' }, on: TestSystem = sys) {
  const res = await createKey(ownerKey, body, on);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, secret: res.body.secret as string, body: res.body };
}

/** A plain read that any working key may do. */
const readTasks = (key: string, on: TestSystem = sys) => restClient(on.url, key).get('/v1/agents/tasks');

const CREATE_TEAM = `mutation { createTeam(input: { name: "x" }) { team { id } } }`;

beforeAll(async () => {
  sys = await start();
  grace = await newUser('Grace');
});
afterAll(async () => {
  for (const s of systems.reverse()) await s.close().catch(() => {});
});

describe('secret keys', () => {
  it('returns the secret once, stores only its hash, and never shows it again', async () => {
    const { id, secret, body } = await mustCreateKey(grace.apiKey, { name: 'deploy bot' });
    expect(body).toEqual({
      id: expect.stringMatching(/^key_/),
      object: 'api_key',
      name: 'deploy bot',
      kind: 'secret',
      prefix: secret.slice(0, 11),
      allowed_cidrs: [],
      read_resources: [],
      created_at: expect.any(String),
      last_used_at: null,
      revoked_at: null,
      secret: expect.stringMatching(/^cdx_sk_/),
    });

    const one = await restClient(sys.url, grace.apiKey).get(`/v1/keys/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, name: 'deploy bot', kind: 'secret' });
    expect(one.body).not.toHaveProperty('secret');

    const list = await restClient(sys.url, grace.apiKey).get('/v1/keys');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ object: 'list', has_more: false, url: '/v1/keys' });
    const listed = list.body.data.find((k: any) => k.id === id);
    expect(listed).toMatchObject({ id, object: 'api_key' });
    for (const k of list.body.data) expect(k).not.toHaveProperty('secret');
    expect(JSON.stringify([one.body, list.body])).not.toContain(secret);

    const stored = await sys.services.db.apiKey.findUniqueOrThrow({ where: { id } });
    expect(stored.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.secretHash).not.toBe(secret);
    expect(JSON.stringify(stored)).not.toContain(secret.slice(7));
  });

  it('works at once, and records when it was last used', async () => {
    const { id, secret } = await mustCreateKey(grace.apiKey);
    expect((await readTasks(secret)).status).toBe(200);
    const after = await restClient(sys.url, grace.apiKey).get(`/v1/keys/${id}`);
    expect(after.body.last_used_at).toEqual(expect.any(String));
    expect(Number.isNaN(Date.parse(after.body.last_used_at))).toBe(false);
  });

  it('is accepted in X-API-Key as well as in Authorization: Bearer', async () => {
    const viaHeader = await restClient(sys.url).get('/v1/keys', { 'x-api-key': grace.apiKey });
    const viaBearer = await restClient(sys.url, grace.apiKey).get('/v1/keys');
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.data.map((k: any) => k.id)).toEqual(viaBearer.body.data.map((k: any) => k.id));
  });

  it('answers 401 without a credential', async () => {
    const res = await restClient(sys.url).get('/v1/keys');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('authentication_required');
  });
});

describe('publishable keys', () => {
  let publishable: string;

  beforeAll(async () => {
    const created = await mustCreateKey(grace.apiKey, { name: 'browser', kind: 'publishable', read_resources: ['tasks'] });
    expect(created.body.kind).toBe('publishable');
    expect(created.body.read_resources).toEqual(['tasks']);
    expect(created.secret).toMatch(/^cdx_pk_/);
    publishable = created.secret;
  });

  it('reads what its creator chose over REST and GraphQL', async () => {
    expect((await readTasks(publishable)).status).toBe(200);
    const res = await graphql(sys.url, publishable, '{ tasks(first: 1) { edges { node { id } } } }');
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.tasks.edges).toEqual(expect.any(Array));
  });

  it('is refused writes and key management with 403 permission_denied', async () => {
    const as = restClient(sys.url, publishable);
    const before = await sys.services.db.apiKey.count({ where: { userId: grace.userId } });
    for (const res of [await as.post('/v1/agents/execute', executeBody()), await as.post('/v1/keys', { name: 'escalate' }), await as.get('/v1/keys')]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
    expect(await sys.services.db.apiKey.count({ where: { userId: grace.userId } })).toBe(before);

    const mutation = await graphql(sys.url, publishable, CREATE_TEAM);
    expect(mutation.body.errors![0].extensions.code).toBe('PERMISSION_DENIED');
    expect(await sys.services.db.teamMember.count({ where: { userId: grace.userId } })).toBe(0);
  });

  it('answers 429 rate_limit_exceeded with Retry-After past its daily quota', async () => {
    const limited = await start({ env: { PUBLISHABLE_KEY_DAILY_QUOTA: '3' } });
    const owner = await newUser('Quota', limited);
    const { secret } = await mustCreateKey(owner.apiKey, { name: 'widget', kind: 'publishable', read_resources: ['tasks'] }, limited);
    for (let i = 0; i < 3; i++) expect((await readTasks(secret, limited)).status).toBe(200);
    const over = await readTasks(secret, limited);
    expect(over.status).toBe(429);
    expect(over.body.error).toMatchObject({ code: 'rate_limit_exceeded', details: { limit: 3 } });
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    // The quota belongs to the publishable key, not the account.
    expect((await readTasks(owner.apiKey, limited)).status).toBe(200);
  });
});

describe('the 25 active keys limit', () => {
  it('lets exactly one of two concurrent creations take the last slot, and a revocation frees one', async () => {
    const owner = await newUser('Collector'); // holds one key already
    for (let i = 0; i < 23; i++) await mustCreateKey(owner.apiKey, { name: `key ${i}` });
    const active = () => sys.services.db.apiKey.count({ where: { userId: owner.userId, revokedAt: null } });
    expect(await active()).toBe(24);

    const race = await Promise.all([createKey(owner.apiKey, { name: 'racer a' }), createKey(owner.apiKey, { name: 'racer b' })]);
    expect(race.map((r) => r.status).sort()).toEqual([201, 409]);
    const refused = race.find((r) => r.status === 409)!;
    expect(refused.body.error).toMatchObject({ code: 'key_limit_reached', details: { limit: 25 } });
    expect(await active()).toBe(25);

    const winner = race.find((r) => r.status === 201)!;
    expect((await restClient(sys.url, owner.apiKey).delete(`/v1/keys/${winner.body.id}`)).status).toBe(200);
    expect(await active()).toBe(24);
    await mustCreateKey(owner.apiKey, { name: 'after revoking' });
    expect((await createKey(owner.apiKey, { name: 'one too many' })).status).toBe(409);
  });
});

describe('CIDR allow-lists', () => {
  const keyFrom = async (allowed_cidrs: string[]) => (await mustCreateKey(grace.apiKey, { name: 'ranged', allowed_cidrs })).secret;

  it('refuses a request from outside the ranges with 403 permission_denied', async () => {
    const res = await readTasks(await keyFrom(['10.0.0.0/8']));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('permission_denied');
  });

  it.each([['127.0.0.1/32'], ['127.0.0.0/8'], ['::ffff:127.0.0.1/128']])('accepts a request from 127.0.0.1 with %s', async (cidr) => {
    const res = await readTasks(await keyFrom([cidr]));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it('shows the normalised ranges of a key', async () => {
    const { body } = await mustCreateKey(grace.apiKey, { name: 'ranged', allowed_cidrs: ['127.0.0.1/32', '10.0.0.0/8'] });
    expect(body.allowed_cidrs).toEqual(['127.0.0.1/32', '10.0.0.0/8']);
  });

  it('rejects a bad range with 422 naming its index', async () => {
    const res = await createKey(grace.apiKey, { name: 'ranged', allowed_cidrs: ['nope'] });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details).toEqual([{ field: 'allowed_cidrs.0', message: expect.any(String) }]);
  });
});

describe('what a publishable key reads', () => {
  let owner: { userId: string; apiKey: string };
  let projectId: string;
  let taskId: string;
  let teamId: string;

  beforeAll(async () => {
    owner = await newUser('Embedder');
    const api = restClient(sys.url, owner.apiKey);
    const project = await api.post('/v1/projects', { name: 'Shop', files: [{ path: 'src/pay.js', content: 'export function chargeCard(card) { return card; }\n' }] });
    expect(project.status, JSON.stringify(project.body)).toBe(201);
    projectId = project.body.id;
    const task = await api.post('/v1/agents/execute', executeBody());
    expect(task.status).toBe(202);
    taskId = task.body.task_id;
    teamId = (await api.post('/v1/teams', { name: 'Embedders' })).body.id;
  });

  it('by default reads generations and what it created, never tasks, source, members, keys, webhooks or billing', async () => {
    const { body, secret } = await mustCreateKey(owner.apiKey, { name: 'widget', kind: 'publishable' });
    expect(body.read_resources).toEqual(['generations']);
    const pk = restClient(sys.url, secret);
    const refused = [
      await pk.get('/v1/agents/tasks'),
      await pk.get(`/v1/agents/tasks/${taskId}`),
      await pk.get('/v1/projects'),
      await pk.get(`/v1/projects/${projectId}/search?q=chargeCard`),
      await pk.get('/v1/teams'),
      await pk.get(`/v1/teams/${teamId}`),
      await pk.get('/v1/keys'),
      await pk.get('/v1/oauth/clients'),
      await pk.get('/v1/webhooks'),
      await pk.get('/v1/subscription'),
      await pk.get('/v1/usage'),
    ];
    for (const res of refused) {
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
    expect(refused[0].body.error.message).toContain('read_resources');
    for (const query of [
      `{ tasks(first: 5) { edges { node { id } } } }`,
      `{ node(id: "${taskId}") { id } }`,
      `{ project(id: "${projectId}") { search(query: "chargeCard") { files { path } } } }`,
      `{ team(id: "${teamId}") { members { user { email } } } }`,
      `{ apiKeys(first: 5) { edges { node { id } } } }`,
    ]) {
      const res = await graphql(sys.url, secret, query);
      expect(res.body.errors?.[0]?.extensions.code, query).toBe('PERMISSION_DENIED');
      expect(JSON.stringify(res.body.data ?? null), query).not.toMatch(/chargeCard|src\/pay\.js|@/);
    }
    // Generations it may list (the default), and its own account profile.
    expect((await pk.get('/v1/generations')).status).toBe(200);
    expect((await graphql(sys.url, secret, '{ viewer { id } }')).body.data.viewer.id).toBe(owner.userId);
  });

  it('reads exactly the resources its creator chose, even the sensitive ones when named', async () => {
    const { secret } = await mustCreateKey(owner.apiKey, { name: 'dashboard', kind: 'publishable', read_resources: ['tasks', 'projects', 'api_keys'] });
    const pk = restClient(sys.url, secret);
    expect((await pk.get(`/v1/agents/tasks/${taskId}`)).status).toBe(200);
    expect((await pk.get(`/v1/projects/${projectId}`)).status).toBe(200);
    expect((await pk.get('/v1/keys')).status).toBe(200);
    // Projects without project_search: no source.
    expect((await pk.get(`/v1/projects/${projectId}/search?q=chargeCard`)).status).toBe(403);
    expect((await pk.get('/v1/webhooks')).status).toBe(403);
    // Still read-only: listing keys is not creating them.
    expect((await pk.post('/v1/keys', { name: 'escalate' })).status).toBe(403);
  });

  it('refuses unknown read resources with 422 listing the valid ones, and read_resources on a secret key, creating nothing', async () => {
    const before = await sys.services.db.apiKey.count({ where: { userId: owner.userId } });
    const unknown = await createKey(owner.apiKey, { name: 'bad', kind: 'publishable', read_resources: ['generations', 'everything'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('validation_error');
    expect(JSON.stringify(unknown.body.error)).toContain('generations, reviews, tasks');
    expect(JSON.stringify(unknown.body.error)).toContain('read_resources');
    const onSecret = await createKey(owner.apiKey, { name: 'bad', read_resources: ['tasks'] });
    expect(onSecret.status).toBe(422);
    expect(onSecret.body.error.details).toEqual([{ field: 'read_resources', message: expect.stringContaining('publishable') }]);
    const gql = await graphql(sys.url, owner.apiKey, `mutation { createApiKey(input: { name: "bad", kind: PUBLISHABLE, readResources: [EVERYTHING] }) { secret } }`);
    expect(gql.body.errors?.[0]).toBeDefined();
    expect(await sys.services.db.apiKey.count({ where: { userId: owner.userId } })).toBe(before);
  });

  it('is created with readResources over GraphQL', async () => {
    const res = await graphql(sys.url, owner.apiKey, `mutation { createApiKey(input: { name: "gql widget", kind: PUBLISHABLE, readResources: [TASKS, GENERATIONS] }) { secret apiKey { readResources } } }`);
    expect(res.body.errors).toBeUndefined();
    secrets.add(res.body.data.createApiKey.secret);
    expect(res.body.data.createApiKey.apiKey.readResources).toEqual(['TASKS', 'GENERATIONS']);
    expect((await readTasks(res.body.data.createApiKey.secret)).status).toBe(200);
  });
});

describe('revocation', () => {
  it('answers 401 on the very next request, even though the key was just cached', async () => {
    const { id, secret } = await mustCreateKey(grace.apiKey);
    expect((await readTasks(secret)).status).toBe(200);
    expect((await readTasks(secret)).status).toBe(200);
    const revoked = await restClient(sys.url, grace.apiKey).delete(`/v1/keys/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id, revoked_at: expect.any(String) });
    expect(revoked.body).not.toHaveProperty('secret');
    const after = await readTasks(secret);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('authentication_required');
  });

  it('reaches another gateway replica on the same database at once', async () => {
    // A long cache on replica B: without the broadcast B would accept the key for minutes.
    const replica = await start({ database: sys.database, env: { AUTH_CACHE_SECONDS: '300' } });
    const { id, secret } = await mustCreateKey(grace.apiKey);
    expect((await readTasks(secret, replica)).status).toBe(200); // B caches it
    expect((await restClient(sys.url, grace.apiKey).delete(`/v1/keys/${id}`)).status).toBe(200);
    const onB = await readTasks(secret, replica);
    expect(onB.status).toBe(401);
    expect(onB.body.error.code).toBe('authentication_required');
  });
});

describe("another account's key", () => {
  it('is not found by id over REST or GraphQL, and cannot be revoked', async () => {
    const { id, secret } = await mustCreateKey(grace.apiKey, { name: 'private' });
    const mallory = await newUser('Mallory');
    const as = restClient(sys.url, mallory.apiKey);
    for (const res of [await as.get(`/v1/keys/${id}`), await as.delete(`/v1/keys/${id}`)]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    const node = await graphql(sys.url, mallory.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id });
    expect(node.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect(node.body.data?.node ?? null).toBeNull();

    const list = await as.get('/v1/keys');
    expect(list.body.data.map((k: any) => k.id)).not.toContain(id);
    expect((await sys.services.db.apiKey.findUniqueOrThrow({ where: { id } })).revokedAt).toBeNull();
    expect((await readTasks(secret)).status).toBe(200);
  });
});

describe('validation', () => {
  it.each([
    ['an empty name', { name: '' }, 'name'],
    ['a blank name', { name: '   ' }, 'name'],
    ['a 101-character name', { name: 'x'.repeat(101) }, 'name'],
    ['an unknown kind', { name: 'ok', kind: 'weird' }, 'kind'],
    ['an unknown field', { name: 'ok', scopes: ['admin'] }, 'scopes'],
    ['no name', {}, 'name'],
  ])('rejects %s with 422 and creates nothing', async (_what, body, field) => {
    const count = () => sys.services.db.apiKey.count({ where: { userId: grace.userId } });
    const before = await count();
    const res = await createKey(grace.apiKey, body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details).toContainEqual({ field, message: expect.any(String) });
    expect(await count()).toBe(before);
  });

  it('accepts a name of exactly 100 characters', async () => {
    const { body } = await mustCreateKey(grace.apiKey, { name: 'y'.repeat(100) });
    expect(body.name).toHaveLength(100);
  });
});

describe('logs', () => {
  it('never contain a key secret', () => {
    expect(secrets.size).toBeGreaterThan(0);
    const logs = systems.map((s) => s.logs.join('\n')).join('\n');
    expect(logs).toContain('request completed'); // the logs were captured at all
    for (const secret of secrets) expect(logs.includes(secret), `a secret starting ${secret.slice(0, 11)} is in the logs`).toBe(false);
  });
});
