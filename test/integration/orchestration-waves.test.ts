/**
 * Waves: the model agents of a parallel orchestration run together in one activity, each still
 * its own task. Against a local server that speaks the OpenAI chat completions protocol (the
 * stand-in for a hosted model): one activity for the whole wave, each agent's own result, stream
 * and bill; a refusal (4xx) fails that agent alone, a 5xx reruns it alone; fail fast stops the
 * rest; cancelling one agent or the orchestration stops the calls; the time limit holds; a gpu
 * worker that dies mid-wave leaves nothing doubled; the model calls per worker are capped.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/postgres.js';
import { readEvents } from '../../src/events/event-store.js';
import { restClient, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

type Step = 'answer' | 'fail-400' | 'fail-500' | { delayMs: number };

/** What the model server does with each request, in arrival order; then `fallback`. */
let script: Step[] = [];
let fallback: Step = 'answer';
const calls = { received: 0, open: 0, peak: 0, aborted: 0 };
let model: Server;
let modelUrl: string;

function resetModel(steps: Step[], then: Step = 'answer') {
  script = steps;
  fallback = then;
  Object.assign(calls, { received: 0, open: 0, peak: 0, aborted: 0 });
}

beforeAll(async () => {
  const port = await freePort();
  modelUrl = `http://127.0.0.1:${port}/v1`;
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    for await (const chunk of req) void chunk;
    calls.received++;
    calls.peak = Math.max(calls.peak, ++calls.open);
    let done = false;
    res.on('close', () => {
      calls.open--;
      if (!done) calls.aborted++;
    });
    const step = script.shift() ?? fallback;
    if (typeof step === 'object') await new Promise((r) => setTimeout(r, step.delayMs));
    if (res.destroyed) return;
    done = true;
    if (step === 'fail-500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}');
    if (step === 'fail-400') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"context length exceeded"}}');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const piece of ['Looks ', 'fine.']) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 100, completion_tokens: 4, total_tokens: 104 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  model = createServer((req, res) => void answer(req, res));
  await new Promise<void>((r) => model.listen(port, '127.0.0.1', r));
});
afterAll(() => model?.close());

const modelEnv = () => ({ MODEL_BASE_URL: modelUrl, MODEL_NAME: 'test-model' });

async function finished(api: ReturnType<typeof restClient>, id: string) {
  return waitFor(async () => {
    const o = (await api.get(`/v1/agents/orchestrations/${id}`)).body;
    return o.status !== 'in_progress' ? o : undefined;
  }, 60_000);
}

/** The activity types the orchestration's workflow scheduled, in order. */
async function scheduled(sys: TestSystem, id: string): Promise<string[]> {
  const { events } = await sys.services.temporal.workflow.getHandle(id).fetchHistory();
  return (events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : []));
}

const orchestrate = (api: ReturnType<typeof restClient>, agents: string[], extra: Record<string, unknown> = {}) =>
  api.post('/v1/agents/orchestrate', { goal: 'Review the code', strategy: 'parallel', agents, context: { files: [{ path: 'a.ts', content: 'export const a = 1;\n' }] }, ...extra });

describe('waves', () => {
  let sys: TestSystem;
  let api: ReturnType<typeof restClient>;
  beforeAll(async () => {
    sys = await startTestSystem({ env: modelEnv() });
    api = restClient(sys.url, (await sys.createUser('Waves')).apiKey);
  });
  afterAll(() => sys?.close());

  it("runs the model agents as one activity, each its own task with its own result, stream and bill; the built-in agent apart", async () => {
    resetModel([]);
    const res = await orchestrate(api, ['assistant', 'assistant', 'assistant', 'assistant', 'security_expert']);
    expect(res.status).toBe(202);
    const o = await finished(api, res.body.orchestration_id);
    expect(o.status).toBe('completed');
    expect(o.agents.map((a: any) => a.status)).toEqual(Array(5).fill('completed'));
    expect(calls.received).toBe(4);
    const kinds = await scheduled(sys, res.body.orchestration_id);
    expect(kinds.filter((k) => k === 'runAgentWave')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'runAgent')).toHaveLength(1); // the built-in agent, on its own on the cpu queue
    for (const a of o.agents.slice(0, 4)) {
      const task = (await api.get(`/v1/agents/tasks/${a.task_id}`)).body;
      expect(task).toMatchObject({ status: 'completed', result: { summary: 'Looks fine.' }, tokens_used: { prompt: 100, completion: 4 } });
      const events = await readEvents(sys.services.db, a.task_id, 0, 100);
      expect(events.map((e) => e.data.status)).toEqual(['queued', 'running', 'completed']);
      expect(events.filter((e) => e.type === 'result')).toHaveLength(1);
    }
  });

  it('fails a refused agent alone and reruns one the model could not answer, billed once (best effort)', async () => {
    resetModel(['fail-400', 'fail-500']);
    const res = await orchestrate(api, ['assistant', 'assistant', 'assistant', 'assistant']);
    const o = await finished(api, res.body.orchestration_id);
    expect(o.status).toBe('partial');
    const tasks = await Promise.all(o.agents.map(async (a: any) => (await api.get(`/v1/agents/tasks/${a.task_id}`)).body));
    const failed = tasks.filter((t) => t.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0].error.message).toContain('context length exceeded');
    expect(tasks.filter((t) => t.status === 'completed')).toHaveLength(3);
    // Four calls in the wave, one more for the agent that got the 500 (on its own path).
    expect(calls.received).toBe(5);
    expect(await scheduled(sys, res.body.orchestration_id)).toContain('runAgent');
    for (const t of tasks.filter((x) => x.status === 'completed')) expect(t.tokens_used.prompt).toBe(100);
  });

  it('fail fast: a refusal stops the rest of the wave', async () => {
    resetModel(['fail-400'], { delayMs: 10_000 });
    const res = await orchestrate(api, ['assistant', 'assistant', 'assistant'], { failure_policy: 'fail_fast' });
    const o = await finished(api, res.body.orchestration_id);
    expect(o.status).toBe('failed');
    expect(o.agents.map((a: any) => a.status).sort()).toEqual(['cancelled', 'cancelled', 'failed']);
    await waitFor(async () => (calls.aborted === 2 ? true : undefined), 10_000, 50);
  });

  it('cancelling one agent stops its call alone; cancelling the orchestration stops them all', async () => {
    resetModel([{ delayMs: 10_000 }, { delayMs: 1_500 }, { delayMs: 1_500 }]);
    const res = await orchestrate(api, ['assistant', 'assistant', 'assistant']);
    const id = res.body.orchestration_id;
    await waitFor(async () => (calls.open === 3 ? true : undefined), 20_000, 50);
    // The slow one is whichever got the first request: cancel each task still running after the others.
    const others = await waitFor(async () => {
      const agents = (await api.get(`/v1/agents/orchestrations/${id}`)).body.agents;
      return agents.filter((a: any) => a.status === 'completed').length === 2 ? agents : undefined;
    }, 20_000, 50);
    const slow = others.find((a: any) => a.status === 'running');
    expect((await api.delete(`/v1/agents/tasks/${slow.task_id}`)).status).toBe(200);
    const o = await finished(api, id);
    expect(o.status).toBe('partial');
    expect(o.agents.filter((a: any) => a.status === 'cancelled')).toHaveLength(1);
    expect(calls.aborted).toBe(1);

    resetModel([], { delayMs: 10_000 });
    const all = await orchestrate(api, ['assistant', 'assistant', 'assistant']);
    await waitFor(async () => (calls.open === 3 ? true : undefined), 20_000, 50);
    expect((await api.delete(`/v1/agents/orchestrations/${all.body.orchestration_id}`)).status).toBe(200);
    const cancelled = await finished(api, all.body.orchestration_id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.agents.map((a: any) => a.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await waitFor(async () => (calls.aborted === 3 ? true : undefined), 10_000, 50);
    // The workflow ends once the wave's activity has stopped.
    const handle = sys.services.temporal.workflow.getHandle(all.body.orchestration_id);
    await waitFor(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 10_000, 50);
  });

  it("ends an agent past its time limit timed out and stops its call", async () => {
    resetModel([], { delayMs: 10_000 });
    const res = await orchestrate(api, ['assistant', 'assistant'], { timeout_seconds: 1 });
    const o = await finished(api, res.body.orchestration_id);
    expect(o.agents.map((a: any) => a.status)).toEqual(['timed_out', 'timed_out']);
    await waitFor(async () => (calls.aborted === 2 ? true : undefined), 10_000, 50);
  });
});

describe('a gpu worker that dies mid-wave', () => {
  it('reruns the agents that had not ended on their own and doubles nothing', async () => {
    const sys = await startTestSystem({ env: modelEnv(), worker: false });
    try {
      const api = restClient(sys.url, (await sys.createUser('Survivor')).apiKey);
      await sys.startWorker(['cpu']);
      const gpu = await sys.startWorker(['gpu']);
      resetModel(['answer', 'answer'], { delayMs: 30_000 });
      const res = await orchestrate(api, ['assistant', 'assistant', 'assistant', 'assistant']);
      const id = res.body.orchestration_id;
      await waitFor(async () => ((await api.get(`/v1/agents/orchestrations/${id}`)).body.agents.filter((a: any) => a.status === 'completed').length === 2 ? true : undefined), 20_000, 50);
      await waitFor(async () => (calls.open === 2 ? true : undefined), 20_000, 50);
      await gpu.close(); // its wave is cut short
      fallback = 'answer';
      await sys.startWorker(['gpu']);
      const o = await finished(api, id);
      expect(o.status).toBe('completed');
      // Two answered in the wave, two cut off and asked again on their own.
      expect(calls.received).toBe(6);
      for (const a of o.agents) {
        const events = await readEvents(sys.services.db, a.task_id, 0, 100);
        expect(events.filter((e) => e.type === 'result')).toHaveLength(1);
        expect((await api.get(`/v1/agents/tasks/${a.task_id}`)).body.tokens_used.prompt).toBe(100);
      }
    } finally {
      await sys.close();
    }
  });
});

describe('the model call limit', () => {
  it('caps the model calls one gpu worker makes at once at WORKER_GPU_MAX_CONCURRENT_ACTIVITIES, waves included', async () => {
    const sys = await startTestSystem({ env: { ...modelEnv(), WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: '2' } });
    try {
      const api = restClient(sys.url, (await sys.createUser('Capped')).apiKey);
      resetModel([], { delayMs: 300 });
      const res = await orchestrate(api, Array(6).fill('assistant'));
      const o = await finished(api, res.body.orchestration_id);
      expect(o.status).toBe('completed');
      expect(calls.received).toBe(6);
      expect(calls.peak).toBe(2);
    } finally {
      await sys.close();
    }
  });
});
