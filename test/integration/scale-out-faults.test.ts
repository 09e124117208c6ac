/**
 * Faults of the shared services under a running cluster: two gateways and two workers as processes,
 * with a PostgreSQL and a Temporal dev server of this file's own, so stopping them touches no other
 * test file. PostgreSQL stopped for 10 s (a fast shutdown, as `pg_ctl stop -m fast` does) and its
 * connections terminated; Temporal killed and restarted; Redis gone (the default
 * LIMITS_ON_REDIS_FAILURE=open); workers killed mid-orchestration and between a webhook's attempts. Meanwhile no process dies and requests get 503 service_unavailable
 * (never a 500, a hang or a reset); afterwards every accepted task completes, exactly once, with
 * contiguous events, and nothing is left queued or running.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb, type Db } from '../../src/db/client.js';
import { freePortBelowEphemeral, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/embedded/postgres.js';
import { findTemporalCli, startTemporalDevServer } from '../../src/embedded/temporal.js';
import { startTemporalServer } from '../../src/embedded/temporal-server.js';
import { newId } from '../../src/ids.js';
import { createUserWithKey } from '../../src/services/auth/api-keys.js';
import { Cluster } from '../helpers/cluster.js';
import { restClient, waitFor } from '../helpers/client.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { dropDatabase } from '../helpers/system.js';

const tmp = mkdtempSync(join(tmpdir(), 'codex-faults-'));
chmodSync(tmp, 0o755); // the embedded server runs as `postgres` when the suite runs as root
let postgres: EmbeddedPostgres;
let pgPort: number;
/** With TEST_TEMPORAL=server, the Temporal server on the run's PostgreSQL (not the one this file stops); else the dev server. */
const realTemporal = process.env.TEST_TEMPORAL === 'server';
const temporalDatabase = `${inject('dbPrefix')}faults_temporal`;
let temporal: { address: string; pid: number; stop(): Promise<void> };
let temporalPort: number;
let cli: string;
let db: Db;
let cluster: Cluster;
let receiver: Server;
/** Between the cluster and the run's Redis, so this file can make Redis vanish for it alone. */
let redisProxy: TcpProxy;
const received: Array<{ id: string; status: number }> = [];
let answers: number[] = [];

const startPostgres = async () => (postgres = await startEmbeddedPostgres({ dataDir: join(tmp, 'pg'), port: pgPort, database: 'codex' }));
const startTemporal = async () =>
  (temporal = realTemporal
    ? await startTemporalServer({ postgresUrl: inject('databaseUrl'), port: temporalPort, cacheDir: loadConfig().cacheDir, database: temporalDatabase, log: () => {} })
    : await startTemporalDevServer({ cli, port: temporalPort, uiPort: null, dbFile: join(tmp, 'temporal.db'), namespace: 'default' }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // Below the ephemeral range: both restart on the same port, which no outgoing connection may take meanwhile.
  [pgPort, temporalPort] = await Promise.all([freePortBelowEphemeral(), freePortBelowEphemeral()]);
  const config = loadConfig();
  if (!realTemporal) cli = await findTemporalCli({ explicitPath: config.TEMPORAL_CLI_PATH, cacheDir: config.cacheDir, log: () => {} });
  await Promise.all([startPostgres(), startTemporal()]);
  redisProxy = await startTcpProxy(Number(new URL(inject('redisUrl')).port));
  receiver = createServer((req, res) => {
    req.resume().on('end', () => {
      const status = answers.shift() ?? 200;
      received.push({ id: String(req.headers['webhook-id']), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.2', r));
  cluster = new Cluster({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATA_DIR: join(tmp, 'data'),
    DATABASE_URL: postgres.url,
    TEMPORAL_ADDRESS: temporal.address,
    REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
    TASK_QUEUE_PREFIX: `faults${Date.now().toString(36)}`,
    AGENT_STEP_DELAY_MS: '100',
    ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '2',
    RECONCILE_INTERVAL_SECONDS: '2',
    RECONCILE_GRACE_SECONDS: '5',
    WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789',
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
    WEBHOOK_RETRY_SCHEDULE: '3',
    WEBHOOK_SWEEP_SECONDS: '2',
    WEBHOOK_CLAIM_LEASE_SECONDS: '15', // a worker killed during a first attempt: its delivery is handed over within the test's wait
    SHUTDOWN_TIMEOUT_SECONDS: '15',
    LOG_LEVEL: 'warn',
  });
  await Promise.all([cluster.startGateway(), cluster.startGateway(), cluster.startWorker(), cluster.startWorker()]);
  db = createDb(postgres.url, 2);
}, 240_000);

afterAll(async () => {
  cluster?.killAll();
  await db?.$disconnect();
  receiver?.close();
  await redisProxy?.close();
  await temporal?.stop();
  if (realTemporal) for (const name of [temporalDatabase, `${temporalDatabase}_visibility`]) await dropDatabase(name);
  await postgres?.stop();
  if (postgres && !postgres.clusterDir.startsWith(tmp)) rmSync(postgres.clusterDir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

interface LoadResult {
  /** Task ids whose submission was accepted. */
  accepted: string[];
  statuses: number[];
  /** Anything but a 2xx, a 429 or an enveloped 503 with Retry-After: 500s, other 5xx, hangs, resets. */
  failures: string[];
}

/**
 * Six clients for `ms`, alternating between the gateways: submissions of small tasks, task lists and
 * task reads. A request with no answer after 10 s counts as a failure (a hang, not a fast 503).
 */
async function runLoad(ms: number, secret: string): Promise<LoadResult> {
  const result: LoadResult = { accepted: [], statuses: [], failures: [] };
  const until = Date.now() + ms;
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const client = async (i: number) => {
    for (let n = 0; Date.now() < until; n++) {
      const gateway = cluster.gateways[(i + n) % cluster.gateways.length];
      const op = (i + n) % 3;
      const known = result.accepted.at(-1);
      const [method, path, body] =
        op === 0 ? ['POST', '/v1/agents/execute', JSON.stringify(executeBody(manyFiles(5)))] : op === 1 || !known ? ['GET', '/v1/agents/tasks?limit=5'] : ['GET', `/v1/agents/tasks/${known}`];
      try {
        const res = await fetch(`${gateway.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(10_000) });
        const answer = (await res.json().catch(() => null)) as any;
        result.statuses.push(res.status);
        if (res.status === 503) {
          if (answer?.error?.code !== 'service_unavailable' || !res.headers.get('retry-after')) result.failures.push(`${method} ${path}: 503 ${JSON.stringify(answer)}`);
        } else if (res.status >= 500 || (res.status >= 400 && res.status !== 429)) {
          result.failures.push(`${method} ${path}: ${res.status} ${JSON.stringify(answer).slice(0, 300)}`);
        } else if (op === 0 && res.status < 300) result.accepted.push(answer.task_id);
      } catch (err) {
        result.failures.push(`${method} ${path}: ${(err as Error).name} ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
      }
      await sleep(50);
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, i) => client(i)));
  return result;
}

/** Every task of the user ends, the accepted ones `completed`, each with contiguous events and one result. */
async function expectSettled(userId: string, accepted: string[]) {
  const tasks = await waitFor(async () => {
    const all = await db.agentTask.findMany({ where: { ownerId: userId }, select: { id: true, status: true, error: true } }).catch(() => undefined);
    return all && all.every((t) => !['queued', 'running'].includes(t.status)) ? all : undefined;
  }, 180_000, 500);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  expect(accepted.filter((id) => byId.get(id)?.status !== 'completed').map((id) => `${id}: ${byId.get(id)?.status} ${JSON.stringify(byId.get(id)?.error)}`)).toEqual([]);
  for (const id of accepted) {
    const events = await db.event.findMany({ where: { streamId: id }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'result'), `${id}: ${events.map((e) => `${e.seq}:${e.type}:${e.key}`).join(' ')}`).toHaveLength(1);
  }
}

/** The same request to every gateway, answered (not hung) within 10 s. */
const onEachGateway = (secret: string, method: string, path: string, body?: unknown) =>
  Promise.all(cluster.gateways.map((g) => restClient(g.url, secret)[method === 'POST' ? 'post' : 'get'](path, body as never)));

const healthy = () =>
  waitFor(async () => {
    const answers = await Promise.all(cluster.gateways.map((g) => fetch(`${g.url}/v1/health`).then((r) => r.status, () => 0)));
    return answers.every((s) => s === 200) ? true : undefined;
  }, 60_000, 250);

describe('a cluster of processes through faults of its services', () => {
  it('PostgreSQL stopped for 10 s under load: no process dies, 503s meanwhile, every accepted task completes once', { timeout: 300_000 }, async () => {
    const { secret, userId } = await createUserWithKey(db, { name: 'Restart', tier: 'team' });
    const load = runLoad(30_000, secret);
    await sleep(6_000);
    await postgres.stop();
    const stoppedAt = Date.now();
    const during = await onEachGateway(secret, 'GET', '/v1/agents/tasks');
    for (const res of during) {
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('service_unavailable');
    }
    await sleep(10_000 - (Date.now() - stoppedAt));
    await startPostgres();
    const result = await load;
    expect(cluster.exited()).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.statuses).toContain(503);
    expect(result.accepted.length).toBeGreaterThan(0);
    await healthy();
    await expectSettled(userId, result.accepted);
  });

  it('every connection terminated by the server, twice under load: nothing dies or is lost', { timeout: 300_000 }, async () => {
    const { secret, userId } = await createUserWithKey(db, { name: 'Terminate', tier: 'team' });
    const load = runLoad(20_000, secret);
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    try {
      for (const at of [5_000, 5_000]) {
        await sleep(at);
        const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        expect(rowCount).toBeGreaterThan(0);
      }
    } finally {
      await admin.end();
    }
    const result = await load;
    expect(cluster.exited()).toEqual([]);
    expect(result.failures).toEqual([]);
    await expectSettled(userId, result.accepted);
  });

  it('Temporal killed and restarted under load: 503 for submissions meanwhile, reads go on, every accepted task completes once', { timeout: 300_000 }, async () => {
    const { secret, userId } = await createUserWithKey(db, { name: 'Engine', tier: 'team' });
    const load = runLoad(30_000, secret);
    await sleep(6_000);
    process.kill(temporal.pid, 'SIGKILL');
    await sleep(3_000); // each gateway's probe notices within its interval
    const submissions = await onEachGateway(secret, 'POST', '/v1/agents/execute', executeBody());
    for (const res of submissions) {
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('service_unavailable');
    }
    for (const res of await onEachGateway(secret, 'GET', '/v1/agents/tasks')) expect(res.status).toBe(200);
    await sleep(5_000);
    await startTemporal();
    const result = await load;
    expect(cluster.exited()).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.statuses).toContain(503);
    await healthy();
    // Submissions succeed again.
    const after = await waitFor(async () => {
      const res = await restClient(cluster.gateways[0].url, secret).post('/v1/agents/execute', executeBody());
      return res.status < 300 ? (res.body.task_id as string) : undefined;
    }, 30_000, 250);
    await expectSettled(userId, [...result.accepted, after]);
  });

  it('Redis gone under load (LIMITS_ON_REDIS_FAILURE=open): requests are served on in-memory limits, health says degraded, then ok again', { timeout: 300_000 }, async () => {
    const { secret, userId } = await createUserWithKey(db, { name: 'Limits', tier: 'team' });
    const load = runLoad(20_000, secret);
    await sleep(4_000);
    await redisProxy.down();
    try {
      const health = await waitFor(async () => {
        const answers = await Promise.all(cluster.gateways.map((g) => fetch(`${g.url}/v1/health`).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))));
        return answers.every((a) => a.body.redis?.status === 'unreachable') ? answers : undefined;
      }, 20_000, 250);
      for (const answer of health) expect(answer).toMatchObject({ status: 200, body: { status: 'degraded', redis: { on_failure: 'open' } } });
      await sleep(6_000);
    } finally {
      await redisProxy.restore();
    }
    const result = await load;
    expect(cluster.exited()).toEqual([]);
    expect(result.failures).toEqual([]);
    expect(result.statuses).not.toContain(503);
    await waitFor(async () => {
      const answers = await Promise.all(cluster.gateways.map((g) => fetch(`${g.url}/v1/health`).then((r) => r.json() as Promise<any>)));
      return answers.every((a) => a.redis?.status === 'ok') ? true : undefined;
    }, 30_000, 250);
    await expectSettled(userId, result.accepted);
  });

  it('workers killed mid-orchestration: every agent and the orchestration finish exactly once', { timeout: 300_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Orchestra', tier: 'team' });
    const api = restClient(cluster.gateways[1].url, secret);
    const started = await api.post('/v1/agents/orchestrate', { goal: 'Review everything', strategy: 'parallel', agents: ['security_expert', 'code_expert', 'security_expert'], context: { files: manyFiles(25) } });
    expect(started.status).toBe(202);
    const id = started.body.orchestration_id as string;
    await waitFor(async () => {
      const agents = await db.agentTask.findMany({ where: { orchestrationId: id }, select: { progress: true } });
      return agents.some((a) => a.progress >= 10) ? true : undefined;
    }, 90_000, 100);
    await cluster.replaceWorkers(2);
    const done = await waitFor(async () => {
      const res = await api.get(`/v1/agents/orchestrations/${id}`);
      return ['completed', 'failed', 'cancelled'].includes(res.body.status) ? res.body : undefined;
    }, 180_000, 250);
    expect(done.status).toBe('completed');
    expect(done.agents.map((a: any) => a.status)).toEqual(['completed', 'completed', 'completed']);
    // Each stream contiguous; each agent one result, the orchestration one final event.
    for (const [streamId, final] of [[id, 'orchestration'], ...done.agents.map((a: any) => [a.task_id, 'result'])] as Array<[string, string]>) {
      const events = await db.event.findMany({ where: { streamId }, orderBy: { seq: 'asc' } });
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.filter((e) => e.type === final)).toHaveLength(1);
    }
    expect(cluster.exited()).toEqual([]);
  });

  it('workers killed between a webhook delivery’s attempts: it succeeds exactly once', { timeout: 180_000 }, async () => {
    const owner = await createUserWithKey(db, { name: 'Hooks', tier: 'team' });
    const api = restClient(cluster.gateways[0].url, owner.secret);
    const project = await db.project.create({ data: { id: newId('project'), ownerId: owner.userId, teamId: null, name: 'Hooked' } });
    const hook = await api.post('/v1/webhooks', { project_id: project.id, url: `http://127.0.0.2:${(receiver.address() as AddressInfo).port}/hook`, events: ['key.created'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    answers = [500];
    const before = received.length;
    expect((await api.post('/v1/keys', { name: 'announce me' })).status).toBe(201);
    await waitFor(async () => (received.length > before ? true : undefined), 30_000, 50);
    await cluster.replaceWorkers(2); // the retry is due in 3 s; no worker survives to run it
    const deliveries = await waitFor(async () => {
      const d = (await api.get(`/v1/webhooks/${hook.body.id}/deliveries`)).body.data;
      return d?.length === 1 && d[0].status === 'succeeded' ? d : undefined;
    }, 90_000, 250);
    await sleep(4_000); // a second success would come at the next retry time
    const mine = received.slice(before);
    expect(new Set(mine.map((r) => r.id)).size).toBe(1);
    expect(mine.map((r) => r.status)).toEqual([500, 200]);
    // The failed attempt's record may be missing (its worker died before writing it); the success is there.
    expect(deliveries[0].attempts.at(-1).status_code).toBe(200);
    expect(cluster.exited()).toEqual([]);
  });
});
