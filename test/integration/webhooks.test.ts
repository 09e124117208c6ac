/**
 * Webhooks on the real system: subscriptions through REST and GraphQL, events from keys, teams and
 * tasks delivered to a real HTTP receiver that verifies every signature with the standardwebhooks
 * library (an implementation independent of ours), the retry schedule (scaled by
 * WEBHOOK_RETRY_SCHEDULE) attempt by attempt, disabling after the last retry and on 410 with an
 * e-mail to a real SMTP server (smtp-server), re-enabling with redelivery, a worker stopped between
 * attempts, and every SSRF case refused with its reason. The receiver listens on 127.0.0.2, the only
 * private address the operator allowance (WEBHOOK_ALLOWED_PRIVATE_CIDRS) admits here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execute, parse } from 'graphql';
import { schema } from '../../schema/index.js';
import { buildContext } from '../../src/context.js';
import { newId } from '../../src/ids.js';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { executeBody, joinTeam } from '../helpers/fixtures.js';
import { failGeneration } from '../../src/services/generations.js';
import { connectClient } from '../../src/temporal/connection.js';
import { TemporalAvailability } from '../../src/temporal/availability.js';
import { startWebhookDispatcher } from '../../src/services/webhooks/dispatcher.js';
import { DELIVERY_TOPIC, recordWebhookEvent } from '../../src/services/webhooks/events.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { inject } from 'vitest';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

type Answer = number | 'hang' | 'big' | { status: number; location: string };

/** An HTTP endpoint that records requests and answers per path with the statuses it is told (then 200). */
class Receiver {
  received: Received[] = [];
  private plans = new Map<string, Array<Answer>>();
  bigChunksWritten = 0;
  private server: Server;
  port = 0;
  constructor(private host: string) {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, body, at: Date.now() });
        const next = this.plans.get(path)?.shift() ?? 200;
        if (next === 'hang') return; // never answers
        if (next === 'big') {
          // 8 MB unless the client stops reading; count what was written.
          res.writeHead(200);
          const chunk = 'y'.repeat(64 * 1024);
          let i = 0;
          const more = () => {
            while (i < 128) {
              i++;
              this.bigChunksWritten = i;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end();
          };
          return more();
        }
        if (typeof next === 'object') res.writeHead(next.status, { location: next.location }).end();
        else res.writeHead(next, { 'content-type': 'text/plain' }).end(next === 200 ? 'ok' : `status ${next} ${'x'.repeat(10_000)}`);
      });
    });
  }
  async start() {
    await new Promise<void>((r) => this.server.listen(0, this.host, r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  url(path: string) {
    return `http://${this.host}:${this.port}${path}`;
  }
  /** Answers the next requests to `path` with these statuses (or redirects). */
  plan(path: string, ...answers: Answer[]) {
    this.plans.set(path, answers);
  }
  at(path: string) {
    return this.received.filter((r) => r.path === path);
  }
  close() {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Verifies a request as a receiver would, with the standardwebhooks library; returns the payload. */
function verify(secret: string, r: Received): any {
  return new StandardWebhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

const SCHEDULE = [0.3, 0.6, 0.9, 1.2, 1.5];
let sys: TestSystem;
let receiver: Receiver;
let smtp: SMTPServer;
const mails: string[] = [];
let owner: { userId: string; apiKey: string };
let api: ReturnType<typeof restClient>;
let other: ReturnType<typeof restClient>;
let otherUser: { userId: string; apiKey: string };
let worker: Awaited<ReturnType<TestSystem['startWorker']>>;

async function project(ownerId: string, teamId: string | null = null) {
  return sys.services.db.project.create({ data: { id: newId('project'), ownerId, teamId, name: 'Web app' } });
}

async function subscribe(projectId: string, path: string, events: string[], client = api) {
  const res = await client.post('/v1/webhooks', { project_id: projectId, url: receiver.url(path), events });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; secret: string };
}

beforeAll(async () => {
  receiver = await new Receiver('127.0.0.2').start();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      let text = '';
      stream.on('data', (c) => (text += c));
      stream.on('end', () => {
        mails.push(text);
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  sys = await startTestSystem({
    worker: false,
    env: {
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
      WEBHOOK_RETRY_SCHEDULE: SCHEDULE.join(','),
      WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789',
      WEBHOOK_SWEEP_SECONDS: '1',
      WEBHOOK_TIMEOUT_MS: '3000',
      WEBHOOK_CLAIM_LEASE_SECONDS: '8',
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    },
  });
  worker = await sys.startWorker();
  owner = await sys.createUser('Hook owner', { email: 'owner@example.com' });
  otherUser = await sys.createUser('Someone else');
  api = restClient(sys.url, owner.apiKey);
  other = restClient(sys.url, otherUser.apiKey);
});
afterAll(async () => {
  await sys?.close();
  await receiver?.close();
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
});
beforeEach(async () => {
  // Each test subscribes its own endpoints; earlier ones would also receive its account-wide events.
  await sys.services.db.webhook.deleteMany({});
  receiver.received = [];
});

describe('subscriptions', () => {
  it('creates, reads, lists, changes and deletes a subscription; the secret is shown once', async () => {
    const p = await project(owner.userId);
    const created = await api.post('/v1/webhooks', { project_id: p.id, url: receiver.url('/crud'), events: ['task.completed', 'key.*'], description: 'CI' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^whk_/), object: 'webhook', project_id: p.id, events: ['task.completed', 'key.*'], enabled: true, description: 'CI' });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const got = await api.get(`/v1/webhooks/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain(created.body.secret);
    const listed = await api.get(`/v1/webhooks?project_id=${p.id}`);
    expect(listed.body.data.map((w: any) => w.id)).toEqual([created.body.id]);
    const patched = await api.request('PATCH', `/v1/webhooks/${created.body.id}`, { events: ['*'], url: receiver.url('/crud2') });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ['*'], url: receiver.url('/crud2') });
    const gql = await graphql(sys.url, owner.apiKey, 'query($id: ID!) { webhook(id: $id) { id url eventTypes enabled } webhookEventTypes }', { id: created.body.id });
    expect(gql.body.data.webhook).toEqual({ id: created.body.id, url: receiver.url('/crud2'), eventTypes: ['*'], enabled: true });
    expect(gql.body.data.webhookEventTypes).toContain('task.completed');
    const deleted = await api.delete(`/v1/webhooks/${created.body.id}`);
    expect(deleted.body).toEqual({ id: created.body.id, object: 'webhook', deleted: true });
    expect((await api.get(`/v1/webhooks/${created.body.id}`)).status).toBe(404);
  });

  it('refuses bad input with the field and how to fix it, and creates nothing', async () => {
    const p = await project(owner.userId);
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ project_id: p.id, url: 'not a url', events: ['task.completed'] }, 422, 'url'],
      [{ project_id: p.id, url: 'ftp://example.com/x', events: ['task.completed'] }, 422, 'url'],
      [{ project_id: p.id, url: 'https://user:pw@example.com/x', events: ['task.completed'] }, 422, 'url'],
      [{ project_id: p.id, url: receiver.url('/x'), events: [] }, 422, 'events'],
      [{ project_id: p.id, url: receiver.url('/x'), events: ['task.exploded'] }, 422, 'events.0'],
      [{ project_id: p.id, url: receiver.url('/x'), events: ['task.completed'], secret: 'hunter2' }, 422, 'secret'],
      [{ project_id: p.id, url: receiver.url('/x'), events: ['task.completed'], secret: 'whsec_c2hvcnQ=' }, 422, 'secret'],
    ];
    for (const [body, status, field] of cases) {
      const res = await api.post('/v1/webhooks', body);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    }
    const missing = await api.post('/v1/webhooks', { project_id: newId('project'), url: receiver.url('/x'), events: ['*'] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('resource_not_found');
    expect(await sys.services.db.webhook.count({ where: { projectId: p.id } })).toBe(0);
  });

  it("answers 404 for another account's project, webhook and deliveries", async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/private', ['*']);
    expect((await other.post('/v1/webhooks', { project_id: p.id, url: receiver.url('/x'), events: ['*'] })).status).toBe(404);
    for (const [method, path, body] of [
      ['GET', `/v1/webhooks/${w.id}`],
      ['PATCH', `/v1/webhooks/${w.id}`, { enabled: false }],
      ['DELETE', `/v1/webhooks/${w.id}`],
      ['POST', `/v1/webhooks/${w.id}/test`, {}],
      ['POST', `/v1/webhooks/${w.id}/rotate-secret`, {}],
      ['GET', `/v1/webhooks/${w.id}/deliveries`],
    ] as const) {
      const res = await other.request(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    expect((await other.get(`/v1/webhooks?project_id=${p.id}`)).status).toBe(404);
    expect((await other.get('/v1/webhooks')).body.data).toEqual([]);
    expect((await api.get(`/v1/webhooks/${w.id}`)).body.enabled).toBe(true);
  });

  it('refuses bad changes and keeps the subscription as it was', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/patch', ['task.completed']);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ events: ['nope'] }, 'events.0'],
      [{ events: [] }, 'events'],
      [{ url: 'http://10.9.8.7/x' }, 'url'],
      [{ redeliver_missed: true }, 'redeliver_missed'],
      [{ description: 'x'.repeat(501) }, 'description'],
    ];
    for (const [body, field] of cases) {
      const res = await api.request('PATCH', `/v1/webhooks/${w.id}`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    }
    const unknown = await api.request('PATCH', `/v1/webhooks/${w.id}`, { secret: 'whsec_x' });
    expect([400, 422]).toContain(unknown.status);
    expect((await api.get(`/v1/webhooks/${w.id}`)).body).toMatchObject({ url: receiver.url('/patch'), events: ['task.completed'], enabled: true, description: '' });
    const badStatus = await api.get(`/v1/webhooks/${w.id}/deliveries?status=lost`);
    expect(badStatus.status).toBe(422);
    expect(badStatus.body.error.details[0].field).toBe('status');
    expect((await api.get(`/v1/webhooks/whk_nope/deliveries`)).status).toBe(404);
    expect((await api.post('/v1/webhooks/deliveries/whd_nope/redeliver', {})).status).toBe(404);
  });

  it('returns the first result for a repeated Idempotency-Key and refuses it with another body', async () => {
    const p = await project(owner.userId);
    const body = { project_id: p.id, url: receiver.url('/idem'), events: ['task.completed'] };
    const a = await api.post('/v1/webhooks', body, { 'idempotency-key': 'wh-idem-1' });
    const b = await api.post('/v1/webhooks', body, { 'idempotency-key': 'wh-idem-1' });
    expect(a.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.secret).toBe(a.body.secret);
    const c = await api.post('/v1/webhooks', { ...body, events: ['*'] }, { 'idempotency-key': 'wh-idem-1' });
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe('idempotency_conflict');
    expect(await sys.services.db.webhook.count({ where: { projectId: p.id } })).toBe(1);
  });

  it('lets a publishable key read webhooks only when its creator allowed it, never create them, and documents the routes', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/pk', ['*']);
    const byDefault = await api.post('/v1/keys', { name: 'default browser', kind: 'publishable' });
    expect((await restClient(sys.url, byDefault.body.secret).get(`/v1/webhooks/${w.id}`)).status).toBe(403);
    const pub = await api.post('/v1/keys', { name: 'browser', kind: 'publishable', read_resources: ['webhooks'] });
    const pk = restClient(sys.url, pub.body.secret);
    expect((await pk.get(`/v1/webhooks/${w.id}`)).status).toBe(200);
    const denied = await pk.post('/v1/webhooks', { project_id: p.id, url: receiver.url('/pk2'), events: ['*'] });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('permission_denied');
    const spec = await api.get('/v1/openapi.json');
    for (const path of ['/v1/webhooks', '/v1/webhooks/{webhook_id}', '/v1/webhooks/{webhook_id}/test', '/v1/webhooks/{webhook_id}/deliveries', '/v1/webhooks/deliveries/{delivery_id}/redeliver']) {
      expect(spec.body.paths[path], path).toBeDefined();
    }
  });

  it('creates and changes webhooks through GraphQL mutations, with the same rules', async () => {
    const p = await project(owner.userId);
    const create = `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id projectId eventTypes enabled } } }`;
    const ok = await graphql(sys.url, owner.apiKey, create, { input: { projectId: p.id, url: receiver.url('/gql'), eventTypes: ['task.*'] } });
    expect(ok.body.data.createWebhook.secret).toMatch(/^whsec_/);
    const id = ok.body.data.createWebhook.webhook.id;
    const bad = await graphql(sys.url, owner.apiKey, create, { input: { projectId: p.id, url: 'http://10.0.0.1/', eventTypes: ['task.*'] } });
    expect(bad.body.errors![0].extensions.code).toBe('VALIDATION_ERROR');
    const hidden = await graphql(sys.url, otherUser.apiKey, create, { input: { projectId: p.id, url: receiver.url('/gql'), eventTypes: ['*'] } });
    expect(hidden.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    const upd = await graphql(sys.url, owner.apiKey, 'mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { webhook { enabled disabledReason } } }', { id });
    expect(upd.body.data.updateWebhook.webhook).toEqual({ enabled: false, disabledReason: 'Disabled through the API.' });
    const pub = await api.post('/v1/keys', { name: 'read only', kind: 'publishable' });
    const denied = await graphql(sys.url, pub.body.secret, 'mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id });
    expect(denied.body.errors![0].extensions.code).toBe('PERMISSION_DENIED');
    const deleted = await graphql(sys.url, owner.apiKey, 'mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id });
    expect(deleted.body.data.deleteWebhook.id).toBe(id);
  });

  it('allows at most 25 endpoints per project', async () => {
    const p = await project(owner.userId);
    for (let i = 0; i < 25; i++) await subscribe(p.id, `/limit-${i}`, ['task.completed']);
    const res = await api.post('/v1/webhooks', { project_id: p.id, url: receiver.url('/limit-26'), events: ['task.completed'] });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'webhook_limit_reached', message: expect.stringContaining('at most 25') });
    expect(await sys.services.db.webhook.count({ where: { projectId: p.id } })).toBe(25);
  });
});

describe('events and signatures', () => {
  it('delivers key lifecycle events signed with the secret (verified by standardwebhooks)', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/keys', ['key.*']);
    const key = await api.post('/v1/keys', { name: 'deploy' });
    expect(key.status).toBe(201);
    const keyId = key.body.id;
    await api.delete(`/v1/keys/${keyId}`);
    const got = await waitFor(async () => (receiver.at('/keys').length >= 2 ? receiver.at('/keys') : undefined), 20_000);
    const payloads = got.map((r) => verify(w.secret, r));
    expect(payloads.map((x) => x.type).sort()).toEqual(['key.created', 'key.revoked']);
    for (const [i, x] of payloads.entries()) {
      expect(x).toMatchObject({ id: expect.stringMatching(/^evt_/), resource_id: keyId, created_at: expect.any(String), data: expect.objectContaining({ key_id: keyId }) });
      expect(got[i].headers['webhook-id']).toBe(x.id);
    }
    expect(got[0].body).not.toContain('cdx_sk_');
    expect(() => verify('whsec_' + Buffer.alloc(24, 7).toString('base64'), got[0])).toThrow();
    // The receiver has the requests before the gateway has their answers: wait until both are recorded.
    const history = await waitFor(async () => {
      const res = await api.get(`/v1/webhooks/${w.id}/deliveries`);
      return res.body.data.length === 2 && res.body.data.every((d: { status: string }) => d.status !== 'pending') ? res : undefined;
    }, 20_000);
    expect(history.body.data).toHaveLength(2);
    expect(history.body.data[0]).toMatchObject({ status: 'succeeded', attempt_count: 1, attempts: [{ number: 1, status_code: 200, response_body: 'ok', succeeded: true, latency_ms: expect.any(Number) }] });
  });

  it('delivers task completion to the subscriptions of the owner\'s projects only, filtered by type', async () => {
    const p = await project(owner.userId);
    const tasks = await subscribe(p.id, '/tasks', ['task.completed']);
    await subscribe(p.id, '/orchestrations-only', ['orchestration.*']);
    const theirs = await project(otherUser.userId);
    await subscribe(theirs.id, '/theirs', ['*'], other);
    const started = await api.post('/v1/agents/execute', executeBody());
    expect(started.status).toBe(202);
    const [r] = await waitFor(async () => (receiver.at('/tasks').length ? receiver.at('/tasks') : undefined), 60_000);
    const payload = verify(tasks.secret, r);
    expect(payload).toMatchObject({ type: 'task.completed', resource_id: started.body.task_id, data: { task_id: started.body.task_id, status: 'completed', agent_type: 'security_expert' } });
    expect(receiver.at('/orchestrations-only')).toEqual([]);
    expect(receiver.at('/theirs')).toEqual([]);
  });

  it('delivers review completion, project index updates and generation ends to the project\'s subscriptions', async () => {
    const created = await api.post('/v1/projects', { name: 'indexed', languages: ['typescript'], files: [{ path: 'src/a.ts', content: 'export const a = 1;\n' }] });
    expect(created.status).toBe(201);
    const projectId = created.body.id;
    const hook = await subscribe(projectId, '/work', ['review.*', 'project.index_updated', 'generation.failed']);
    const other = await project(owner.userId); // another project of the same owner hears none of it
    await subscribe(other.id, '/other-project', ['*']);
    const index = verify(hook.secret, (await waitFor(async () => receiver.at('/work').find((r) => JSON.parse(r.body).type === 'project.index_updated'), 60_000)));
    expect(index).toMatchObject({ resource_id: projectId, data: { project_id: projectId, status: 'completed', stats: { files_indexed: 1 } } });

    const review = await api.post('/v1/reviews', { file: { path: 'src/b.ts', content: 'try { go(); } catch (e) {}\n' }, project_id: projectId });
    expect(review.body.status).toBe('completed');
    const reviewed = verify(hook.secret, (await waitFor(async () => receiver.at('/work').find((r) => JSON.parse(r.body).type === 'review.completed'), 60_000)));
    expect(reviewed).toMatchObject({ resource_id: review.body.id, data: { review_id: review.body.id, status: 'completed', score: review.body.score, issue_count: 1, files_reviewed: 1 } });

    // A generation's end (here a failure, as this server has no model) raises its event in the same transaction.
    const generation = await sys.services.db.generation.create({ data: { id: newId('generation'), ownerId: owner.userId, projectId, prompt: 'x', promptTokenCount: 1 } });
    await failGeneration(sys.services, generation.id, { code: 'agent_error', message: 'The model did not answer.' });
    await failGeneration(sys.services, generation.id, { code: 'agent_error', message: 'again' }); // already ended: no second event
    const failed = verify(hook.secret, (await waitFor(async () => receiver.at('/work').find((r) => JSON.parse(r.body).type === 'generation.failed'), 60_000)));
    expect(failed).toMatchObject({ resource_id: generation.id, data: { generation_id: generation.id, status: 'failed', error: { message: 'The model did not answer.' } } });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.at('/work').filter((r) => JSON.parse(r.body).type === 'generation.failed')).toHaveLength(1);
    expect(receiver.at('/other-project')).toEqual([]);
  });

  it('delivers team membership changes to the subscriptions of the team\'s projects', async () => {
    const team = await api.post('/v1/teams', { name: 'Hooks team' });
    const p = await project(owner.userId, team.body.id);
    const w = await subscribe(p.id, '/team', ['team.*']);
    await joinTeam(sys.url, owner.apiKey, team.body.id, otherUser, 'viewer');
    const [r] = await waitFor(async () => (receiver.at('/team').length ? receiver.at('/team') : undefined), 20_000);
    expect(verify(w.secret, r)).toMatchObject({ type: 'team.member_added', resource_id: team.body.id, data: { user_id: otherUser.userId, role: 'viewer' } });
    // A viewer of the team sees the team's webhooks but cannot change them.
    expect((await other.get(`/v1/webhooks/${w.id}`)).status).toBe(200);
    expect((await other.get(`/v1/webhooks?team_id=${team.body.id}`)).body.data.map((x: any) => x.id)).toEqual([w.id]);
    expect((await other.get('/v1/webhooks')).body.data).toEqual([]); // personal scope: none of theirs
    const denied = await other.request('PATCH', `/v1/webhooks/${w.id}`, { enabled: false });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('permission_denied');
  });

  it('e-mails a team invitation through SMTP, also to an address that has no account yet', async () => {
    const team = await api.post('/v1/teams', { name: 'Mail team' });
    const invited = await api.post(`/v1/teams/${team.body.id}/members`, { email: 'newcomer@mail.test', role: 'viewer' });
    expect(invited.status).toBe(202);
    const mail = await waitFor(async () => mails.find((m) => m.replace(/=\r?\n/g, '').includes(invited.body.id)), 10_000);
    expect(mail).toContain('newcomer@mail.test');
    expect(mail.replace(/=\r?\n/g, '')).toContain(`/v1/invitations/${invited.body.id}/accept`);
  });

  it("stops sending a team's events to the endpoint of a member removed from it, while a remaining member's endpoint keeps them", async () => {
    const team = (await api.post('/v1/teams', { name: 'Leavers' })).body;
    const leaver = await sys.createUser('Leaving member');
    const newcomer = await sys.createUser('Newcomer');
    await joinTeam(sys.url, owner.apiKey, team.id, leaver, 'member');
    const p = await project(owner.userId, team.id);
    const stays = await subscribe(p.id, '/stays', ['team.*']);
    const left = await subscribe(p.id, '/left', ['team.*'], restClient(sys.url, leaver.apiKey));
    // While a member, the leaver's endpoint hears the team's events.
    await joinTeam(sys.url, owner.apiKey, team.id, newcomer, 'viewer');
    await waitFor(async () => (receiver.at('/left').length === 1 && receiver.at('/stays').length === 1 ? true : undefined), 20_000);
    expect(verify(left.secret, receiver.at('/left')[0])).toMatchObject({ type: 'team.member_added', data: { user_id: newcomer.userId } });

    expect((await api.delete(`/v1/teams/${team.id}/members/${leaver.userId}`)).status).toBe(200);
    await api.request('PATCH', `/v1/teams/${team.id}/members/${newcomer.userId}`, { role: 'member' });
    await waitFor(async () => (receiver.at('/stays').length === 3 ? true : undefined), 20_000);
    const heard = receiver.at('/stays').map((r) => verify(stays.secret, r)).map((e) => `${e.data.user_id} ${e.type}`);
    expect(heard.sort()).toEqual([`${newcomer.userId} team.member_added`, `${leaver.userId} team.member_removed`, `${newcomer.userId} team.member_role_changed`].sort());
    // The leaver's endpoint got nothing more: each delivery ended skipped, with the reason, and no attempt.
    const skipped = await waitFor(async () => {
      const rows = await sys.services.db.webhookDelivery.findMany({ where: { webhookId: left.id, status: { not: 'succeeded' } }, include: { attempts: true } });
      return rows.length === 2 && rows.every((d) => d.status === 'skipped') ? rows : undefined;
    }, 20_000);
    expect(skipped.map((d) => [d.attempts.length, (d.error as { code: string }).code])).toEqual([
      [0, 'endpoint_owner_lost_access'],
      [0, 'endpoint_owner_lost_access'],
    ]);
    expect(receiver.at('/left')).toHaveLength(1);
    expect((await restClient(sys.url, leaver.apiKey).get(`/v1/webhooks/${left.id}`)).status).toBe(404);
    // The team's owner sees why in the delivery list.
    const listed = await api.get(`/v1/webhooks/${left.id}/deliveries?status=skipped`);
    expect(listed.body.data).toHaveLength(2);
    expect(listed.body.data[0]).toMatchObject({ status: 'skipped', attempt_count: 0, error: { code: 'endpoint_owner_lost_access', message: expect.stringContaining('can no longer see') } });
  });

  it('signs with both secrets during a rotation; each one verifies', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/rotate', ['webhook.ping']);
    const rotated = await api.post(`/v1/webhooks/${w.id}/rotate-secret`, {}, { 'idempotency-key': 'rotate-1' });
    expect(rotated.status).toBe(200);
    expect((await api.post(`/v1/webhooks/${w.id}/rotate-secret`, {}, { 'idempotency-key': 'rotate-1' })).body.secret).toBe(rotated.body.secret);
    expect(rotated.body.secret).not.toBe(w.secret);
    expect(rotated.body.previous_secret_expires_at).toEqual(expect.any(String));
    const ping = await api.post(`/v1/webhooks/${w.id}/test`, {}, { 'idempotency-key': 'ping-1' });
    expect(ping.status).toBe(200);
    expect((await api.post(`/v1/webhooks/${w.id}/test`, {}, { 'idempotency-key': 'ping-1' })).body.id).toBe(ping.body.id);
    expect(receiver.at('/rotate')).toHaveLength(1);
    expect(ping.body).toMatchObject({ event_type: 'webhook.ping', status: 'succeeded', attempts: [{ number: 1, status_code: 200, succeeded: true }] });
    const [r] = receiver.at('/rotate');
    expect(String(r.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verify(w.secret, r).type).toBe('webhook.ping');
    expect(verify(rotated.body.secret, r).type).toBe('webhook.ping');
  });

  it('two rotations at once: each caller gets the secret it issued, and the later one keeps the earlier as previous', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/rotate-race', ['webhook.ping']);
    const [a, b] = await Promise.all([api.post(`/v1/webhooks/${w.id}/rotate-secret`, {}), api.post(`/v1/webhooks/${w.id}/rotate-secret`, {})]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.secret).not.toBe(b.body.secret);
    await api.post(`/v1/webhooks/${w.id}/test`, {});
    const [r] = receiver.at('/rotate-race');
    // The current and the previous secret are the two issued: both callers' receivers verify.
    expect(verify(a.body.secret, r).type).toBe('webhook.ping');
    expect(verify(b.body.secret, r).type).toBe('webhook.ping');
    expect(() => verify(w.secret, r)).toThrow();
  });
});

describe('retries and disabling', () => {
  it('retries on the schedule attempt by attempt, then disables the endpoint and notifies its owner', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/down', ['key.created']);
    receiver.plan('/down', 500, 502, 503, 500, 500, 500);
    await api.post('/v1/keys', { name: 'trigger' });
    const disabled = await waitFor(async () => {
      const x = (await api.get(`/v1/webhooks/${w.id}`)).body;
      return x.enabled ? undefined : x;
    }, 60_000);
    expect(disabled.disabled_reason).toMatch(/failed 6 times/);
    const got = receiver.at('/down');
    expect(got).toHaveLength(6);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1); // one event, six attempts
    for (const r of got) verify(w.secret, r);
    for (let i = 1; i < got.length; i++) expect(got[i].at - got[i - 1].at).toBeGreaterThanOrEqual(SCHEDULE[i - 1] * 1000 - 50);
    const [delivery] = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 6, next_attempt_at: null });
    expect(delivery.attempts.map((a: any) => [a.number, a.status_code, a.succeeded])).toEqual([
      [1, 500, false],
      [2, 502, false],
      [3, 503, false],
      [4, 500, false],
      [5, 500, false],
      [6, 500, false],
    ]);
    expect(delivery.attempts[0].response_body.length).toBeLessThanOrEqual(4096); // truncated
    const notes = await sys.services.db.notification.findMany({ where: { userId: owner.userId, type: 'webhook.disabled' } });
    expect(notes).toHaveLength(1);
    expect(notes[0].message).toContain(w.id);
    const listedNotes = await api.get('/v1/notifications');
    expect(listedNotes.body.data[0]).toMatchObject({ object: 'notification', type: 'webhook.disabled', data: { webhook_id: w.id, reason: 'exhausted' } });
    // Quoted-printable may fold long lines (=\r\n); unfold before looking for the id.
    const mail = await waitFor(async () => mails.find((m) => m.replace(/=\r?\n/g, '').includes(w.id)), 10_000);
    expect(mail).toContain('owner@example.com');

    // While disabled, events are recorded as missed; enabling with redeliver_missed sends them and the failed one.
    await api.post('/v1/keys', { name: 'while disabled' });
    await waitFor(async () => ((await api.get(`/v1/webhooks/${w.id}`)).body.missed_deliveries === 1 ? true : undefined), 10_000);
    expect(receiver.at('/down')).toHaveLength(6);
    // Two enables at once: one of them enables and redelivers, the other finds it enabled (nothing sent twice).
    const both = await Promise.all([1, 2].map(() => api.request('PATCH', `/v1/webhooks/${w.id}`, { enabled: true, redeliver_missed: true })));
    expect(both.map((r) => r.body.redelivered).sort()).toEqual([0, 2]);
    expect(both[0].body).toMatchObject({ enabled: true, disabled_reason: null });
    const after = await waitFor(async () => (receiver.at('/down').length >= 8 ? receiver.at('/down') : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(receiver.at('/down')).toHaveLength(8);
    const names = after.slice(6).map((r) => verify(w.secret, r).data.name).sort();
    expect(names).toEqual(['trigger', 'while disabled']);
    expect(after[6].headers['webhook-id'] === got[0].headers['webhook-id'] || after[7].headers['webhook-id'] === got[0].headers['webhook-id']).toBe(true);
  });

  it('disables at once on 410 Gone', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/gone', ['key.created']);
    receiver.plan('/gone', 410);
    await api.post('/v1/keys', { name: 'gone' });
    const x = await waitFor(async () => {
      const y = (await api.get(`/v1/webhooks/${w.id}`)).body;
      return y.enabled ? undefined : y;
    }, 30_000);
    expect(x.disabled_reason).toMatch(/410/);
    expect(receiver.at('/gone')).toHaveLength(1);
    const [delivery] = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 1, attempts: [{ status_code: 410 }] });
    const redo = await api.post(`/v1/webhooks/deliveries/${delivery.id}/redeliver`, {});
    expect(redo.status).toBe(409);
    expect(redo.body.error.code).toBe('webhook_disabled');
  });

  it('redelivers a delivery on request, with the same webhook-id', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/again', ['key.created']);
    await api.post('/v1/keys', { name: 'again' });
    const [first] = await waitFor(async () => (receiver.at('/again').length ? receiver.at('/again') : undefined), 20_000);
    const [delivery] = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
    const redo = await api.post(`/v1/webhooks/deliveries/${delivery.id}/redeliver`, {}, { 'idempotency-key': 'redo-1' });
    expect(redo.status).toBe(202);
    expect(redo.body).toMatchObject({ redelivery_of: delivery.id, event_id: delivery.event_id });
    const same = await api.post(`/v1/webhooks/deliveries/${delivery.id}/redeliver`, {}, { 'idempotency-key': 'redo-1' });
    expect(same.body.id).toBe(redo.body.id);
    const got = await waitFor(async () => (receiver.at('/again').length >= 2 ? receiver.at('/again') : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.at('/again')).toHaveLength(2);
    expect(got[1].headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect((await other.post(`/v1/webhooks/deliveries/${delivery.id}/redeliver`, {})).status).toBe(404);
  });

  it('loses and doubles nothing when the worker stops between attempts and between event and start', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/restart', ['key.created']);
    receiver.plan('/restart', 500);
    await api.post('/v1/keys', { name: 'before stop' });
    await waitFor(async () => (receiver.at('/restart').length ? true : undefined), 20_000);
    await worker.close(); // between attempt 1 and its retry (or just after the retry, on a slow machine)
    await api.post('/v1/keys', { name: 'while stopped' }); // stored, announced to nobody
    await new Promise((r) => setTimeout(r, SCHEDULE[0] * 1000 + 1000));
    const names = () => receiver.at('/restart').map((r) => verify(w.secret, r).data.name);
    expect(names()).not.toContain('while stopped'); // no worker: nothing started it
    worker = await sys.startWorker(); // its sweep starts the stored delivery
    const deliveries = await waitFor(async () => {
      const d = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
      return d.length === 2 && d.every((x: any) => x.status === 'succeeded') ? d : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const byName = (n: string) => names().filter((x) => x === n).length;
    const before = deliveries.find((d: any) => d.attempts.length === 2);
    expect(before.attempts.map((a: any) => a.status_code)).toEqual([500, 200]);
    expect(byName('before stop')).toBe(2); // one request per recorded attempt
    expect(byName('while stopped')).toBe(1);
  });
});

describe('first attempts sent by the dispatcher', () => {
  /**
   * Another dispatcher on this system's database and bus (as in a second worker process), with its
   * own prune schedule id so that closing it leaves the worker's schedule alone.
   */
  function extraDispatcher(overrides: { temporal?: TestSystem['services']['temporal']; WEBHOOK_DIRECT_CONCURRENCY?: number } = {}) {
    const { temporal = sys.services.temporal, ...config } = overrides;
    return startWebhookDispatcher({ ...sys.services, temporal, config: { ...sys.config, ...config, TASK_QUEUE_PREFIX: `${sys.config.TASK_QUEUE_PREFIX}-${newId('webhookEvent')}` } });
  }

  /** Stores `n` key.created events for project `projectId` without announcing them: no dispatcher knows of them yet. */
  async function recordSilently(projectId: string, names: string[]) {
    const ids: string[] = [];
    for (const name of names) {
      ids.push(...(await recordWebhookEvent(sys.services.db, { type: 'key.created', resourceId: newId('apiKey'), ownerId: owner.userId, projectId, data: { name } })).deliveryIds);
    }
    return ids;
  }

  const deliveryRow = (id: string) => sys.services.db.webhookDelivery.findUniqueOrThrow({ where: { id }, include: { attempts: { orderBy: { number: 'asc' } } } });
  const workflowExists = (id: string) =>
    sys.services.temporal.workflow
      .getHandle(id)
      .describe()
      .then(
        () => true,
        () => false,
      );

  it('sends attempt 1 with no workflow; a failed one goes on in a workflow (id = delivery id) at attempt 2 after the first delay', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/direct', ['key.created']);
    await api.post('/v1/keys', { name: 'direct' });
    const [ok] = await waitFor(async () => {
      const d = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
      return d[0]?.status === 'succeeded' ? d : undefined;
    }, 20_000);
    expect(ok).toMatchObject({ attempt_count: 1, next_attempt_at: null });
    expect(ok.attempts.map((a: any) => [a.number, a.status_code])).toEqual([[1, 200]]);
    const row = await deliveryRow(ok.id);
    expect(row.claimedAt).not.toBeNull();
    expect(row.dispatchedAt).toBeNull();
    expect(await workflowExists(ok.id)).toBe(false);

    receiver.plan('/direct', 503);
    await api.post('/v1/keys', { name: 'retried' });
    const retried = await waitFor(async () => {
      const d = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data.find((x: any) => x.id !== ok.id);
      return d?.status === 'succeeded' ? d : undefined;
    }, 20_000);
    expect(retried.attempts.map((a: any) => [a.number, a.status_code])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    const got = receiver.at('/direct').slice(1);
    expect(got).toHaveLength(2);
    expect(got[1].at - got[0].at).toBeGreaterThanOrEqual(SCHEDULE[0] * 1000 - 50);
    expect((await deliveryRow(retried.id)).dispatchedAt).not.toBeNull();
    const history = await sys.services.temporal.workflow.getHandle(retried.id).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    expect(JSON.parse(Buffer.from(input!).toString())).toMatchObject({ deliveryId: retried.id, firstAttempt: 2 });
  });

  it('sends each delivery once when several dispatchers are announced the same ids, at most WEBHOOK_DIRECT_CONCURRENCY at a time', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/claims', ['key.created']);
    const names = Array.from({ length: 12 }, (_, i) => `claim ${i}`);
    const ids = await recordSilently(p.id, names);
    expect(ids).toHaveLength(12);
    const one = extraDispatcher({ WEBHOOK_DIRECT_CONCURRENCY: 2 });
    const two = extraDispatcher({ WEBHOOK_DIRECT_CONCURRENCY: 2 });
    try {
      // On the bus (every dispatcher, the worker's too) and to each extra one directly, all at once.
      await sys.services.bus.broadcast(DELIVERY_TOPIC, ids.join(','));
      one.dispatch(ids);
      two.dispatch(ids);
      await waitFor(async () => (receiver.at('/claims').length >= 12 ? true : undefined), 20_000);
      await new Promise((r) => setTimeout(r, 1500));
      const got = receiver.at('/claims').map((r) => verify(w.secret, r).data.name as string);
      expect(got.sort()).toEqual([...names].sort());
      const rows = await Promise.all(ids.map(deliveryRow));
      expect(rows.map((r) => [r.status, r.attempts.length])).toEqual(ids.map(() => ['succeeded', 1]));
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('waits in close() for its attempts in flight, and sends no more than its bound at once', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/slow', ['key.created']);
    receiver.plan('/slow', 'hang', 'hang'); // each ends at WEBHOOK_TIMEOUT_MS (3 s)
    const ids = await recordSilently(p.id, ['slow 1', 'slow 2', 'slow 3']);
    // Recorded "in the future": the worker's sweep leaves the unclaimed one alone until close().
    await sys.services.db.webhookDelivery.updateMany({ where: { id: { in: ids } }, data: { createdAt: new Date(Date.now() + 60_000) } });
    const bounded = extraDispatcher({ WEBHOOK_DIRECT_CONCURRENCY: 2 });
    bounded.dispatch(ids);
    await waitFor(async () => (receiver.at('/slow').length >= 2 ? true : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.at('/slow')).toHaveLength(2); // the third waits for a free slot
    const claimed = await sys.services.db.webhookDelivery.count({ where: { id: { in: ids }, claimedAt: { not: null } } });
    expect(claimed).toBe(2); // queued ones stay unclaimed
    await bounded.close();
    await sys.services.db.webhookDelivery.updateMany({ where: { id: { in: ids } }, data: { createdAt: new Date() } });
    // Both attempts timed out and were recorded, each handed to its retry workflow, before close() returned.
    const rows = await Promise.all(ids.map(deliveryRow));
    const sent = rows.filter((r) => r.attempts.length === 1);
    expect(sent).toHaveLength(2);
    for (const r of sent) expect(r.attempts[0]).toMatchObject({ number: 1, succeeded: false, statusCode: null });
    // The one it never claimed is the sweep's: the worker's dispatcher sends it (attempt 1) in a workflow.
    await waitFor(async () => {
      const all = await Promise.all(ids.map(deliveryRow));
      return all.every((r) => r.status === 'succeeded') ? all : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const byName = receiver.at('/slow').map((r) => verify(w.secret, r).data.name as string);
    expect(byName.filter((n) => n === 'slow 3')).toHaveLength(1);
    expect(byName).toHaveLength(5); // two timed out and retried once each, the third sent once
  });

  it('records nothing and logs no failure when the endpoint is deleted while its first attempt waits for an answer', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/deleted', ['key.created']);
    receiver.plan('/deleted', 'hang'); // ends at WEBHOOK_TIMEOUT_MS (3 s)
    const logsBefore = sys.logs.length;
    await api.post('/v1/keys', { name: 'deleted meanwhile' });
    await waitFor(async () => (receiver.at('/deleted').length ? true : undefined), 10_000);
    const [delivery] = await sys.services.db.webhookDelivery.findMany({ where: { webhookId: w.id } });
    expect((await api.delete(`/v1/webhooks/${w.id}`)).body).toMatchObject({ deleted: true });
    await new Promise((r) => setTimeout(r, 4000));
    expect(await sys.services.db.webhookAttempt.count({ where: { deliveryId: delivery.id } })).toBe(0);
    expect(await sys.services.db.webhookDelivery.count({ where: { id: delivery.id } })).toBe(0);
    expect(sys.logs.slice(logsBefore).join('')).not.toMatch(/first attempt failed to finish|could not start a webhook delivery/);
    expect(receiver.at('/deleted')).toHaveLength(1);
  });

  it('hands a claim whose process died to a workflow after WEBHOOK_CLAIM_LEASE_SECONDS; an attempt already recorded is not sent again', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/lapsed', ['key.created']);
    const [fresh, recorded] = await recordSilently(p.id, ['died before sending', 'died after recording']);
    // Claimed by a process that then died: one before its attempt, one after recording a failed attempt 1.
    await sys.services.db.webhookDelivery.updateMany({ where: { id: { in: [fresh, recorded] } }, data: { claimedAt: new Date() } });
    await sys.services.db.webhookAttempt.create({ data: { deliveryId: recorded, number: 1, startedAt: new Date(), statusCode: 500, latencyMs: 1, succeeded: false } });
    await sys.services.db.webhookDelivery.update({ where: { id: recorded }, data: { attemptCount: 1 } });
    await new Promise((r) => setTimeout(r, 3000)); // three sweeps: a claim within its lease is left alone
    expect(receiver.at('/lapsed')).toHaveLength(0);
    expect(await workflowExists(fresh)).toBe(false);
    // The lease runs out (aged here rather than waited for).
    await sys.services.db.webhookDelivery.updateMany({ where: { id: { in: [fresh, recorded] } }, data: { claimedAt: new Date(Date.now() - 9000) } });
    const rows = await waitFor(async () => {
      const all = await Promise.all([fresh, recorded].map(deliveryRow));
      return all.every((r) => r.status === 'succeeded') ? all : undefined;
    }, 30_000);
    expect(rows[0].attempts.map((a) => [a.number, a.statusCode])).toEqual([[1, 200]]);
    expect(rows[1].attempts.map((a) => [a.number, a.statusCode])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    await new Promise((r) => setTimeout(r, 500));
    const names = receiver.at('/lapsed').map((r) => verify(w.secret, r).data.name as string);
    expect(names.sort()).toEqual(['died after recording', 'died before sending']);
  });

  it('sends first attempts while Temporal is down; the sweep starts the retries once it is back', async () => {
    const [host, port] = inject('temporalAddress').split(':');
    const proxy = await startTcpProxy(Number(port), host);
    const availability = new TemporalAvailability(sys.services.logger, { rpcTimeoutMs: 1000, probeIntervalMs: 500 });
    const temporal = await connectClient(sys.config, `127.0.0.1:${proxy.port}`, availability);
    const alone = extraDispatcher({ temporal });
    let workerClosed = false;
    try {
      await worker.close(); // only `alone` dispatches in this test
      workerClosed = true;
      await proxy.down();
      const p = await project(owner.userId);
      await subscribe(p.id, '/outage', ['key.created']);
      receiver.plan('/outage', 500);
      const [id] = await recordSilently(p.id, ['during the outage']);
      alone.dispatch([id]);
      await waitFor(async () => (receiver.at('/outage').length ? true : undefined), 10_000);
      // Its retry could not start: the claim is given back for the sweep, which cannot start it either yet.
      const waiting = await waitFor(async () => {
        const r = await deliveryRow(id);
        return r.attempts.length === 1 && r.claimedAt === null ? r : undefined;
      }, 15_000);
      expect(waiting).toMatchObject({ status: 'pending', attemptCount: 1, dispatchedAt: null });
      await new Promise((r) => setTimeout(r, 2000));
      expect((await deliveryRow(id)).dispatchedAt).toBeNull();
      await proxy.restore();
      await waitFor(async () => ((await deliveryRow(id)).dispatchedAt ? true : undefined), 20_000);
      await alone.close();
      worker = await sys.startWorker();
      workerClosed = false;
      const done = await waitFor(async () => {
        const r = await deliveryRow(id);
        return r.status === 'succeeded' ? r : undefined;
      }, 20_000);
      expect(done.attempts.map((a) => [a.number, a.statusCode])).toEqual([
        [1, 500],
        [2, 200],
      ]);
      expect(receiver.at('/outage')).toHaveLength(2);
    } finally {
      await proxy.restore();
      await alone.close();
      availability.close();
      await temporal.connection.close();
      await proxy.close();
      if (workerClosed) worker = await sys.startWorker();
    }
  }, 90_000);
});

describe('a worker process killed between attempts', () => {
  /** `npm run worker -- --queues cpu` as its own process on this system's database and queues. */
  async function workerProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts', '--queues', 'cpu'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        DATABASE_URL: sys.database.url,
        TEMPORAL_ADDRESS: sys.config.TEMPORAL_ADDRESS,
        TASK_QUEUE_PREFIX: sys.config.TASK_QUEUE_PREFIX,
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
        WEBHOOK_SECRET_KEY: sys.config.WEBHOOK_SECRET_KEY,
        WEBHOOK_RETRY_SCHEDULE: '4,4,4,4,4',
        WEBHOOK_SWEEP_SECONDS: '1',
        WEBHOOK_CLAIM_LEASE_SECONDS: '15', // a kill between attempt 1 and its workflow's start: handed over within the wait below
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    await waitFor(async () => (out.includes('worker polling') ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 90_000);
    return child;
  }

  it('resumes the schedule on another worker: every attempt sent once, nothing lost', async () => {
    await worker.close(); // only the child processes poll the queues in this test
    let child = await workerProcess();
    try {
      const p = await project(owner.userId);
      const w = await subscribe(p.id, '/kill', ['key.created']);
      receiver.plan('/kill', 500);
      await api.post('/v1/keys', { name: 'killed' });
      // Between attempts: attempt 1 is recorded and the retry is scheduled (a kill during an attempt,
      // before its answer is recorded, sends that attempt again: at-least-once, same webhook-id).
      await waitFor(async () => {
        const [d] = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
        return d?.attempt_count === 1 && d.next_attempt_at ? true : undefined;
      }, 30_000);
      child.kill('SIGKILL'); // during the 4 s wait before the retry
      await new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, 5000));
      expect(receiver.at('/kill')).toHaveLength(1);
      child = await workerProcess();
      const [delivery] = await waitFor(async () => {
        const d = (await api.get(`/v1/webhooks/${w.id}/deliveries`)).body.data;
        return d[0]?.status === 'succeeded' ? d : undefined;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      expect(receiver.at('/kill')).toHaveLength(2);
      expect(delivery.attempts.map((a: any) => [a.number, a.status_code])).toEqual([
        [1, 500],
        [2, 200],
      ]);
      const ids = receiver.at('/kill').map((r) => verify(w.secret, r).id);
      expect(ids[0]).toBe(ids[1]);
    } finally {
      child.kill('SIGKILL');
      worker = await sys.startWorker();
    }
  }, 180_000);
});

describe('history', () => {
  it('is pruned past WEBHOOK_HISTORY_DAYS by the Temporal schedule', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/history', ['*']);
    const old = new Date(Date.now() - 31 * 86_400_000);
    for (const [suffix, createdAt] of [['old', old], ['new', new Date()]] as const) {
      const eventId = newId('webhookEvent');
      await sys.services.db.webhookEvent.create({ data: { id: eventId, type: 'key.created', resourceId: `key-${suffix}`, ownerId: owner.userId, data: {}, createdAt } });
      await sys.services.db.webhookDelivery.create({ data: { id: newId('webhookDelivery'), webhookId: w.id, eventId, status: 'succeeded', createdAt, dispatchedAt: createdAt } });
    }
    const handle = sys.services.temporal.schedule.getHandle(`${sys.config.TASK_QUEUE_PREFIX}-webhook-history-prune`);
    await waitFor(async () => ((await handle.describe().catch(() => null)) ? true : undefined), 10_000);
    await handle.trigger();
    await waitFor(async () => ((await sys.services.db.webhookEvent.count({ where: { resourceId: 'key-old' } })) === 0 ? true : undefined), 30_000);
    const left = await sys.services.db.webhookDelivery.findMany({ where: { webhookId: w.id }, include: { event: true } });
    expect(left.map((d) => d.event.resourceId)).toEqual(['key-new']);
  });
});

describe('list queries', () => {
  /** Runs a GraphQL document on the real schema with a database client that counts model queries. */
  async function countQueries(apiKey: string, source: string, variables: Record<string, unknown>) {
    let queries = 0;
    const db = sys.services.db.$extends({
      query: {
        $allModels: {
          $allOperations({ args, query }) {
            queries++;
            return query(args);
          },
        },
      },
    }) as unknown as typeof sys.services.db;
    const ctx = await buildContext(sys.services, { headers: { authorization: `Bearer ${apiKey}` } });
    const result = await execute({ schema, document: parse(source), variableValues: variables, contextValue: { ...ctx, deps: { ...sys.services, db } } });
    expect(result.errors).toBeUndefined();
    return queries;
  }

  it('read a page of deliveries (attempts, event types) and of webhooks (missed counts) in a fixed number of queries', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/n1', ['*']);
    const addDeliveries = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const eventId = newId('webhookEvent');
        const deliveryId = newId('webhookDelivery');
        await sys.services.db.webhookEvent.create({ data: { id: eventId, type: 'key.created', resourceId: 'key', ownerId: owner.userId, data: {} } });
        await sys.services.db.webhookDelivery.create({ data: { id: deliveryId, webhookId: w.id, eventId, status: 'missed' } });
        await sys.services.db.webhookAttempt.create({ data: { deliveryId, number: 1, startedAt: new Date(), statusCode: 500, latencyMs: 1, succeeded: false } });
      }
    };
    const deliveries = 'query($id: ID!) { webhook(id: $id) { deliveries(first: 50) { edges { node { id eventType attempts { number statusCode } } } } } }';
    const webhooks = 'query($p: ID!) { webhooks(projectId: $p, first: 50) { edges { node { id missedDeliveries } } } }';
    await addDeliveries(2);
    await subscribe(p.id, '/n1-b', ['*']);
    const few = [await countQueries(owner.apiKey, deliveries, { id: w.id }), await countQueries(owner.apiKey, webhooks, { p: p.id })];
    await addDeliveries(8);
    for (let i = 0; i < 5; i++) await subscribe(p.id, `/n1-${i}`, ['*']);
    const many = [await countQueries(owner.apiKey, deliveries, { id: w.id }), await countQueries(owner.apiKey, webhooks, { p: p.id })];
    expect(few.every((n) => n > 0)).toBe(true); // the counter sees the queries
    expect(many).toEqual(few);
  });
});

describe('SSRF protection', () => {
  it('refuses loopback, private, link-local and metadata targets, and internal names, with one message that says nothing of how they resolve', async () => {
    const p = await project(owner.userId);
    const urls = [
      `http://127.0.0.1:${receiver.port}/`,
      `http://[::1]:${receiver.port}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.8/hook',
      'http://192.168.1.1/hook',
      'http://169.254.10.10/hook',
      `http://localhost:${receiver.port}/`, // an internal name that resolves to a loopback address
      'http://no-such-host.invalid/hook', // a name that does not resolve
    ];
    const messages = new Set<string>();
    for (const url of urls) {
      const res = await api.post('/v1/webhooks', { project_id: p.id, url, events: ['*'] });
      expect(res.status, url).toBe(422);
      expect(res.body.error.details[0].field).toBe('url');
      messages.add(res.body.error.message);
    }
    expect([...messages]).toEqual(['The request has an invalid field: url is refused: The URL must name a host that resolves to public addresses only.']);
    expect(await sys.services.db.webhook.count({ where: { projectId: p.id } })).toBe(0);
  });

  it('stops waiting after WEBHOOK_TIMEOUT_MS and reads only the start of a large answer', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/slow', ['webhook.ping']);
    receiver.plan('/slow', 'hang', 'big');
    const slow = await api.post(`/v1/webhooks/${w.id}/test`, {});
    expect(slow.body).toMatchObject({ status: 'failed', attempts: [{ status_code: null, error: 'No answer within 3000 ms.' }] });
    const big = await api.post(`/v1/webhooks/${w.id}/test`, {});
    expect(big.body).toMatchObject({ status: 'succeeded', attempts: [{ status_code: 200 }] });
    expect(big.body.attempts[0].response_body).toHaveLength(4096);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.bigChunksWritten).toBeLessThan(128); // the client hung up long before 8 MB
  });

  it('checks the address again at each attempt and never follows a redirect', async () => {
    const p = await project(owner.userId);
    const w = await subscribe(p.id, '/redirect', ['webhook.ping']);
    receiver.plan('/redirect', { status: 302, location: 'http://10.0.0.1/internal' });
    const redirected = await api.post(`/v1/webhooks/${w.id}/test`, {});
    expect(redirected.body).toMatchObject({ status: 'failed', attempts: [{ status_code: 302, succeeded: false, error: expect.stringMatching(/redirect to http:\/\/10\.0\.0\.1\/internal; redirects are not followed/) }] });
    // The name now points elsewhere (as DNS rebinding would make it): the attempt is refused before connecting.
    await sys.services.db.webhook.update({ where: { id: w.id }, data: { url: `http://127.0.0.1:${receiver.port}/rebound` } });
    const refused = await api.post(`/v1/webhooks/${w.id}/test`, {});
    expect(refused.body).toMatchObject({ status: 'failed', attempts: [{ status_code: null, error: 'The URL must name a host that resolves to public addresses only.' }] });
    expect(receiver.at('/rebound')).toEqual([]);
  });
});
