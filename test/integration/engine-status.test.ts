/** A task whose queue has no worker waits as queued with the reason, and runs when a worker starts. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
});
afterAll(() => sys?.close());

describe('no worker on a queue', () => {
  it('keeps the task queued with a visible reason, then runs it when a worker starts', async () => {
    const { apiKey } = await sys.createUser('Early');
    const api = restClient(sys.url, apiKey);
    const status = await graphql(sys.url, apiKey, '{ engineStatus { kind name workflowPollers activityPollers } }');
    expect(status.body.data.engineStatus).toEqual([
      { kind: 'cpu', name: sys.config.taskQueues.cpu, workflowPollers: 0, activityPollers: 0 },
      { kind: 'gpu', name: sys.config.taskQueues.gpu, workflowPollers: 0, activityPollers: 0 },
    ]);

    const id = (await api.post('/v1/agents/execute', executeBody())).body.task_id;
    await new Promise((r) => setTimeout(r, 1000)); // it would have started by now if it could
    const waiting = (await api.get(`/v1/agents/tasks/${id}`)).body;
    expect(waiting).toMatchObject({ status: 'queued', queue_reason: expect.stringContaining(`No worker is polling the cpu queue (${sys.config.taskQueues.cpu})`) });

    await sys.startWorker();
    const done = await waitFor(async () => {
      const t = (await api.get(`/v1/agents/tasks/${id}`)).body;
      return t.status === 'completed' ? t : undefined;
    });
    expect(done.queue_reason).toBeNull();
    await waitFor(async () => {
      const res = await graphql(sys.url, apiKey, '{ engineStatus { kind workflowPollers activityPollers } }');
      const cpu = res.body.data.engineStatus.find((q: any) => q.kind === 'cpu');
      return cpu.workflowPollers > 0 && cpu.activityPollers > 0 ? true : undefined;
    }, 15_000, 500);
  });
});
