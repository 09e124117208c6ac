/**
 * Accounts and sessions: login, refresh-token rotation and reuse detection, logout, /v1/auth/me,
 * sign-up, throttling, our signing keys (JWKS, rotation) and every kind of forged token.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, importPKCS8, SignJWT, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/postgres.js';
import { createSigningKey } from '../../src/services/auth/signing-keys.js';
import { graphql, restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
const PASSWORD = 'correct horse battery staple';
const secrets = new Set<string>([PASSWORD]);

const anonymous = () => restClient(sys.url);
const as = (token: string) => restClient(sys.url, token);

async function login(email: string, password = PASSWORD) {
  const res = await anonymous().post('/v1/auth/login', { email, password });
  if (res.status === 200) {
    secrets.add(res.body.access_token);
    secrets.add(res.body.refresh_token);
  }
  return res;
}

let ada: { userId: string; apiKey: string };

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  ada = await sys.createUser('Ada', { email: 'ada@example.com', password: PASSWORD, tier: 'pro' });
  secrets.add(ada.apiKey);
});
afterAll(() => sys?.close());

describe('login and /v1/auth/me', () => {
  it('returns the spec tokens, and the access token reads /v1/auth/me', async () => {
    const res = await login('Ada@Example.com'); // e-mail is case-insensitive
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 86400,
      refresh_token: expect.stringMatching(/^v1\./),
    });
    expect(decodeProtectedHeader(res.body.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const me = await as(res.body.access_token).get('/v1/auth/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: ada.userId,
      email: 'ada@example.com',
      name: 'Ada',
      tier: 'pro',
      subscription: null, // no paid subscription yet
      usage: { requests_this_month: expect.any(Number), requests_limit: 10_000, storage_used_bytes: 0, storage_limit_bytes: 10 * 1024 ** 3 },
      created_at: expect.any(String),
    });
  });

  it('works as the same principal over GraphQL', async () => {
    const { body } = await login('ada@example.com');
    const res = await graphql(sys.url, body.access_token, '{ viewer { id email tier } }');
    expect(res.body.data).toEqual({ viewer: { id: ada.userId, email: 'ada@example.com', tier: 'pro' } });
  });

  it('answers a wrong password and an unknown e-mail identically', async () => {
    const wrong = await login('ada@example.com', 'not the password at all');
    const unknown = await login('nobody@example.com', 'not the password at all');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const strip = (b: any) => ({ ...b.error, request_id: undefined });
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    expect(wrong.body.error.code).toBe('authentication_required');
  });

  it('validates the body with field errors and changes nothing', async () => {
    const missing = await anonymous().post('/v1/auth/login', { email: 'ada@example.com' });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details).toEqual([{ field: 'password', message: 'is required' }]);
    const extra = await anonymous().post('/v1/auth/login', { email: 'a@b.c', password: 'x', remember: true });
    expect(extra.status).toBe(422);
    const notJson = await anonymous().request('POST', '/v1/auth/login', '{"email":', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect(await sys.services.db.session.count({ where: { userId: ada.userId, revokedAt: null } })).toBeGreaterThan(0);
  });

  it('throttles repeated failures for one account with growing delays, even with the right password', async () => {
    const email = 'throttled@example.com';
    await sys.createUser('Throttled', { email, password: PASSWORD });
    for (let i = 0; i < 6; i++) expect((await login(email, `wrong password ${i}`)).status).toBe(401);
    const locked = await login(email);
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('rate_limit_exceeded');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // An unknown address is throttled the same way, so the answer does not reveal which exist.
    for (let i = 0; i < 6; i++) await login('ghost@example.com', `wrong ${i}`);
    expect((await login('ghost@example.com')).status).toBe(429);
  });
});

describe('throttling by address', () => {
  let open: TestSystem;
  const from = (ip: string) => (path: string, body: unknown) =>
    restClient(open.url).request('POST', path, JSON.stringify(body), { 'content-type': 'application/json', 'x-forwarded-for': ip });

  beforeAll(async () => {
    open = await startTestSystem({ worker: false, env: { ALLOW_SIGNUP: 'true', TRUST_PROXY: 'true' } });
    await open.createUser('Owner', { email: 'owner@example.com', password: PASSWORD });
  });
  afterAll(() => open?.close());

  it("lets a stranger lock only their own address, never the owner's sign-in from another one", async () => {
    const stranger = from('203.0.113.5');
    for (let i = 0; i < 6; i++) expect((await stranger('/v1/auth/login', { email: 'owner@example.com', password: `guess ${i}` })).status).toBe(401);
    const locked = await stranger('/v1/auth/login', { email: 'owner@example.com', password: PASSWORD });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const owner = await from('198.51.100.7')('/v1/auth/login', { email: 'owner@example.com', password: PASSWORD });
    expect(owner.status, JSON.stringify(owner.body)).toBe(200);
    secrets.add(owner.body.access_token);
    secrets.add(owner.body.refresh_token);
  });

  it('throttles one address trying many accounts', async () => {
    const sprayer = from('203.0.113.9');
    for (let i = 0; i < 21; i++) expect((await sprayer('/v1/auth/login', { email: `victim${i}@example.com`, password: 'Summer2026!' })).status).toBe(401);
    expect((await sprayer('/v1/auth/login', { email: 'victim99@example.com', password: 'Summer2026!' })).status).toBe(429);
  });

  it('throttles sign-ups that probe for taken e-mails like failed sign-ins', async () => {
    const prober = from('203.0.113.77');
    for (let i = 0; i < 6; i++) {
      const res = await prober('/v1/auth/signup', { email: 'owner@example.com', password: PASSWORD });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('email_taken');
    }
    const throttled = await prober('/v1/auth/signup', { email: 'owner@example.com', password: PASSWORD });
    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe('rate_limit_exceeded');
    // Another address signs up normally.
    const other = await from('198.51.100.8')('/v1/auth/signup', { email: 'fresh@example.com', password: PASSWORD });
    expect(other.status).toBe(201);
    secrets.add(other.body.access_token);
    secrets.add(other.body.refresh_token);
  });

  it('answers token responses with Cache-Control: no-store and Pragma: no-cache, errors included', async () => {
    const client = from('198.51.100.20');
    const signup = await client('/v1/auth/signup', { email: 'cache@example.com', password: PASSWORD });
    const login = await client('/v1/auth/login', { email: 'cache@example.com', password: PASSWORD });
    const refreshed = await client('/v1/auth/refresh', { refresh_token: login.body.refresh_token });
    const failed = await client('/v1/auth/login', { email: 'cache@example.com', password: 'wrong password here' });
    for (const res of [signup, login, refreshed, failed]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      for (const t of [res.body.access_token, res.body.refresh_token]) if (t) secrets.add(t);
    }
    expect([signup.status, login.status, refreshed.status, failed.status]).toEqual([201, 200, 200, 401]);
  });
});

describe('refresh tokens', () => {
  it('rotate: each works once and gives a new pair', async () => {
    const first = (await login('ada@example.com')).body;
    const res = await anonymous().post('/v1/auth/refresh', { refresh_token: first.refresh_token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 86400 });
    expect(res.body.refresh_token).not.toBe(first.refresh_token);
    secrets.add(res.body.access_token);
    secrets.add(res.body.refresh_token);
    expect((await as(res.body.access_token).get('/v1/auth/me')).status).toBe(200);
  });

  it('reusing one revokes the whole family: the newer refresh token and the access tokens stop working', async () => {
    const first = (await login('ada@example.com')).body;
    const second = (await anonymous().post('/v1/auth/refresh', { refresh_token: first.refresh_token })).body;
    secrets.add(second.access_token);
    secrets.add(second.refresh_token);
    const replay = await anonymous().post('/v1/auth/refresh', { refresh_token: first.refresh_token });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('authentication_required');
    expect((await anonymous().post('/v1/auth/refresh', { refresh_token: second.refresh_token })).status).toBe(401);
    expect((await as(second.access_token).get('/v1/auth/me')).status).toBe(401);
    expect((await as(first.access_token).get('/v1/auth/me')).status).toBe(401);
  });

  it('refuses garbage and unknown tokens with 401, a missing one with 422', async () => {
    expect((await anonymous().post('/v1/auth/refresh', { refresh_token: 'v1.' + 'x'.repeat(43) })).status).toBe(401);
    expect((await anonymous().post('/v1/auth/refresh', { refresh_token: 'eyJhbGciOi' })).status).toBe(401);
    expect((await anonymous().post('/v1/auth/refresh', {})).status).toBe(422);
  });
});

describe('logout', () => {
  it('ends the session at once: the access token (even cached) and its refresh token answer 401', async () => {
    const tokens = (await login('ada@example.com')).body;
    const client = as(tokens.access_token);
    expect((await client.get('/v1/auth/me')).status).toBe(200); // now cached by the gateway
    const out = await client.post('/v1/auth/logout', undefined);
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ success: true, message: 'Logged out successfully' });
    expect((await client.get('/v1/auth/me')).status).toBe(401);
    expect((await anonymous().post('/v1/auth/refresh', { refresh_token: tokens.refresh_token })).status).toBe(401);
  });

  it('is a 400 for an API key, which is revoked instead, and a 401 without a credential', async () => {
    const res = await as(ada.apiKey).post('/v1/auth/logout', undefined);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/DELETE \/v1\/keys/);
    expect((await anonymous().post('/v1/auth/logout', undefined)).status).toBe(401);
  });
});

describe('sign-up', () => {
  it('is refused unless the operator allows it', async () => {
    const res = await anonymous().post('/v1/auth/signup', { email: 'new@example.com', password: PASSWORD });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('permission_denied');
    expect(await sys.services.db.user.count({ where: { email: 'new@example.com' } })).toBe(0);
  });

  it('with ALLOW_SIGNUP creates an account that can sign in, and refuses duplicates and weak passwords', async () => {
    const open = await startTestSystem({ worker: false, env: { ALLOW_SIGNUP: 'true' } });
    try {
      const client = restClient(open.url);
      const res = await client.post('/v1/auth/signup', { email: 'Grace@Example.com', password: PASSWORD, name: 'Grace' });
      expect(res.status).toBe(201);
      const me = await restClient(open.url, res.body.access_token).get('/v1/auth/me');
      expect(me.body).toMatchObject({ email: 'grace@example.com', name: 'Grace', tier: 'free' });
      const stored = await open.services.db.user.findUniqueOrThrow({ where: { email: 'grace@example.com' } });
      expect(stored.passwordHash).toMatch(/^\$argon2id\$/);
      expect((await client.post('/v1/auth/signup', { email: 'grace@example.com', password: PASSWORD })).body.error.code).toBe('email_taken');
      const weak = await client.post('/v1/auth/signup', { email: 'weak@example.com', password: 'short' });
      expect(weak.status).toBe(422);
      expect(weak.body.error.details[0].field).toBe('password');
      const badEmail = await client.post('/v1/auth/signup', { email: 'not-an-address', password: PASSWORD });
      expect(badEmail.status).toBe(422);
      expect(await open.services.db.user.count({ where: { email: { in: ['weak@example.com', 'not-an-address'] } } })).toBe(0);
    } finally {
      await open.close();
    }
  });
});

describe('signing keys', () => {
  it('publishes the signing key as a JWKS without private parts', async () => {
    const { body } = await login('ada@example.com');
    const jwks = await anonymous().get('/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    const kid = decodeProtectedHeader(body.access_token).kid;
    const key = jwks.body.keys.find((k: any) => k.kid === kid);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(key.d).toBeUndefined();
  });

  it('rotates without logging anyone out', async () => {
    const before = (await login('ada@example.com')).body.access_token;
    const oldKid = decodeProtectedHeader(before).kid;
    const newKid = await createSigningKey(sys.services.db, 'ES256');
    // Processes pick up a new signer within a minute; this one is told at once.
    await (sys.services.signingKeys as any).reload();
    const after = (await login('ada@example.com')).body.access_token;
    secrets.add(after);
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect((await as(before).get('/v1/auth/me')).status).toBe(200);
    expect((await as(after).get('/v1/auth/me')).status).toBe(200);
    const kids = (await anonymous().get('/.well-known/jwks.json')).body.keys.map((k: any) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
  });
});

describe('forged and unusable tokens answer 401', () => {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  let claims: Record<string, unknown>;
  let signer: { kid: string; key: Awaited<ReturnType<typeof importPKCS8>> };

  beforeAll(async () => {
    const token = (await login('ada@example.com')).body.access_token;
    claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    const row = await sys.services.db.signingKey.findFirstOrThrow({ where: { id: decodeProtectedHeader(token).kid } });
    signer = { kid: row.id, key: await importPKCS8(row.privateKeyPem, 'ES256') };
  });

  const sign = (overrides: Record<string, unknown>, header: Record<string, unknown> = {}, key = signer.key) =>
    new SignJWT({ ...claims, ...overrides }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: signer.kid, ...header }).sign(key);

  const expect401 = async (token: string) => {
    const rest = await as(token).get('/v1/auth/me');
    expect(rest.status).toBe(401);
    expect(rest.body.error.code).toBe('authentication_required');
    expect(rest.body.error.message).not.toContain(token);
    const gql = await graphql(sys.url, token, '{ viewer { id } }');
    expect(gql.status).toBe(401);
  };

  it('accepts a token we sign ourselves with the real key (the control case)', async () => {
    expect((await as(await sign({})).get('/v1/auth/me')).status).toBe(200);
  });
  it('alg: none', () => expect401(`${b64({ alg: 'none', typ: 'at+jwt', kid: signer.kid })}.${b64(claims)}.`));
  it('a tampered payload', async () => {
    const [h, , s] = (await sign({})).split('.');
    await expect401(`${h}.${b64({ ...claims, sub: 'user_01900000-0000-7000-8000-000000000000' })}.${s}`);
  });
  it('another key under our kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    await expect401(await sign({}, {}, privateKey));
  });
  it('HS256 with the public key as the secret', async () => {
    const jwk = (await anonymous().get('/.well-known/jwks.json')).body.keys[0];
    const secret = new TextEncoder().encode(JSON.stringify(jwk));
    await expect401(await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: signer.kid }).sign(secret));
  });
  it('another issuer', async () => expect401(await sign({ iss: 'https://evil.example.com' })));
  it('another audience', async () => expect401(await sign({ aud: 'https://other-api.example.com' })));
  it('expired', async () => expect401(await sign({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })));
  it('not yet valid', async () => expect401(await sign({ nbf: Math.floor(Date.now() / 1000) + 3600 })));
  it('a session that does not exist', async () => expect401(await sign({ sid: 'ses_01900000-0000-7000-8000-000000000000' })));
  it('an id token typ instead of an access token', async () => expect401(await sign({}, { typ: 'JWT' })));
  it('garbage', () => expect401('not.a.token'));
});

describe('an external OpenID Connect provider', () => {
  let idp: Server;
  let issuer: string;
  let ext: TestSystem;
  type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const keys: Array<{ kid: string; privateKey: PrivateKey; jwk: Record<string, unknown> }> = [];
  const AUDIENCE = 'https://api.codex.ai';

  async function addKey(kid: string) {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    keys.push({ kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } });
  }
  const token = (claims: Record<string, unknown>, kid = keys[0].kid, options: { exp?: number; aud?: string; iss?: string } = {}) => {
    const key = keys.find((k) => k.kid === kid)!;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: 'lin@corp.example', email_verified: true, codex_tier: 'pro', codex_subscription_id: 'sub_1ABC', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? AUDIENCE)
      .setSubject('auth0|507f1f77bcf86cd799439011')
      .setIssuedAt(now)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(key.privateKey);
  };

  beforeAll(async () => {
    await addKey('idp-key-1');
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}/`;
    idp = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}keys` }));
      else if (req.url === '/keys') res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
      else res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => idp.listen(port, '127.0.0.1', r));
    ext = await startTestSystem({ worker: false, env: { OIDC_ISSUER: issuer, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_COOLDOWN_SECONDS: '0' } });
  });
  afterAll(async () => {
    await ext?.close();
    idp?.close();
  });

  it('creates the user on first sight with the token tier, and finds the same user again', async () => {
    const first = await restClient(ext.url, await token({})).get('/v1/auth/me');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ email: 'lin@corp.example', tier: 'pro' });
    const again = await restClient(ext.url, await token({ codex_tier: 'team' })).get('/v1/auth/me');
    expect(again.body).toMatchObject({ id: first.body.id, tier: 'team' });
    expect(await ext.services.db.user.count({ where: { externalSubject: { not: null } } })).toBe(1);
  });

  it('fetches the key set again for a kid it has not seen (provider key rotation)', async () => {
    await addKey('idp-key-2');
    expect((await restClient(ext.url, await token({}, 'idp-key-2')).get('/v1/auth/me')).status).toBe(200);
  });

  it.each([
    ['another audience', () => token({}, 'idp-key-1', { aud: 'https://someone-else' })],
    ['expired', () => token({}, 'idp-key-1', { exp: Math.floor(Date.now() / 1000) - 60 })],
    ['not yet valid', () => token({ nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['a kid the provider never published', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      return new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'idp-key-x' }).setIssuer(issuer).setAudience(AUDIENCE).setSubject('x').setExpirationTime('5m').sign(privateKey);
    }],
    ['alg none', async () => {
      const h = Buffer.from(JSON.stringify({ alg: 'none', kid: 'idp-key-1' })).toString('base64url');
      const p = Buffer.from(JSON.stringify({ iss: issuer, aud: AUDIENCE, sub: 'x', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
      return `${h}.${p}.`;
    }],
  ])('refuses %s with 401', async (_name, make) => {
    const res = await restClient(ext.url, await make()).get('/v1/auth/me');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('authentication_required');
  });
});

describe('logs', () => {
  it('never contain a password, key or token', () => {
    const logs = sys.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(logs).not.toContain(secret);
  });
});
