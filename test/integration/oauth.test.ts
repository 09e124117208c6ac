/**
 * OAuth 2.0 clients (/v1/oauth/clients) and the client credentials grant at POST /v1/oauth/token
 * (RFC 6749 §4.4): both client authentication methods, the tokens as Bearer credentials with
 * their scopes, the RFC §5.2 error bodies, revocation, tenant and team isolation, and no secret
 * or token in the logs.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { joinTeam } from '../helpers/fixtures.js';

let sys: TestSystem;
/** Client secrets, access tokens and API keys seen here; none may appear in the logs. */
const secrets = new Set<string>();

let olivia: { userId: string; apiKey: string };

/** What a token gets without asking: all the client holds but `account`. */
const DEFAULT_SCOPES = 'read write generate';
const as = (credential: string) => restClient(sys.url, credential);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function newUser(name: string) {
  const user = await sys.createUser(name);
  secrets.add(user.apiKey);
  return user;
}

/** POST /v1/oauth/clients as `ownerKey`; remembers the secret it returns. */
async function createClient(ownerKey: string, body: Record<string, unknown> = { name: 'ci pipeline' }) {
  const res = await as(ownerKey).post('/v1/oauth/clients', body);
  if (typeof res.body?.client_secret === 'string') secrets.add(res.body.client_secret);
  return res;
}

async function mustCreateClient(ownerKey: string, body?: Record<string, unknown>) {
  const res = await createClient(ownerKey, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id as string, secret: res.body.client_secret as string, body: res.body };
}

/** POST /v1/oauth/token, form-encoded unless `contentType` says otherwise; remembers the token. */
async function requestToken(form: Record<string, string>, headers: Record<string, string> = {}, contentType = 'application/x-www-form-urlencoded') {
  const body = contentType.includes('json') ? JSON.stringify(form) : new URLSearchParams(form).toString();
  const res = await restClient(sys.url).request('POST', '/v1/oauth/token', body, { 'content-type': contentType, ...headers });
  if (typeof res.body?.access_token === 'string') secrets.add(res.body.access_token);
  return res;
}

/** A token for a client through client_secret_basic. */
const tokenViaBasic = (client: { id: string; secret: string }, form: Record<string, string> = {}) =>
  requestToken({ grant_type: 'client_credentials', ...form }, { authorization: basic(client.id, client.secret) });

/** A token for a client through client_secret_post. */
const tokenViaPost = (client: { id: string; secret: string }, form: Record<string, string> = {}) =>
  requestToken({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, ...form });

async function mustGetToken(client: { id: string; secret: string }, form?: Record<string, string>) {
  const res = await tokenViaBasic(client, form);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.access_token as string;
}

/** An RFC 6749 §5.2 error response. */
function expectOAuthError(res: { status: number; body: any; headers: Headers }, status: number, error: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toEqual({ error, error_description: expect.any(String) });
  expect(res.headers.get('cache-control')).toBe('no-store');
}

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  olivia = await newUser('Olivia');
});
afterAll(() => sys?.close());

describe('OAuth clients', () => {
  it('returns the client secret once and stores only its hash', async () => {
    const { id, secret, body } = await mustCreateClient(olivia.apiKey, { name: 'nightly scan' });
    expect(body).toEqual({
      id: expect.stringMatching(/^oac_/),
      object: 'oauth_client',
      client_id: id,
      name: 'nightly scan',
      team_id: null,
      scopes: ['read', 'write', 'generate'],
      created_at: expect.any(String),
      last_used_at: null,
      revoked_at: null,
      client_secret: expect.stringMatching(/^cdx_cs_/),
    });

    const one = await as(olivia.apiKey).get(`/v1/oauth/clients/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, client_id: id, name: 'nightly scan' });
    expect(one.body).not.toHaveProperty('client_secret');
    const list = await as(olivia.apiKey).get('/v1/oauth/clients');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ object: 'list', url: '/v1/oauth/clients' });
    expect(list.body.data.map((c: any) => c.id)).toContain(id);
    for (const c of list.body.data) expect(c).not.toHaveProperty('client_secret');
    expect(JSON.stringify([one.body, list.body])).not.toContain(secret);

    const stored = await sys.services.db.oAuthClient.findUniqueOrThrow({ where: { id } });
    expect(stored.secretHash).not.toBe(secret);
    expect(JSON.stringify(stored)).not.toContain(secret.slice(7));
  });
});

describe('POST /v1/oauth/token', () => {
  let client: { id: string; secret: string };
  beforeAll(async () => {
    client = await mustCreateClient(olivia.apiKey);
  });

  it.each([
    ['client_secret_basic', () => tokenViaBasic(client)],
    ['client_secret_post', () => tokenViaPost(client)],
  ])('issues a one-hour Bearer JWT with %s, not to be cached', async (_method, request) => {
    const res = await request();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), token_type: 'Bearer', expires_in: 3600, scope: DEFAULT_SCOPES });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('pragma')).toBe('no-cache');
    expect(decodeProtectedHeader(res.body.access_token)).toMatchObject({ typ: 'at+jwt' });
    const claims = decodeJwt(res.body.access_token);
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  it("acts as the client's owner", async () => {
    const token = await mustGetToken(client);
    const me = await as(token).get('/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.id).toBe(olivia.userId);
    expect((await as(token).get('/v1/agents/tasks')).status).toBe(200);
    const after = await as(olivia.apiKey).get(`/v1/oauth/clients/${client.id}`);
    expect(after.body.last_used_at).toEqual(expect.any(String));
  });

  it('issues a narrower token for a requested scope, which is refused mutations', async () => {
    const res = await tokenViaPost(client, { scope: 'read' });
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe('read');
    const token = res.body.access_token;
    expect((await as(token).get('/v1/agents/tasks')).status).toBe(200);
    const mutation = await as(token).post('/v1/teams', { name: 'x' });
    expect(mutation.status).toBe(403);
    expect(mutation.body.error.code).toBe('permission_denied');
    expect(await sys.services.db.teamMember.count({ where: { userId: olivia.userId } })).toBe(0);
  });

  describe('errors', () => {
    it('answers a wrong secret with 401 invalid_client and WWW-Authenticate when Basic was used', async () => {
      const wrong = { id: client.id, secret: `${client.secret.slice(0, -4)}AAAA` };
      const viaBasic = await tokenViaBasic(wrong);
      expectOAuthError(viaBasic, 401, 'invalid_client');
      expect(viaBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
      expectOAuthError(await tokenViaPost(wrong), 401, 'invalid_client');
    });

    it('answers an unknown client with 401 invalid_client', async () => {
      expectOAuthError(await tokenViaPost({ id: 'oac_00000000-0000-7000-8000-000000000000', secret: client.secret }), 401, 'invalid_client');
      expectOAuthError(await tokenViaBasic({ id: 'nobody', secret: client.secret }), 401, 'invalid_client');
    });

    it('answers a JSON body with 400 invalid_request', async () => {
      const res = await requestToken({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }, {}, 'application/json');
      expectOAuthError(res, 400, 'invalid_request');
    });

    it('answers a missing grant_type with 400 invalid_request', async () => {
      expectOAuthError(await requestToken({ client_id: client.id, client_secret: client.secret }), 400, 'invalid_request');
    });

    it('answers another grant with 400 unsupported_grant_type', async () => {
      expectOAuthError(await tokenViaPost(client, { grant_type: 'password' }), 400, 'unsupported_grant_type');
    });

    it('answers two client authentication methods at once with 400 invalid_request', async () => {
      const res = await requestToken(
        { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret },
        { authorization: basic(client.id, client.secret) },
      );
      expectOAuthError(res, 400, 'invalid_request');
    });

    it.each([['admin'], ['read admin']])('answers the unknown scope %j with 400 invalid_scope', async (scope) => {
      expectOAuthError(await tokenViaBasic(client, { scope }), 400, 'invalid_scope');
    });
  });
});

describe('revoking a client', () => {
  it('ends its tokens on the next request and refuses new ones', async () => {
    const client = await mustCreateClient(olivia.apiKey);
    const token = await mustGetToken(client);
    expect((await as(token).get('/v1/agents/tasks')).status).toBe(200); // now cached
    const revoked = await as(olivia.apiKey).delete(`/v1/oauth/clients/${client.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: client.id, revoked_at: expect.any(String) });
    expect(revoked.body).not.toHaveProperty('client_secret');

    const after = await as(token).get('/v1/agents/tasks');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('authentication_required');
    expectOAuthError(await tokenViaBasic(client), 401, 'invalid_client');
    expectOAuthError(await tokenViaPost(client), 401, 'invalid_client');
  });
});

describe("another account's client", () => {
  it('is not found and cannot be revoked', async () => {
    const client = await mustCreateClient(olivia.apiKey, { name: 'private' });
    const mallory = await newUser('Mallory');
    for (const res of [await as(mallory.apiKey).get(`/v1/oauth/clients/${client.id}`), await as(mallory.apiKey).delete(`/v1/oauth/clients/${client.id}`)]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    expect((await as(mallory.apiKey).get('/v1/oauth/clients')).body.data).toEqual([]);
    expect((await sys.services.db.oAuthClient.findUniqueOrThrow({ where: { id: client.id } })).revokedAt).toBeNull();
    await mustGetToken(client);
  });
});

describe('clients for a team', () => {
  let teamId: string;
  let member: { userId: string; apiKey: string };
  const clientsOf = (userId: string) => sys.services.db.oAuthClient.count({ where: { ownerId: userId } });

  beforeAll(async () => {
    const team = await as(olivia.apiKey).post('/v1/teams', { name: 'Platform' });
    expect(team.status).toBe(201);
    teamId = team.body.id;
    expect((await as(olivia.apiKey).post('/v1/teams', { name: 'Another team of hers' })).status).toBe(201);
    member = await newUser('Member');
    await joinTeam(sys.url, olivia.apiKey, teamId, member, 'member');
  });

  it('are created by a team admin and act for the team', async () => {
    const { body, id, secret } = await mustCreateClient(olivia.apiKey, { name: 'team bot', team_id: teamId });
    expect(body.team_id).toBe(teamId);
    const token = await mustGetToken({ id, secret });
    // Olivia belongs to two teams; a token of this client sees only its own.
    const teams = await as(token).get('/v1/teams');
    expect(teams.body.data.map((t: any) => t.id)).toEqual([teamId]);
  });

  it('are refused to an outsider (404) and to a plain member (403)', async () => {
    const outsider = await newUser('Outsider');
    const fromOutsider = await createClient(outsider.apiKey, { name: 'sneaky', team_id: teamId });
    expect(fromOutsider.status).toBe(404);
    expect(fromOutsider.body.error.code).toBe('resource_not_found');
    expect(await clientsOf(outsider.userId)).toBe(0);

    const fromMember = await createClient(member.apiKey, { name: 'sneaky', team_id: teamId });
    expect(fromMember.status).toBe(403);
    expect(fromMember.body.error.code).toBe('permission_denied');
    expect(await clientsOf(member.userId)).toBe(0);
  });
});

describe('the account scope', () => {
  it('is not in a token unless the client was created with it and the token request asks for it', async () => {
    const plain = await mustCreateClient(olivia.apiKey, { name: 'no account' });
    expectOAuthError(await tokenViaBasic(plain, { scope: 'read account' }), 400, 'invalid_scope');
    const plainToken = await mustGetToken(plain);
    expect((await as(plainToken).get('/v1/keys')).status).toBe(403);
    expect((await as(plainToken).post('/v1/keys', { name: 'minted' })).status).toBe(403);

    const admin = await mustCreateClient(olivia.apiKey, { name: 'key rotation', scopes: ['read', 'account'] });
    expect(admin.body.scopes).toEqual(['read', 'account']);
    const unasked = await tokenViaBasic(admin);
    expect(unasked.body.scope).toBe('read');
    expect((await as(unasked.body.access_token).get('/v1/keys')).status).toBe(403);
    const asked = await tokenViaBasic(admin, { scope: 'account' });
    expect(asked.body.scope).toBe('account');
    expect((await as(asked.body.access_token).get('/v1/keys')).status).toBe(200);
    expectOAuthError(await tokenViaBasic(admin, { scope: 'write' }), 400, 'invalid_scope');
  });

  it('refuses unknown scopes, account for a team client, and scopes its creator lacks, creating nothing', async () => {
    const team = await as(olivia.apiKey).post('/v1/teams', { name: 'Scoped' });
    const before = await sys.services.db.oAuthClient.count({ where: { ownerId: olivia.userId } });
    const unknown = await createClient(olivia.apiKey, { name: 'x', scopes: ['read', 'admin'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details).toEqual([{ field: 'scopes', message: expect.stringContaining('read, write, generate, account') }]);
    const teamAccount = await createClient(olivia.apiKey, { name: 'x', team_id: team.body.id, scopes: ['read', 'account'] });
    expect(teamAccount.status).toBe(422);
    expect(teamAccount.body.error.details[0].field).toBe('scopes');
    expect((await createClient(olivia.apiKey, { name: 'x', scopes: [] })).status).toBe(422);
    expect(await sys.services.db.oAuthClient.count({ where: { ownerId: olivia.userId } })).toBe(before);
  });
});

describe("a team client's token", () => {
  it("cannot reach its owner's personal keys, clients, subscription or notifications by any route", async () => {
    const team = await as(olivia.apiKey).post('/v1/teams', { name: 'Escape room' });
    const client = await mustCreateClient(olivia.apiKey, { name: 'team bot', team_id: team.body.id });
    const token = await mustGetToken(client);
    const keysBefore = await sys.services.db.apiKey.count({ where: { userId: olivia.userId } });
    const clientsBefore = await sys.services.db.oAuthClient.count({ where: { ownerId: olivia.userId } });
    const refused = [
      await as(token).post('/v1/keys', { name: 'escape hatch' }),
      await as(token).get('/v1/keys'),
      await as(token).post('/v1/oauth/clients', { name: 'personal escape' }),
      await as(token).get('/v1/oauth/clients'),
      await as(token).get('/v1/subscription'),
      await as(token).post('/v1/subscription/upgrade', { new_tier: 'pro' }),
      await as(token).get('/v1/usage'),
      await as(token).get('/v1/notifications'),
      await as(token).get('/v1/invitations'),
    ];
    for (const res of refused) {
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
    expect(await sys.services.db.apiKey.count({ where: { userId: olivia.userId } })).toBe(keysBefore);
    expect(await sys.services.db.oAuthClient.count({ where: { ownerId: olivia.userId } })).toBe(clientsBefore);
    // Asking for the account scope does not help: a team client never holds it.
    expectOAuthError(await tokenViaBasic(client, { scope: 'account' }), 400, 'invalid_scope');
    // Over GraphQL too.
    const gql = await graphql(sys.url, token, `mutation { createApiKey(input: { name: "escape" }) { secret } }`);
    expect(gql.body.errors?.[0]?.extensions.code).toBe('PERMISSION_DENIED');
    // Its own team's work is still open to it.
    expect((await as(token).get(`/v1/agents/tasks?team_id=${team.body.id}`)).status).toBe(200);
  });
});

describe('logs', () => {
  it('never contain a client secret, an access token or an API key', () => {
    expect(secrets.size).toBeGreaterThan(0);
    const logs = sys.logs.join('\n');
    expect(logs).toContain('/v1/oauth/token'); // token requests were logged, without their secrets
    for (const secret of secrets) expect(logs.includes(secret), `a secret starting ${secret.slice(0, 11)} is in the logs`).toBe(false);
  });
});
