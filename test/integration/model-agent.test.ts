/**
 * The model agent on the gpu queue against a local server that speaks the OpenAI chat
 * completions protocol (streamed server-sent events with usage), standing in for a hosted model:
 * streamed text becomes progress, tokens and cost come from the provider's usage, 5xx is retried
 * and billed once, 4xx is not retried, and a task waits as queued until a gpu worker polls.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/postgres.js';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** What the fake provider does with each request, in order. */
let script: Array<'fail-500' | 'fail-400' | 'answer'> = [];
const received: Array<{ body: any; auth?: string }> = [];
let model: Server;
let modelUrl: string;

const ANSWER = ['The login handler ', 'builds SQL from ', 'request input; ', 'use a parameterised query.'];

async function readBody(req: IncomingMessage) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return JSON.parse(data);
}

beforeAll(async () => {
  const port = await freePort();
  modelUrl = `http://127.0.0.1:${port}/v1`;
  model = createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
    received.push({ body: await readBody(req), auth: req.headers.authorization });
    const step = script.shift() ?? 'answer';
    if (step === 'fail-500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}');
    if (step === 'fail-400') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"context length exceeded"}}');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const piece of ANSWER) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((r) => model.listen(port, '127.0.0.1', r));
});
afterAll(() => model?.close());

const env = () => ({
  MODEL_BASE_URL: modelUrl,
  MODEL_API_KEY: 'sk-test-provider-key-123',
  MODEL_NAME: 'test-model',
  MODEL_PROMPT_PRICE_PER_MTOK: '2',
  MODEL_COMPLETION_PRICE_PER_MTOK: '8',
});

async function completedOrFailed(api: ReturnType<typeof restClient>, id: string) {
  return waitFor(async () => {
    const t = (await api.get(`/v1/agents/tasks/${id}`)).body;
    return ['completed', 'failed'].includes(t.status) ? t : undefined;
  }, 60_000);
}

describe('model agent', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ env: env() });
  });
  afterAll(() => sys?.close());

  it('streams the answer as progress and bills the provider usage once, after retrying two 500s', async () => {
    script = ['fail-500', 'fail-500', 'answer'];
    received.length = 0;
    const { apiKey } = await sys.createUser('Asker');
    const api = restClient(sys.url, apiKey);
    const res = await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'assistant', max_tokens: 500, temperature: 0.2 });
    expect(res.status).toBe(202);
    const task = await completedOrFailed(api, res.body.task_id);
    expect(task).toMatchObject({
      status: 'completed',
      result: { findings: [], summary: ANSWER.join('') },
      tokens_used: { prompt: 120, completion: 30, total: 150 },
      cost_usd: (120 * 2 + 30 * 8) / 1e6,
    });
    expect(received).toHaveLength(3);
    expect(received[2]!.body).toMatchObject({ model: 'test-model', stream: true, stream_options: { include_usage: true }, max_tokens: 500, temperature: 0.2 });
    expect(received[2]!.auth).toBe('Bearer sk-test-provider-key-123');
    expect(received[2]!.body.messages[1].content).toContain('SELECT * FROM users');
    const events = await sys.services.db.event.findMany({ where: { streamId: res.body.task_id }, orderBy: { seq: 'asc' } });
    expect(events.some((e) => (e.data as any).message?.startsWith('Model streamed'))).toBe(false); // under 200 characters: no interim event
    expect(events.at(-1)!.type).toBe('result');
    expect(sys.logs.join('\n')).not.toContain('sk-test-provider-key-123');
  });

  it('does not retry a 4xx: the task fails with the provider message', async () => {
    script = ['fail-400'];
    received.length = 0;
    const { apiKey } = await sys.createUser('Asker2');
    const api = restClient(sys.url, apiKey);
    const id = (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'assistant' })).body.task_id;
    const task = await completedOrFailed(api, id);
    expect(task.status).toBe('failed');
    expect(task.error).toEqual({ code: 'agent_error', message: expect.stringContaining('answered 400') });
    expect(received).toHaveLength(1);
  });
});

describe('no gpu worker', () => {
  it('keeps a model task queued with the reason until a gpu worker starts', async () => {
    const sys = await startTestSystem({ env: { ...env(), WORKER_QUEUES: 'cpu' } });
    try {
      script = ['answer'];
      const { apiKey } = await sys.createUser('Patient');
      const api = restClient(sys.url, apiKey);
      const id = (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'assistant' })).body.task_id;
      // The workflow runs on cpu and takes the slot; the agent waits for a gpu poller, and says so.
      const waiting = await waitFor(async () => {
        const t = (await api.get(`/v1/agents/tasks/${id}`)).body;
        return t.queue_reason && t.queue_position === null ? t : undefined; // slot taken, agent not started
      });
      expect(waiting).toMatchObject({ status: 'queued', queue_position: null, result: null });
      expect(waiting.queue_reason).toContain(`No worker is polling the gpu queue (${sys.config.taskQueues.gpu})`);
      await sys.startWorker(['gpu']);
      const done = await completedOrFailed(api, id);
      expect(done.status).toBe('completed');
    } finally {
      await sys.close();
    }
  });
});
