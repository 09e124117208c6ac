/**
 * The production shape as separate processes: two gateways (`npm start` with RUN_WORKER=false) and
 * two workers (`npm run worker`), all started at once, sharing PostgreSQL, Redis and the Temporal
 * server. Streams (REST WebSocket, graphql-ws, SSE) cross gateways and resume on either; limits are
 * one budget across both; a worker killed mid-task and a gateway stopped with a stream open and
 * keep-alive clients polling lose nothing. Faults of the shared services: scale-out-faults.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
import { createUserWithKey } from '../../src/services/auth/api-keys.js';
import { Cluster, exitOf, type Gateway } from '../helpers/cluster.js';
import { collectWs, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles, vulnerableJs } from '../helpers/fixtures.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { createTestDatabase, dropDatabase } from '../helpers/system.js';

const dataDir = mkdtempSync(join(tmpdir(), 'codex-scale-'));
let database: { url: string; name: string };
let db: Db;
let cluster: Cluster;
let gateways: Gateway[];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, 2);
  cluster = new Cluster({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    REDIS_URL: inject('redisUrl'),
    TASK_QUEUE_PREFIX: `scale${Date.now().toString(36)}`,
    AGENT_STEP_DELAY_MS: '100',
    ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '2',
    SHUTDOWN_TIMEOUT_SECONDS: '15',
    LOG_LEVEL: 'warn',
  });
  gateways = cluster.gateways;
  // All at once, as an orchestrator starts them: whichever loses the race for the migration lock waits.
  await Promise.all([cluster.startGateway(), cluster.startGateway(), cluster.startWorker(), cluster.startWorker()]);
}, 180_000);

afterAll(async () => {
  cluster?.killAll();
  await db?.$disconnect();
  if (database) await dropDatabase(database.name);
  rmSync(dataDir, { recursive: true, force: true });
});

const TASK_EVENTS = `subscription($taskId: ID!, $since: Int) { taskEvents(taskId: $taskId, since: $since) { seq type status } }`;
const consecutive = (seqs: number[]) => seqs.every((s, i) => s === i + 1);

describe('two gateways and two workers as processes', () => {
  it('streams a task submitted on one gateway from the other, and resumes across them with nothing lost or repeated', { timeout: 120_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Scale', tier: 'team' });
    const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const taskId = (await restClient(a.url, secret).post('/v1/agents/execute', executeBody(manyFiles(10)))).body.task_id as string;
    // REST WebSocket on B, cut after 4 events, resumed on A.
    const cut = await collectWs(`${b.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${secret}`, (m) => m.seq === 4);
    const rest = await collectWs(`${a.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${secret}&since=4`);
    const all = [...cut.messages, ...rest.messages];
    expect(consecutive(all.map((m) => m.seq))).toBe(true);
    expect(all.at(-1)).toMatchObject({ type: 'result', status: 'completed' });
    expect(rest.closeCode).toBe(1000);
    // graphql-ws on B replays the same sequence.
    const gql = await subscribeGraphql(b.wsUrl, secret, TASK_EVENTS, { taskId });
    expect(gql.results.map((r) => r.taskEvents.seq)).toEqual(all.map((m) => m.seq));
  });

  it('resumes an SSE review stream opened on one gateway on the other with Last-Event-ID, nothing lost or repeated', { timeout: 120_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Sse', tier: 'team' });
    const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `src/routes/users-${i}.js`, content: vulnerableJs.content }));
    const cut = await openSse(`${a.url}/v1/reviews`, { method: 'POST', apiKey: secret, body: { files } });
    const opening = (await cut.next())!;
    const seen: SseEvent[] = [];
    while (seen.length < 3) seen.push((await cut.next())!);
    cut.close();
    const resumed = await openSse(`${b.url}/v1/reviews/${opening.data.id}`, { apiKey: secret, headers: { 'last-event-id': seen.at(-1)!.id! } });
    expect((await resumed.next())!.data.id).toBe(opening.data.id);
    const joined = [...seen, ...(await resumed.all())];
    expect(joined.map((e) => Number(e.id))).toEqual(joined.map((_, i) => i + 1));
    expect(joined.at(-1)!.event).toBe('summary');
    // The whole stream read back from the first gateway is the same, event for event.
    const replay = await openSse(`${a.url}/v1/reviews/${opening.data.id}`, { apiKey: secret });
    expect((await replay.all()).slice(1)).toEqual(joined);
  });

  it('spends one rate budget across both gateways', { timeout: 60_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Free', tier: 'free' }); // 5 requests a minute
    const answers = [];
    // One after another (the free plan also allows only 5 in flight), alternating between the gateways.
    for (let i = 0; i < 8; i++) answers.push(await restClient(gateways[i % 2].url, secret).get('/v1/agents/tasks'));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(answers.filter((r) => r.status === 429).every((r) => r.body.error.code === 'rate_limit_exceeded')).toBe(true);
  });

  it('spreads tasks over both workers', { timeout: 120_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Spread', tier: 'enterprise' });
    const api = restClient(gateways[0].url, secret);
    const ids = await Promise.all(Array.from({ length: 12 }, async () => (await api.post('/v1/agents/execute', executeBody(manyFiles(3)))).body.task_id as string));
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const client = new Client({ connection });
      const ranOn = await Promise.all(
        ids.map(async (id) => {
          const handle = client.workflow.getHandle(id);
          expect(await handle.result()).toBe('completed');
          // Which worker process started the agent activity (identity: pid@host).
          return (await handle.fetchHistory()).events!.find((e) => e.activityTaskStartedEventAttributes)!.activityTaskStartedEventAttributes!.identity;
        }),
      );
      const workerIdentities = new Set(cluster.workers.map((w) => `${w.pid}@`));
      expect(ranOn.every((identity) => [...workerIdentities].some((prefix) => identity!.startsWith(prefix)))).toBe(true);
      expect(new Set(ranOn).size).toBe(2);
    } finally {
      await connection.close();
    }
  });

  it('completes a task exactly once when the worker running it is killed', { timeout: 120_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Crash', tier: 'team' });
    const api = restClient(gateways[0].url, secret);
    const taskId = (await api.post('/v1/agents/execute', executeBody(manyFiles(30)))).body.task_id as string;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${taskId}`)).body.progress >= 10 ? true : undefined), 60_000, 100);
    await cluster.replaceWorkers(); // whichever ran it is gone
    const done = await waitFor(async () => {
      const res = await api.get(`/v1/agents/tasks/${taskId}`);
      return res.body.status === 'completed' ? res.body : undefined;
    }, 90_000, 250);
    expect(done.progress).toBe(100);
    const events = await db.event.findMany({ where: { streamId: taskId }, orderBy: { seq: 'asc' } });
    expect(consecutive(events.map((e) => e.seq))).toBe(true);
    expect(events.filter((e) => e.key.startsWith('file:')).map((e) => e.key)).toEqual(Array.from({ length: 30 }, (_, i) => `file:${i}`));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(1);
  });

  it('a gateway stopped with SIGTERM exits 0 and closes its streams with 1001; the client resumes on the other', { timeout: 120_000 }, async () => {
    const { secret } = await createUserWithKey(db, { name: 'Drain', tier: 'team' });
    const [a, b] = gateways as [(typeof gateways)[0], (typeof gateways)[0]];
    const taskId = (await restClient(b.url, secret).post('/v1/agents/execute', executeBody(manyFiles(30)))).body.task_id as string;
    let stopping = null as Promise<number | null> | null; // a cast: set in a callback, which narrowing does not see
    // Keep-alive clients polling A the whole time: each request is answered (200, or 503 once A is
    // draining) or refused at connect once A stopped listening; none is cut off once A read it.
    const outcomes: string[] = [];
    let polling = true;
    const get = () => fetch(`${a.url}/v1/agents/tasks?limit=1`, { headers: { authorization: `Bearer ${secret}` } }).then(async (res) => (await res.arrayBuffer(), String(res.status)));
    const codeOf = (err: unknown) => (err as { cause?: { code?: string } }).cause?.code ?? String(err);
    const poll = async () => {
      while (polling) {
        let outcome: string;
        try {
          outcome = await get();
        } catch (err) {
          outcome = codeOf(err);
          // An idle keep-alive connection closed by the server as a request goes out is reset (or
          // closed: undici's UND_ERR_SOCKET) before the server read it; HTTP/1.1 clients send an
          // idempotent request again then (RFC 9112, 9.3.1).
          if (outcome === 'ECONNRESET' || outcome === 'UND_ERR_SOCKET') outcome = await get().catch(codeOf);
        }
        outcomes.push(outcome);
        if (outcome === 'ECONNREFUSED') return;
      }
    };
    const pollers = Array.from({ length: 4 }, poll);
    const first = await collectWs(`${a.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${secret}`, (m) => {
      if (m.seq === 3 && !stopping) {
        stopping = exitOf(a.child);
        a.child.kill('SIGTERM');
      }
      return false;
    });
    expect(first.closeCode).toBe(1001);
    expect(await stopping, cluster.output(a.child)).toBe(0);
    polling = false;
    await Promise.all(pollers);
    expect(outcomes).toContain('200');
    expect(outcomes.filter((o) => !['200', '503', 'ECONNREFUSED'].includes(o))).toEqual([]);
    const last = first.messages.at(-1).seq as number;
    const rest = await collectWs(`${b.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${secret}&since=${last}`);
    const all = [...first.messages, ...rest.messages];
    expect(consecutive(all.map((m) => m.seq))).toBe(true);
    expect(all.at(-1)).toMatchObject({ type: 'result', status: 'completed' });
  });
});
