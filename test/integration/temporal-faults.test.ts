/**
 * Temporal unreachable for one gateway (a TCP proxy in front of the shared dev server plays the
 * outage): submissions answer 503 service_unavailable and leave no row behind, without waiting
 * through the client's retries; once Temporal is back, submissions go through again and complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let sys: TestSystem;
let proxy: TcpProxy;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  const [host, port] = inject('temporalAddress').split(':');
  proxy = await startTcpProxy(Number(port), host);
  sys = await startTestSystem({ env: { TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`, TEMPORAL_RPC_TIMEOUT_MS: '2000' } });
  api = restClient(sys.url, (await sys.createUser()).apiKey);
});
afterAll(async () => {
  await proxy?.restore();
  await sys?.close();
  await proxy?.close();
});

describe('Temporal unreachable', () => {
  it('submissions answer 503 and create nothing while it is down; they succeed again once it is back', async () => {
    const before = await sys.services.db.agentTask.count();
    await proxy.down();
    try {
      // The first call finds out (its deadline); once the probe knows, calls are refused at once.
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await api.post('/v1/agents/execute', executeBody()));
      for (const res of answers) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('service_unavailable');
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      expect(await sys.services.db.agentTask.count()).toBe(before);
      const health = await api.get('/v1/health');
      expect(health.status).toBe(503);
      expect(health.body.temporal.status).toBe('unreachable');
      // Reads that need only the database keep working.
      expect((await api.get('/v1/agents/tasks')).status).toBe(200);
    } finally {
      await proxy.restore();
    }
    const accepted = await waitFor(async () => {
      const res = await api.post('/v1/agents/execute', executeBody());
      return res.status < 300 ? (res.body.task_id as string) : undefined;
    }, 30_000, 250);
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${accepted}`)).body.status === 'completed' ? true : undefined), 60_000, 250);
  });
});
