/**
 * The GraphQL side of identity: key and OAuth-client management mutations, `node(id:)` isolation
 * for every resource type, and the operator command that creates accounts.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let alice: { userId: string; apiKey: string };
let mallory: { userId: string; apiKey: string };

beforeAll(async () => {
  sys = await startTestSystem();
  alice = await sys.createUser('Alice');
  mallory = await sys.createUser('Mallory');
});
afterAll(() => sys?.close());

const ok = async (key: string, query: string, variables?: Record<string, unknown>) => {
  const res = await graphql(sys.url, key, query, variables);
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data;
};

describe('key management over GraphQL', () => {
  it('creates a key whose secret is shown once, lists it, and revokes it with immediate effect', async () => {
    const created = (await ok(alice.apiKey, `mutation { createApiKey(input: { name: "ci", allowedCidrs: ["127.0.0.1/32"] }) { secret apiKey { id name kind prefix allowedCidrs revokedAt } } }`)).createApiKey;
    expect(created.secret).toMatch(/^cdx_sk_/);
    expect(created.apiKey).toMatchObject({ name: 'ci', kind: 'SECRET', prefix: created.secret.slice(0, 11), allowedCidrs: ['127.0.0.1/32'], revokedAt: null });
    const listed = (await ok(alice.apiKey, '{ apiKeys(first: 50) { edges { node { id } } } }')).apiKeys.edges.map((e: any) => e.node.id);
    expect(listed).toContain(created.apiKey.id);
    expect((await ok(created.secret, '{ viewer { id } }')).viewer.id).toBe(alice.userId);
    const revoked = (await ok(alice.apiKey, `mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }`, { id: created.apiKey.id })).revokeApiKey;
    expect(revoked.apiKey.revokedAt).not.toBeNull();
    const after = await graphql(sys.url, created.secret, '{ viewer { id } }');
    expect(after.status).toBe(401);
    expect(after.body.errors![0].extensions.code).toBe('AUTHENTICATION_REQUIRED');
  });

  it('answers an idempotent replay with the same key and no secret (it is not stored)', async () => {
    const mutation = `mutation($k: String) { createApiKey(input: { name: "deploy" }, idempotencyKey: $k) { secret replayed apiKey { id } } }`;
    const first = (await ok(alice.apiKey, mutation, { k: 'key-create-1' })).createApiKey;
    const again = (await ok(alice.apiKey, mutation, { k: 'key-create-1' })).createApiKey;
    expect(first.secret).toMatch(/^cdx_sk_/);
    expect(again).toEqual({ secret: null, replayed: true, apiKey: { id: first.apiKey.id } });
  });

  it('refuses a bad CIDR with the field named, creating nothing', async () => {
    const before = await sys.services.db.apiKey.count({ where: { userId: alice.userId } });
    const res = await graphql(sys.url, alice.apiKey, `mutation { createApiKey(input: { name: "x", allowedCidrs: ["10.0.0.0/33"] }) { secret } }`);
    expect(res.body.errors![0].extensions.code).toBe('VALIDATION_ERROR');
    expect(res.body.errors![0].message).toContain('allowed_cidrs.0');
    expect(await sys.services.db.apiKey.count({ where: { userId: alice.userId } })).toBe(before);
  });
});

describe("another tenant's ids", () => {
  it('are RESOURCE_NOT_FOUND through node(id:) for every resource type', async () => {
    const task = (await restClient(sys.url, alice.apiKey).post('/v1/agents/execute', executeBody())).body.task_id;
    const key = (await ok(alice.apiKey, `mutation { createApiKey(input: { name: "k" }) { apiKey { id } } }`)).createApiKey.apiKey.id;
    const team = (await ok(alice.apiKey, `mutation { createTeam(input: { name: "T" }) { team { id } } }`)).createTeam.team.id;
    const client = (await ok(alice.apiKey, `mutation { createOAuthClient(input: { name: "svc" }) { client { id } } }`)).createOAuthClient.client.id;
    for (const id of [task, key, team, client, alice.userId]) {
      const res = await graphql(sys.url, mallory.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id });
      expect(res.body.errors?.[0]?.extensions.code, id).toBe('RESOURCE_NOT_FOUND');
      expect(JSON.stringify(res.body)).not.toContain('Alice');
      // The owner reads each of them.
      expect((await ok(alice.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id })).node.id).toBe(id);
    }
  });

  it('make a teammate visible as a user, and only a teammate', async () => {
    const team = (await ok(alice.apiKey, `mutation { createTeam(input: { name: "Pair" }) { team { id } } }`)).createTeam.team.id;
    const query = `query($id: ID!) { node(id: $id) { ... on User { name } } }`;
    expect((await graphql(sys.url, mallory.apiKey, query, { id: alice.userId })).body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    const { invitation } = (await ok(alice.apiKey, `mutation($t: ID!, $u: ID!) { addTeamMember(teamId: $t, input: { userId: $u, role: VIEWER }) { invitation { id } } }`, { t: team, u: mallory.userId })).addTeamMember;
    // Invited is not yet a teammate.
    expect((await graphql(sys.url, mallory.apiKey, query, { id: alice.userId })).body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    await ok(mallory.apiKey, `mutation($id: ID!) { acceptTeamInvitation(id: $id) { member { role } } }`, { id: invitation.id });
    expect((await ok(mallory.apiKey, query, { id: alice.userId })).node).toEqual({ name: 'Alice' });
  });
});

describe('npm run admin', () => {
  /** Runs the admin command as an operator would (a process of its own); resolves with its exit. */
  const admin = (args: string[], input?: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/admin.ts', ...args], {
        cwd: new URL('../../', import.meta.url).pathname,
        env: { ...process.env, DATABASE_URL: sys.database.url, LOG_LEVEL: 'warn' },
        timeout: 120_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(input ?? '');
    });

  it('creates an account that signs in with the password read from standard input', async () => {
    const password = 'operator chosen password';
    const res = await admin(['user', 'create', '--email', 'Ops@Example.com', '--name', 'Ops', '--tier', 'team', '--password-stdin', '--with-key'], `${password}\n`);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/created user_\S+ <ops@example.com> tier team \(password set\)/);
    expect(res.stdout).not.toContain(password);
    const key = /(cdx_sk_\S+)/.exec(res.stdout)![1];
    const login = await restClient(sys.url).post('/v1/auth/login', { email: 'ops@example.com', password });
    expect(login.status).toBe(200);
    const me = await restClient(sys.url, login.body.access_token).get('/v1/auth/me');
    expect(me.body).toMatchObject({ email: 'ops@example.com', tier: 'team', name: 'Ops' });
    expect((await restClient(sys.url, key).get('/v1/auth/me')).body.id).toBe(me.body.id);
  });

  it('explains bad usage and exits non-zero without writing', async () => {
    const before = await sys.services.db.user.count();
    // Four processes at once: each spends most of its time starting up.
    const [noEmail, badTier, weak, unknown] = await Promise.all([
      admin(['user', 'create', '--name', 'X']),
      admin(['user', 'create', '--email', 'x@example.com', '--tier', 'gold']),
      admin(['user', 'create', '--email', 'weak@example.com', '--password-stdin'], 'short\n'),
      admin(['frobnicate']),
    ]);
    expect(noEmail.status).toBe(2);
    expect(noEmail.stderr).toContain('--email is required');
    expect(badTier.status).toBe(2);
    expect(badTier.stderr).toContain('--tier must be one of');
    expect(weak.status).toBe(2);
    expect(weak.stderr).toMatch(/password must be at least 10 characters/);
    expect(unknown.status).toBe(2);
    expect(await sys.services.db.user.count()).toBe(before);
  });
});
