/**
 * SCIM 2.0 at /scim/v2: a team's identity provider provisions users (accounts that become team
 * members), gives them roles through groups, and deprovisions them, cutting their sessions,
 * keys and sockets at once. Tokens are per team, made by its owners, stored hashed.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/services/auth/api-keys.js';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PASSWORD = 'correct horse battery staple';

let sys: TestSystem;
let owner: { userId: string; apiKey: string };
let teamA: string;
let teamB: string;
let tokenA: string;
let tokenB: string;

/** A SCIM client with a bearer token, sending application/scim+json. */
function scim(token: string | null) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sys.url}/scim/v2${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  };
}

async function newTeam(name: string, key = owner.apiKey): Promise<string> {
  const res = await restClient(sys.url, key).post('/v1/teams', { name });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function newToken(teamId: string, key = owner.apiKey): Promise<string> {
  const res = await restClient(sys.url, key).post(`/v1/teams/${teamId}/scim-tokens`, { name: 'IdP' });
  expect(res.status).toBe(201);
  return res.body.token;
}

const userBody = (userName: string, extra: Record<string, unknown> = {}) => ({
  schemas: [USER],
  userName,
  emails: [{ value: `${userName.toLowerCase()}`, type: 'work', primary: true }],
  ...extra,
});

async function provision(userName: string, extra: Record<string, unknown> = {}, token = tokenA) {
  const res = await scim(token)('POST', '/Users', userBody(userName, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; userName: string; active: boolean };
}

async function accountOf(scimUserId: string) {
  return sys.services.db.scimUser.findUniqueOrThrow({ where: { id: scimUserId } }).then((u) => u.userId);
}

async function roleIn(teamId: string, userId: string): Promise<string | null> {
  const res = await restClient(sys.url, owner.apiKey).get(`/v1/teams/${teamId}`);
  expect(res.status).toBe(200);
  return res.body.members.find((m: any) => m.user_id === userId)?.role ?? null;
}

async function login(email: string) {
  return restClient(sys.url).post('/v1/auth/login', { email, password: PASSWORD });
}

function expectScimError(res: { status: number; headers: Headers; body: any }, status: number, scimType?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.body.schemas).toEqual([ERROR]);
  expect(res.body.status).toBe(String(status));
  expect(typeof res.body.detail).toBe('string');
  if (scimType) expect(res.body.scimType).toBe(scimType);
}

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  owner = await sys.createUser('Owner', { email: 'owner@example.com' });
  teamA = await newTeam('Team A');
  teamB = await newTeam('Team B');
  tokenA = await newToken(teamA);
  tokenB = await newToken(teamB);
});
afterAll(() => sys?.close());

describe('SCIM tokens', () => {
  it('are created by owners, shown once, stored as a SHA-256 only, listed without the secret', async () => {
    const res = await restClient(sys.url, owner.apiKey).post(`/v1/teams/${teamA}/scim-tokens`, { name: 'Okta' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'scim_token', team_id: teamA, name: 'Okta', revoked_at: null });
    expect(res.body.token).toMatch(/^cdx_scim_[A-Za-z0-9_-]{43}$/);
    expect(res.body.token.startsWith(res.body.prefix)).toBe(true);
    const row = await sys.services.db.scimToken.findUniqueOrThrow({ where: { id: res.body.id } });
    expect(row.secretHash).toBe(sha256Hex(res.body.token));
    expect(JSON.stringify(row)).not.toContain(res.body.token);
    const list = await restClient(sys.url, owner.apiKey).get(`/v1/teams/${teamA}/scim-tokens`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: any) => t.id)).toContain(res.body.id);
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
  });

  it('GraphQL creates and revokes them too; a revoked token answers 401 in SCIM error shape', async () => {
    const created = await graphql(sys.url, owner.apiKey, `mutation($t: ID!) { createScimToken(teamId: $t, input: { name: "Entra" }) { secret scimToken { id prefix } } }`, { t: teamA });
    const { secret, scimToken } = created.body.data!.createScimToken;
    expect((await scim(secret)('GET', '/Users')).status).toBe(200);
    const revoked = await graphql(sys.url, owner.apiKey, `mutation($t: ID!, $id: ID!) { revokeScimToken(teamId: $t, id: $id) { scimToken { revokedAt } } }`, {
      t: teamA,
      id: scimToken.id,
    });
    expect(revoked.body.data!.revokeScimToken.scimToken.revokedAt).not.toBeNull();
    const refused = await scim(secret)('GET', '/Users');
    expectScimError(refused, 401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('only an owner manages them; another team answers 404; other credentials do not reach /scim/v2, nor SCIM tokens /v1', async () => {
    const outsider = await sys.createUser('Outsider');
    expect((await restClient(sys.url, outsider.apiKey).post(`/v1/teams/${teamA}/scim-tokens`, { name: 'x' })).status).toBe(404);
    expect((await restClient(sys.url, outsider.apiKey).get(`/v1/teams/${teamA}/scim-tokens`)).status).toBe(404);
    // An admin provisioned over SCIM is a member, not an owner: 403.
    const admin = await provision('admin.person@example.com', { password: PASSWORD });
    const group = await scim(tokenA)('POST', '/Groups', { schemas: [GROUP], displayName: 'Admin', members: [{ value: admin.id }] });
    expect(group.status).toBe(201);
    const session = (await login('admin.person@example.com')).body.access_token;
    expect((await restClient(sys.url, session).post(`/v1/teams/${teamA}/scim-tokens`, { name: 'x' })).status).toBe(403);
    await scim(tokenA)('DELETE', `/Groups/${group.body.id}`);
    // Team B's token cannot revoke through team A's path.
    const bTokens = await restClient(sys.url, owner.apiKey).get(`/v1/teams/${teamB}/scim-tokens`);
    expect((await restClient(sys.url, owner.apiKey).delete(`/v1/teams/${teamA}/scim-tokens/${bTokens.body.data[0].id}`)).status).toBe(404);
    expectScimError(await scim(owner.apiKey)('GET', '/Users'), 401);
    expectScimError(await scim(null)('GET', '/Users'), 401);
    expect((await restClient(sys.url, tokenA).get('/v1/teams')).status).toBe(401);
  });
});

describe('Users', () => {
  it('creates a user: an account that is a member of the team, answered in SCIM shape', async () => {
    const res = await scim(tokenA)('POST', '/Users', userBody('Alice@Example.com', { externalId: 'ext-alice', displayName: 'Alice A', name: { givenName: 'Alice', familyName: 'A' } }));
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(res.body).toMatchObject({ schemas: [USER], userName: 'Alice@Example.com', externalId: 'ext-alice', active: true, meta: { resourceType: 'User' } });
    expect(res.headers.get('location')).toBe(res.body.meta.location);
    expect(res.body.meta.location).toMatch(new RegExp(`/scim/v2/Users/${res.body.id}$`));
    const userId = await accountOf(res.body.id);
    expect(await roleIn(teamA, userId)).toBe('member');
    const got = await scim(tokenA)('GET', `/Users/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: res.body.id, name: { givenName: 'Alice', familyName: 'A' }, emails: [{ value: 'alice@example.com', primary: true }] });
  });

  it('keeps the attributes it has no column for (nickName, title, phoneNumbers, roles) and answers them back; attributes= narrows the answer', async () => {
    const extra = { nickName: 'Fred', title: 'Engineer', phoneNumbers: [{ value: '+1 555 0100', type: 'work' }], roles: [{ value: 'dev', type: 'team-role' }] };
    const u = await provision('fred@example.com', extra);
    expect(u).toMatchObject(extra);
    const patched = await scim(tokenA)('PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Lead' }] });
    expect(patched.body).toMatchObject({ ...extra, title: 'Lead' });
    const narrowed = await scim(tokenA)('GET', `/Users/${u.id}?attributes=title`);
    expect(narrowed.body).toEqual({ schemas: [USER], id: u.id, title: 'Lead' });
    const searched = await scim(tokenA)('POST', '/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'nickName eq "Fred"', attributes: ['userName'] });
    expectScimError(searched, 400, 'invalidFilter');
    const found = await scim(tokenA)('POST', '/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'userName eq "FRED@example.com"', count: 5 });
    expect(found.status).toBe(200);
    expect(found.body.Resources.map((r: any) => r.id)).toEqual([u.id]);
  });

  it('refuses a userName already provisioned in the team, in any case, with 409 uniqueness, and changes nothing', async () => {
    await provision('dup@example.com');
    const before = await sys.services.db.user.count();
    expectScimError(await scim(tokenA)('POST', '/Users', userBody('DUP@example.com', { emails: [] })), 409, 'uniqueness');
    // An e-mail of an account the team does not manage is refused too (invite that account instead).
    expectScimError(await scim(tokenA)('POST', '/Users', userBody('someone', { emails: [{ value: 'owner@example.com' }] })), 409, 'uniqueness');
    expect(await sys.services.db.user.count()).toBe(before);
  });

  it('filters with eq (case-insensitive userName), co, sw, and/or on userName, emails.value, externalId, displayName', async () => {
    await provision('filter.one@corp.test', { externalId: 'F-1', displayName: 'Filter One' });
    await provision('filter.two@corp.test', { externalId: 'F-2', displayName: 'Filter Two' });
    await provision('other@elsewhere.test', { externalId: 'F-3', displayName: 'Other' }, tokenB);
    const names = async (filter: string) => {
      const res = await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent(filter)}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
      return res.body.Resources.map((r: any) => r.userName).sort();
    };
    expect(await names('userName eq "FILTER.ONE@corp.test"')).toEqual(['filter.one@corp.test']);
    expect(await names('emails.value co "@corp.test"')).toEqual(['filter.one@corp.test', 'filter.two@corp.test']);
    expect(await names('emails[value sw "filter.t"]')).toEqual(['filter.two@corp.test']);
    expect(await names('externalId eq "F-1" or displayName eq "filter two"')).toEqual(['filter.one@corp.test', 'filter.two@corp.test']);
    expect(await names('userName sw "filter" and externalId eq "F-2"')).toEqual(['filter.two@corp.test']);
    // Team B's user is not team A's to see.
    expect(await names('externalId eq "F-3"')).toEqual([]);
  });

  it('paginates with startIndex and count, totalResults counting every match', async () => {
    for (const n of [1, 2, 3, 4, 5]) await provision(`page${n}@pages.test`);
    const page = async (startIndex: number, count: number) =>
      (await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent('userName sw "page"')}&startIndex=${startIndex}&count=${count}`)).body;
    const first = await page(1, 2);
    expect(first).toMatchObject({ totalResults: 5, startIndex: 1, itemsPerPage: 2 });
    const second = await page(3, 2);
    const third = await page(5, 2);
    expect(third).toMatchObject({ totalResults: 5, startIndex: 5, itemsPerPage: 1 });
    const all = [...first.Resources, ...second.Resources, ...third.Resources].map((r: any) => r.userName);
    expect(new Set(all).size).toBe(5);
    expect((await page(1, 0)).Resources).toEqual([]);
    expectScimError(await scim(tokenA)('GET', '/Users?count=lots'), 400, 'invalidValue');
  });

  it('replaces a user with PUT and changes attributes with PATCH', async () => {
    const u = await provision('bob@example.com', { displayName: 'Bob' });
    const put = await scim(tokenA)('PUT', `/Users/${u.id}`, userBody('robert@example.com', { displayName: 'Robert', externalId: 'R-1' }));
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ id: u.id, userName: 'robert@example.com', displayName: 'Robert', externalId: 'R-1' });
    const patched = await scim(tokenA)('PATCH', `/Users/${u.id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'replace', path: 'displayName', value: 'Rob' },
        { op: 'add', path: 'name.givenName', value: 'Robert' },
      ],
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ displayName: 'Rob', name: { givenName: 'Robert' }, userName: 'robert@example.com' });
    const account = await sys.services.db.user.findUniqueOrThrow({ where: { id: await accountOf(u.id) } });
    expect(account).toMatchObject({ name: 'Rob', email: 'robert@example.com' });
  });

  it('refuses bad input in SCIM error shape: filter syntax, unknown filter attribute, wrong schema, missing userName, bad PATCH', async () => {
    expectScimError(await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent('userName zz "a"')}`), 400, 'invalidFilter');
    expectScimError(await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter');
    expectScimError(await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent('favouriteColour eq "red"')}`), 400, 'invalidFilter');
    expectScimError(await scim(tokenA)('POST', '/Users', { schemas: ['urn:example:not-a-user'], userName: 'x' }), 400, 'invalidSyntax');
    expectScimError(await scim(tokenA)('POST', '/Users', { schemas: [USER], displayName: 'No name' }), 400, 'invalidValue');
    expectScimError(await scim(tokenA)('POST', '/Users', '{"schemas": ['), 400, 'invalidSyntax');
    const u = await provision('patchy@example.com');
    expectScimError(await scim(tokenA)('PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'frobnicate', path: 'active' }] }), 400, 'invalidSyntax');
    expectScimError(await scim(tokenA)('GET', '/Users/scu_00000000-0000-7000-8000-000000000000'), 404);
  });

  it("answers 404 for another team's user, on every method", async () => {
    const b = await provision('only-b@example.com', {}, tokenB);
    expectScimError(await scim(tokenA)('GET', `/Users/${b.id}`), 404);
    expectScimError(await scim(tokenA)('PUT', `/Users/${b.id}`, userBody('stolen@example.com')), 404);
    expectScimError(await scim(tokenA)('PATCH', `/Users/${b.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }), 404);
    expectScimError(await scim(tokenA)('DELETE', `/Users/${b.id}`), 404);
    expect((await scim(tokenB)('GET', `/Users/${b.id}`)).body.active).toBe(true);
  });
});

describe('Groups map to team roles', () => {
  it('a group named after a role gives it; the highest wins; leaving or deleting the group takes it back', async () => {
    const u = await provision('carol@example.com');
    const userId = await accountOf(u.id);
    const admins = await scim(tokenA)('POST', '/Groups', { schemas: [GROUP], displayName: 'admin', members: [{ value: u.id }] });
    expect(admins.status).toBe(201);
    expect(admins.body.members).toEqual([expect.objectContaining({ value: u.id })]);
    expect(await roleIn(teamA, userId)).toBe('admin');
    const viewers = await scim(tokenA)('POST', '/Groups', { schemas: [GROUP], displayName: 'Viewer', members: [{ value: u.id }] });
    expect(await roleIn(teamA, userId)).toBe('admin');
    expect((await scim(tokenA)('GET', `/Users/${u.id}`)).body.groups.map((g: any) => g.display).sort()).toEqual(['Viewer', 'admin']);
    const removed = await scim(tokenA)('PATCH', `/Groups/${admins.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${u.id}"]` }] });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(await roleIn(teamA, userId)).toBe('viewer');
    expect((await scim(tokenA)('DELETE', `/Groups/${viewers.body.id}`)).status).toBe(204);
    expect(await roleIn(teamA, userId)).toBe('member');
    const filtered = await scim(tokenA)('GET', `/Groups?filter=${encodeURIComponent('displayName eq "ADMIN"')}`);
    expect(filtered.body.Resources.map((g: any) => g.id)).toEqual([admins.body.id]);
    // A member from another team is refused; so is a second group of the same name.
    const b = await provision('b-member@example.com', {}, tokenB);
    expectScimError(await scim(tokenA)('POST', '/Groups', { schemas: [GROUP], displayName: 'x', members: [{ value: b.id }] }), 400, 'invalidValue');
    expectScimError(await scim(tokenA)('POST', '/Groups', { schemas: [GROUP], displayName: 'ADMIN' }), 409, 'uniqueness');
  });
});

describe('Deprovisioning', () => {
  /** A graphql-ws socket authenticated with `token`; resolves its close. */
  async function openSocket(token: string) {
    const ws = new WebSocket(`${sys.wsUrl}/graphql`, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const acked = new Promise<void>((resolve) => ws.on('message', (m) => (JSON.parse((m as Buffer).toString()) as { type?: string }).type === 'connection_ack' && resolve()));
    await new Promise((resolve) => ws.on('open', resolve));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    await acked;
    return { ws, closed };
  }

  it('active:false cuts the session, the keys and the open socket at once, and the membership; active:true brings the membership back', async () => {
    const u = await provision('dave@example.com', { password: PASSWORD });
    const userId = await accountOf(u.id);
    const session = (await login('dave@example.com')).body.access_token as string;
    const key = await restClient(sys.url, session).post('/v1/keys', { name: 'dave key' });
    expect(key.status).toBe(201);
    const daveKey = key.body.secret as string;
    expect((await restClient(sys.url, daveKey).get(`/v1/teams/${teamA}`)).status).toBe(200);
    const socket = await openSocket(session);

    const res = await scim(tokenA)('PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.active).toBe(false);
    expect(await socket.closed).toBe(4401);
    expect((await restClient(sys.url, session).get(`/v1/teams/${teamA}`)).status).toBe(401);
    expect((await restClient(sys.url, daveKey).get(`/v1/teams/${teamA}`)).status).toBe(401);
    expect((await login('dave@example.com')).status).toBe(401);
    expect(await roleIn(teamA, userId)).toBeNull();
    expect((await scim(tokenA)('GET', `/Users?filter=${encodeURIComponent('active eq false')}`)).body.Resources.map((r: any) => r.id)).toContain(u.id);

    const back = await scim(tokenA)('PATCH', `/Users/${u.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] });
    expect(back.body.active).toBe(true);
    expect(await roleIn(teamA, userId)).toBe('member');
    // Credentials revoked stay revoked; the person signs in again.
    expect((await restClient(sys.url, session).get(`/v1/teams/${teamA}`)).status).toBe(401);
    expect((await login('dave@example.com')).status).toBe(200);
  });

  it('DELETE ends access at once and the user is gone (404), its e-mail free again', async () => {
    const u = await provision('erin@example.com', { password: PASSWORD });
    const userId = await accountOf(u.id);
    const session = (await login('erin@example.com')).body.access_token as string;
    const socket = await openSocket(session);
    expect((await scim(tokenA)('DELETE', `/Users/${u.id}`)).status).toBe(204);
    expect(await socket.closed).toBe(4401);
    expect((await restClient(sys.url, session).get(`/v1/teams/${teamA}`)).status).toBe(401);
    expect(await roleIn(teamA, userId)).toBeNull();
    expectScimError(await scim(tokenA)('GET', `/Users/${u.id}`), 404);
    expect((await login('erin@example.com')).status).toBe(401);
    await waitFor(async () => ((await provision('erin@example.com')).id ? true : undefined));
  });
});

describe('Discovery', () => {
  it('serves ServiceProviderConfig, ResourceTypes and Schemas', async () => {
    const spc = await scim(tokenA)('GET', '/ServiceProviderConfig');
    expect(spc.status).toBe(200);
    expect(spc.body).toMatchObject({ patch: { supported: true }, filter: { supported: true, maxResults: 200 }, bulk: { supported: false } });
    expect(spc.body.authenticationSchemes[0].type).toBe('oauthbearertoken');
    const types = await scim(tokenA)('GET', '/ResourceTypes');
    expect(types.body.Resources.map((r: any) => r.name).sort()).toEqual(['Group', 'User']);
    const schemas = await scim(tokenA)('GET', '/Schemas');
    expect(schemas.body.Resources.map((s: any) => s.id)).toEqual(expect.arrayContaining([USER, GROUP]));
    expect((await scim(tokenA)('GET', `/Schemas/${USER}`)).body.id).toBe(USER);
    for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas']) expectScimError(await scim(tokenA)('POST', path, {}), 405);
    expectScimError(await scim(tokenA)('GET', '/Nothing'), 404);
  });
});
