/**
 * The database going away under a running gateway and worker: connections cut (a restart), the
 * server stopped, the server frozen. Nothing may crash; requests meanwhile get a 503 they can retry,
 * not a hang or a 500; a running task's stream loses nothing; everything works again after.
 * A TCP proxy between this gateway and PostgreSQL plays the faults, so other test files are untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, graphql, restClient, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { createTestDatabase, dropDatabase, startTestSystem, type TestSystem } from '../helpers/system.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let sys: TestSystem;
let proxy: TcpProxy;
let database: { url: string; name: string };
let key: string;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  database = await createTestDatabase();
  const direct = new URL(database.url);
  proxy = await startTcpProxy(Number(direct.port));
  const viaProxy = Object.assign(new URL(database.url), { port: String(proxy.port) }).toString();
  sys = await startTestSystem({
    database: { url: viaProxy, name: database.name },
    env: { AGENT_STEP_DELAY_MS: '100', DATABASE_CONNECT_TIMEOUT_MS: '1000', DATABASE_STATEMENT_TIMEOUT_MS: '1000' },
  });
  key = (await sys.createUser()).apiKey;
  api = restClient(sys.url, key);
});
afterAll(async () => {
  await proxy?.restore();
  await sys?.close();
  await proxy?.close();
  if (database) await dropDatabase(database.name);
});

const healthy = () => waitFor(async () => ((await api.get('/v1/agents/tasks')).status === 200 ? true : undefined), 20_000, 200);

describe('database faults', () => {
  it('connections cut mid-task (a restart): the task completes and its stream gets every event', async () => {
    const taskId = (await api.post('/v1/agents/execute', executeBody(manyFiles(15)))).body.task_id as string;
    let cuts = 0;
    const stream = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${key}`, (m) => {
      // Cut every connection (the gateway's, the worker's, the event bus listener's) twice while it runs.
      if (m.type === 'progress' && m.status === 'running' && (m.progress > 0 && cuts === 0 || m.progress > 40 && cuts === 1)) {
        cuts++;
        proxy.cut();
      }
      return false;
    });
    expect(cuts, JSON.stringify({ close: stream.closeCode, messages: stream.messages.map((m) => [m.seq, m.type, m.status, m.progress, m.error?.code]) })).toBe(2);
    expect(stream.closeCode).toBe(1000);
    expect(stream.messages.at(-1)).toMatchObject({ type: 'result', status: 'completed' });
    expect(stream.messages.map((m) => m.seq)).toEqual(stream.messages.map((_, i) => i + 1));
    await healthy();
    expect((await api.get(`/v1/agents/tasks/${taskId}`)).body.status).toBe('completed');
  });

  it('a stopped database: 503 service_unavailable with Retry-After on REST and GraphQL while it is down, then service again', async () => {
    const known = (await api.post('/v1/agents/execute', executeBody())).body.task_id;
    await proxy.down();
    try {
      // A task by id too (reads of one turn share a statement: its failure is each read's 503).
      expect((await api.get(`/v1/agents/tasks/${known}`)).status).toBe(503);
      const byId = await graphql(sys.url, key, 'query($id: ID!) { task(id: $id) { id } }', { id: known });
      expect(byId.body.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
      const rest = await api.get('/v1/agents/tasks');
      expect(rest.status).toBe(503);
      expect(rest.body.error.code).toBe('service_unavailable');
      expect(rest.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(rest.body.error.message).not.toMatch(/127\.0\.0\.1|ECONN|prisma|postgres/i);
      const gql = await graphql(sys.url, key, '{ tasks(first: 5) { edges { node { id } } } }');
      expect(gql.body.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
      const submit = await api.post('/v1/agents/execute', executeBody());
      expect(submit.status).toBe(503);
      const health = await api.get('/v1/health');
      expect(health.status).toBe(503);
      expect(health.body.database.status).toBe('unreachable');
    } finally {
      await proxy.restore();
    }
    await healthy();
    const after = await api.post('/v1/agents/execute', executeBody());
    expect(after.status).toBeLessThan(300);
  });

  it('a frozen database: requests give up with 503 instead of waiting for it, then service again', async () => {
    proxy.freeze();
    try {
      // Each answers while the database is still frozen: the connect and statement timeouts end the wait.
      const [list, one] = await Promise.all([api.get('/v1/agents/tasks'), graphql(sys.url, key, '{ viewer { id } }')]);
      expect(list.status).toBe(503);
      expect(list.body.error.code).toBe('service_unavailable');
      expect(one.body.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await proxy.restore();
    }
    await healthy();
  });
});
