import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

// Each file takes STEP ms, so a 10-file task runs about a second: long enough to watch, cut and cancel.
const STEP = 100;
let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: String(STEP) } });
  key = (await sys.createUser()).apiKey;
  api = restClient(sys.url, key);
});
afterAll(() => sys?.close());

const streamUrl = (taskId: string, query = '') => `${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${key}${query}`;
const start = async (files = manyFiles(10), extra = {}) => (await api.post('/v1/agents/execute', executeBody(files, extra))).body.task_id as string;

const TASK_EVENTS = `subscription($taskId: ID!, $since: Int) {
  taskEvents(taskId: $taskId, since: $since) { seq type status progress message error { code } result { summary } }
}`;

function expectConsecutive(seqs: number[], from: number) {
  expect(seqs).toEqual(seqs.map((_, i) => from + i));
}

describe('REST WebSocket stream', () => {
  it('sends progress, then the result, each with a sequence number, then closes', async () => {
    const taskId = await start();
    const { messages, closeCode } = await collectWs(streamUrl(taskId));
    expect(closeCode).toBe(1000);
    expectConsecutive(messages.map((m) => m.seq), 1);
    expect(messages[0]).toMatchObject({ type: 'progress', task_id: taskId, status: 'queued', progress: 0 });
    expect(messages.filter((m) => m.type === 'progress' && m.status === 'running').length).toBe(11); // started + one per file
    const last = messages.at(-1);
    expect(last).toMatchObject({ type: 'result', task_id: taskId, status: 'completed', progress: 100, result: { findings: [], summary: expect.any(String) } });
    expect(Date.parse(last.timestamp)).not.toBeNaN();
    const progress = messages.filter((m) => m.type === 'progress').map((m) => m.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('resumes after a disconnect with ?since=N: no gap, no duplicate', async () => {
    const taskId = await start();
    const first = await collectWs(streamUrl(taskId), (m) => m.seq === 4);
    expect(first.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    const rest = await collectWs(streamUrl(taskId, '&since=4'));
    expect(rest.messages[0].seq).toBe(5);
    const all = [...first.messages, ...rest.messages];
    expectConsecutive(all.map((m) => m.seq), 1);
    expect(all.at(-1).type).toBe('result');
    // A replay from the start after the task finished is identical.
    const replay = await collectWs(streamUrl(taskId));
    expect(replay.messages).toEqual(all);
  });

  it('refuses a missing token (401), another tenant (404) and a bad since (422) before upgrading', async () => {
    const taskId = await start(manyFiles(1));
    const noToken = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream`);
    expect(noToken.unexpected?.status).toBe(401);
    expect(noToken.unexpected?.body.error.code).toBe('authentication_required');
    const other = (await sys.createUser('Other')).apiKey;
    const foreign = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${other}`);
    expect(foreign.unexpected?.status).toBe(404);
    expect(foreign.unexpected?.body.error.code).toBe('resource_not_found');
    const badSince = await collectWs(streamUrl(taskId, '&since=-3'));
    expect(badSince.unexpected?.status).toBe(422);
  });
});

describe('GraphQL subscription taskEvents', () => {
  it('delivers the same sequence as the REST stream and resumes with since', async () => {
    const taskId = await start();
    const cut = await subscribeGraphql(sys.wsUrl, key, TASK_EVENTS, { taskId }, (d) => d.taskEvents.seq === 3);
    expect(cut.errors).toEqual([]);
    expect(cut.results.map((r) => r.taskEvents.seq)).toEqual([1, 2, 3]);
    const resumed = await subscribeGraphql(sys.wsUrl, key, TASK_EVENTS, { taskId, since: 3 });
    const seqs = [...cut.results, ...resumed.results].map((r) => r.taskEvents.seq);
    expectConsecutive(seqs, 1);
    expect(resumed.results.at(-1).taskEvents).toMatchObject({ type: 'RESULT', status: 'COMPLETED', progress: 100 });
    const rest = await collectWs(streamUrl(taskId));
    expect(rest.messages.map((m) => [m.seq, m.type, m.status])).toEqual(
      [...cut.results, ...resumed.results].map((r) => [r.taskEvents.seq, r.taskEvents.type.toLowerCase(), r.taskEvents.status.toLowerCase()]),
    );
  });

  it("answers RESOURCE_NOT_FOUND for another tenant's task", async () => {
    const taskId = await start(manyFiles(1));
    const other = (await sys.createUser('Other')).apiKey;
    const { results, errors } = await subscribeGraphql(sys.wsUrl, other, TASK_EVENTS, { taskId });
    expect(results).toEqual([]);
    expect(errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
  });
});

describe('cancellation', () => {
  it('cancels a running task: final state at once, the stream ends with task_cancelled, the agent stops', async () => {
    const taskId = await start(manyFiles(30));
    const watching = collectWs(streamUrl(taskId));
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${taskId}`)).body.progress >= 10 ? true : undefined));
    const res = await api.delete(`/v1/agents/tasks/${taskId}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, task_id: taskId, status: 'cancelled' });

    const { messages } = await watching;
    expect(messages.at(-1)).toMatchObject({ type: 'error', status: 'cancelled', error: { code: 'task_cancelled' } });
    expectConsecutive(messages.map((m) => m.seq), 1);
    const handle = sys.services.temporal.workflow.getHandle(taskId);
    expect(await handle.result()).toBe('cancelled');
    // The cancellation reached the running activity, which acknowledged it through its heartbeat.
    const history = await handle.fetchHistory();
    const kinds = history.events!.map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as any)[k]));
    expect(kinds).toContain('activityTaskCancelRequestedEventAttributes');
    expect(kinds).toContain('activityTaskCanceledEventAttributes');
    const task = (await api.get(`/v1/agents/tasks/${taskId}`)).body;
    expect(task.status).toBe('cancelled');
    expect(task.progress).toBeLessThan(100);
    // Nothing is recorded after the terminal event: the agent stopped writing.
    const events = await sys.services.db.event.findMany({ where: { streamId: taskId }, orderBy: { seq: 'asc' } });
    expect(events.at(-1)!.type).toBe('error');
    expect(events.filter((e) => e.type === 'error' || e.type === 'result')).toHaveLength(1);
  });
});

describe('time limit', () => {
  it('ends a task over its limit as timed_out: 408 task_timeout on REST, an error event on the stream', async () => {
    const taskId = await start(manyFiles(40), { timeout_seconds: 1 });
    const { messages } = await collectWs(streamUrl(taskId));
    expect(messages.at(-1)).toMatchObject({ type: 'error', status: 'timed_out', error: { code: 'task_timeout' } });
    const res = await api.get(`/v1/agents/tasks/${taskId}`);
    expect(res.status).toBe(408);
    expect(res.body.error.code).toBe('task_timeout');
    expect(res.body.error.details.task).toMatchObject({ task_id: taskId, status: 'timed_out', error: { code: 'task_timeout' } });
    expect(await sys.services.temporal.workflow.getHandle(taskId).result()).toBe('timed_out');
  });
});
