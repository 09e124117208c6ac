/**
 * Our access tokens as the spec's JWT structure shows them: the claims (email_verified, azp,
 * codex_tier, codex_subscription_id), the signing algorithm as a setting (RS256 here, ES256 by
 * default), rotation within and across algorithms, and verification by an independent client
 * (jose's remote key set) against /.well-known/jwks.json.
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, importPKCS8, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigningKey, SigningKeys } from '../../src/services/auth/signing-keys.js';
import { restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
const PASSWORD = 'correct horse battery staple';
let ada: { userId: string; apiKey: string };

const login = async () => {
  const res = await restClient(sys.url).post('/v1/auth/login', { email: 'ada@example.com', password: PASSWORD });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.access_token as string;
};
const me = (token: string) => restClient(sys.url, token).get('/v1/auth/me');
/** Verifies a token the way a resource server of ours would: only through the published JWKS. */
const verifyWithJwks = async (token: string) => {
  const jwks = createRemoteJWKSet(new URL(`${sys.url}/.well-known/jwks.json`), { cooldownDuration: 0 });
  return jwtVerify(token, jwks, { issuer: sys.config.jwtIssuer, audience: sys.config.jwtIssuer });
};
const reload = () => (sys.services.signingKeys as any).reload();

beforeAll(async () => {
  sys = await startTestSystem({ worker: false, env: { JWT_ALGORITHM: 'RS256', JWT_AUTHORIZED_PARTY: 'codex-cli', AUTH_CACHE_SECONDS: '0' } });
  ada = await sys.createUser('Ada', { email: 'ada@example.com', password: PASSWORD, tier: 'pro' });
});
afterAll(() => sys?.close());

describe('access token claims', () => {
  it('carries email, email_verified, azp, codex_tier and (once subscribed) codex_subscription_id', async () => {
    const before = decodeJwt(await login());
    expect(before).toMatchObject({ sub: ada.userId, email: 'ada@example.com', email_verified: false, azp: 'codex-cli', codex_tier: 'pro', iss: sys.config.jwtIssuer, aud: sys.config.jwtIssuer });
    expect(before).not.toHaveProperty('codex_subscription_id'); // no subscription yet
    const now = new Date();
    await sys.services.db.paidPlan.create({
      data: { id: 'sub_test_claims', userId: ada.userId, tier: 'pro', billingCycle: 'monthly', amountCents: 1500, currentPeriodStart: now, currentPeriodEnd: new Date(now.getTime() + 30 * 86_400_000) },
    });
    expect(decodeJwt(await login())).toMatchObject({ codex_subscription_id: 'sub_test_claims', codex_tier: 'pro' });
  });

  it('names the OAuth client in azp for a client-credentials token', async () => {
    const created = await restClient(sys.url, ada.apiKey).post('/v1/oauth/clients', { name: 'ci' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: created.body.id, client_secret: created.body.client_secret }).toString();
    const res = await restClient(sys.url).request('POST', '/v1/oauth/token', form, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(decodeJwt(res.body.access_token)).toMatchObject({ azp: created.body.id, client_id: created.body.id, codex_tier: 'pro', email_verified: false });
  });
});

describe('JWT_ALGORITHM=RS256', () => {
  it('signs with RS256 and publishes the key with alg RS256; jose verifies it through the JWKS', async () => {
    const token = await login();
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const jwks = (await restClient(sys.url).get('/.well-known/jwks.json')).body;
    const key = jwks.keys.find((k: any) => k.kid === decodeProtectedHeader(token).kid);
    expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(key.d).toBeUndefined();
    expect(key.p).toBeUndefined();
    const { payload, protectedHeader } = await verifyWithJwks(token);
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(ada.userId);
  });

  it('rotates RS256 → RS256 without logging anyone out', async () => {
    const before = await login();
    const newKid = await createSigningKey(sys.services.db, 'RS256');
    await reload();
    const after = await login();
    expect(decodeProtectedHeader(after)).toMatchObject({ alg: 'RS256', kid: newKid });
    expect((await me(before)).status).toBe(200);
    expect((await me(after)).status).toBe(200);
    await verifyWithJwks(before);
    await verifyWithJwks(after);
  });

  it('switching to ES256 at start-up makes an ES256 key the signer; RS256 tokens keep working until retired', async () => {
    const rsToken = await login();
    const rsKid = decodeProtectedHeader(rsToken).kid;
    // What a restart with JWT_ALGORITHM=ES256 does.
    await new SigningKeys(sys.services.db, 'ES256').init();
    await reload();
    const esToken = await login();
    expect(decodeProtectedHeader(esToken).alg).toBe('ES256');
    expect((await me(rsToken)).status).toBe(200);
    expect((await me(esToken)).status).toBe(200);
    const keys = (await restClient(sys.url).get('/.well-known/jwks.json')).body.keys;
    expect(keys.find((k: any) => k.kid === rsKid)).toMatchObject({ kty: 'RSA', alg: 'RS256' });
    expect(keys.find((k: any) => k.kid === decodeProtectedHeader(esToken).kid)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect((await verifyWithJwks(rsToken)).protectedHeader.alg).toBe('RS256');
    expect((await verifyWithJwks(esToken)).protectedHeader.alg).toBe('ES256');
    // A second start with the same setting keeps the signer (no needless rotation).
    const signers = await sys.services.db.signingKey.count({ where: { supersededAt: null } });
    await new SigningKeys(sys.services.db, 'ES256').init();
    expect(await sys.services.db.signingKey.count({ where: { supersededAt: null } })).toBe(signers);
    expect(await sys.services.db.signingKey.count({ where: { algorithm: 'ES256', retiredAt: null } })).toBe(1);

    // Rotation ES256 → ES256 keeps the earlier ES256 token valid too.
    const newKid = await createSigningKey(sys.services.db, 'ES256');
    await reload();
    const esToken2 = await login();
    expect(decodeProtectedHeader(esToken2)).toMatchObject({ alg: 'ES256', kid: newKid });
    expect((await me(esToken)).status).toBe(200);
    await verifyWithJwks(esToken2);

    // Retiring the superseded keys ends the tokens they signed (both algorithms).
    await sys.services.db.signingKey.updateMany({ where: { supersededAt: { not: null } }, data: { retiredAt: new Date() } });
    await reload();
    expect((await me(rsToken)).status).toBe(401);
    expect((await me(esToken)).status).toBe(401);
    expect((await me(esToken2)).status).toBe(200);
    expect((await restClient(sys.url).get('/.well-known/jwks.json')).body.keys.map((k: any) => k.kid)).toEqual([newKid]);
  });

  it('refuses a token whose header names another algorithm than its key', async () => {
    const token = await login();
    const { kid } = decodeProtectedHeader(token);
    const row = await sys.services.db.signingKey.findUniqueOrThrow({ where: { id: kid! } });
    const key = await importPKCS8(row.privateKeyPem, row.algorithm);
    const claims = decodeJwt(token);
    // Signed by the real key, so only the algorithm check can refuse it.
    const control = await new SignJWT(claims).setProtectedHeader({ alg: row.algorithm, kid, typ: 'at+jwt' }).sign(key);
    expect((await me(control)).status).toBe(200);
    const other = row.algorithm === 'ES256' ? 'RS256' : 'ES256';
    const forgedHeader = `${Buffer.from(JSON.stringify({ alg: other, kid, typ: 'at+jwt' })).toString('base64url')}.${control.split('.').slice(1).join('.')}`;
    const res = await me(forgedHeader);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('authentication_required');
  });
});
