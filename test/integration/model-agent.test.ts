/**
 * The model agent on the gpu queue against a local server that speaks the OpenAI chat
 * completions protocol (streamed server-sent events with usage), standing in for a hosted model:
 * streamed text becomes progress, tokens and cost come from the provider's usage, 5xx is retried
 * and billed once, 4xx is not retried, and a task waits as queued until a gpu worker polls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/postgres.js';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** What the fake provider does with each request, in order (`{ text }`: stream that text as the answer). */
let script: Array<'fail-500' | 'fail-400' | 'fail-401' | 'answer' | { text: string }> = [];
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
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
    received.push({ body: await readBody(req), auth: req.headers.authorization });
    const step = script.shift() ?? 'answer';
    if (step === 'fail-500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded"}}');
    if (step === 'fail-401') return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"invalid key for org acct-4711"}}');
    if (step === 'fail-400') return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"context length exceeded"}}');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces = typeof step === 'object' ? step.text.match(/[\s\S]{1,40}/g)! : ANSWER;
    for (const piece of pieces) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  // Each request is answered on its own; a failure in it is an unhandled rejection, which vitest reports.
  model = createServer((req, res) => void answer(req, res));
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
    expect(received[2].body).toMatchObject({ model: 'test-model', stream: true, stream_options: { include_usage: true }, max_tokens: 500, temperature: 0.2 });
    expect(received[2].auth).toBe('Bearer sk-test-provider-key-123');
    expect(received[2].body.messages[1].content).toContain('SELECT * FROM users');
    // The final event is appended just after the task row turns completed.
    const events = await waitFor(async () => {
      const all = await sys.services.db.event.findMany({ where: { streamId: res.body.task_id }, orderBy: { seq: 'asc' } });
      return all.at(-1)?.type === 'result' ? all : undefined;
    });
    expect(events.some((e) => (e.data as any).message?.startsWith('Model streamed'))).toBe(false); // under 200 characters: no interim event
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

  it("keeps the provider's words about the operator's account out of the task (401)", async () => {
    script = ['fail-401'];
    const { apiKey } = await sys.createUser('Asker3');
    const api = restClient(sys.url, apiKey);
    const task = await completedOrFailed(api, (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'assistant' })).body.task_id);
    expect(task.error.message).toContain('answered 401');
    expect(task.error.message).toContain('MODEL_API_KEY');
    expect(JSON.stringify(task)).not.toContain('acct-4711');
  });
});

describe('code_expert with a model', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ env: env() });
  });
  afterAll(() => sys?.close());

  // Two lines: the built-in rules find the empty catch on line 2; the model adds the missing await on line 1.
  const file = { path: 'src/save.ts', content: 'export async function save(db: any) { db.write(); }\nexport function load(raw: string) { try { return JSON.parse(raw); } catch (e) {} }\n' };
  const review = (apiKey: string) => restClient(sys.url, apiKey).post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', context: { files: [file] } });

  it('adds the findings the model grounds in real lines to the built-in ones, and bills its tokens', async () => {
    const answer = [
      { file: 'src/save.ts', line: 1, severity: 'high', title: 'Promise not awaited', description: 'db.write() returns a promise nobody awaits.', suggestion: 'await db.write()' },
      { file: 'src/other.ts', line: 3, severity: 'low', title: 'A file that was not given', description: '', suggestion: '' },
      { file: 'src/save.ts', line: 40, severity: 'low', title: 'A line past the end', description: '', suggestion: '' },
      { file: 'src/save.ts', line: 2, severity: 'urgent', title: 'Missing fields' },
      'not a finding',
    ];
    script = [{ text: `Here is what I found:\n\`\`\`json\n${JSON.stringify(answer)}\n\`\`\`` }];
    received.length = 0;
    const { apiKey } = await sys.createUser('Reviewer');
    const res = await review(apiKey);
    expect(res.status).toBe(202);
    const task = await completedOrFailed(restClient(sys.url, apiKey), res.body.task_id);
    expect(task.status).toBe('completed');
    const builtin = task.result.findings.filter((f: any) => f.rule_id !== 'model-review');
    expect(builtin.map((f: any) => `${f.rule_id}@${f.line}`)).toEqual(['swallowed-error@2']);
    expect(task.result.findings.filter((f: any) => f.rule_id === 'model-review')).toEqual([
      { rule_id: 'model-review', severity: 'high', title: 'Promise not awaited', description: 'db.write() returns a promise nobody awaits.', file: 'src/save.ts', line: 1, suggestion: 'await db.write()' },
      // Missing description and suggestion default to empty; an unknown severity reads as medium.
      { rule_id: 'model-review', severity: 'medium', title: 'Missing fields', description: '', file: 'src/save.ts', line: 2, suggestion: '' },
    ]);
    expect(task.result.analysis).toEqual({ mode: 'builtin+model', builtin_findings: 1, model_findings: 2, note: null });
    expect(task.tokens_used).toEqual({ prompt: 120, completion: 30, total: 150 });
    // The model was told what the built-in rules found, and given the file.
    expect(received).toHaveLength(1);
    const [system, user] = received[0].body.messages;
    expect(system.content).toContain('Answer with a JSON array only');
    expect(user.content).toContain('src/save.ts:2 ');
    expect(user.content).toContain('export async function save');
  });

  it('keeps the built-in findings, and says why, when the model refuses the request', async () => {
    script = ['fail-400'];
    const { apiKey } = await sys.createUser('Reviewer2');
    const task = await completedOrFailed(restClient(sys.url, apiKey), (await review(apiKey)).body.task_id);
    expect(task.status).toBe('completed');
    expect(task.result.findings.map((f: any) => f.rule_id)).toEqual(['swallowed-error']);
    expect(task.result.analysis).toMatchObject({ mode: 'builtin', builtin_findings: 1, model_findings: 0 });
    expect(task.result.analysis.note).toMatch(/^The model step failed, so these are the built-in findings alone: The model endpoint answered 400/);
    expect(task.tokens_used.total).toBe(0);
  });

  it('keeps the built-in findings when the model answers prose instead of JSON (tokens still billed)', async () => {
    script = [{ text: 'Looks good to me overall, nice work.' }];
    const { apiKey } = await sys.createUser('Reviewer3');
    const task = await completedOrFailed(restClient(sys.url, apiKey), (await review(apiKey)).body.task_id);
    expect(task.result.findings).toHaveLength(1);
    expect(task.result.analysis).toEqual({
      mode: 'builtin+model',
      builtin_findings: 1,
      model_findings: 0,
      note: 'The model answered something other than a JSON array of findings; its answer was not used.',
    });
    expect(task.tokens_used.total).toBe(150);
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
