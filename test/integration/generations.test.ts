/**
 * Generations, chat and model-filled scaffolds against a local server that speaks the OpenAI
 * chat completions protocol (streamed server-sent events with usage), standing in for a hosted
 * model: the sync/async threshold at 200 tokens (gpt-tokenizer), parsing of JSON and fenced
 * answers, analyzer warnings, computed confidence, polling and the generationUpdated
 * subscription, retry, project language inference, tenant isolation, every bad input, the SSE
 * chat stream and its abort, and the retention schedule.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { countTokens } from 'gpt-tokenizer';
import JSZip from 'jszip';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/embedded/postgres.js';
import { newId } from '../../src/ids.js';
import { deleteExpiredGenerations } from '../../src/services/generations.js';
import { ensureRetentionSchedule, retentionScheduleId } from '../../src/temporal/schedules.js';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { buildScaffold } from '../helpers/scaffold.js';
import { joinTeam } from '../helpers/fixtures.js';

type Step =
  | { answer: string; delayMs?: number }
  | { status: number }
  | { endless: true }
  | { stall: true };

/** What the fake provider answers, in order; when empty, DEFAULT. */
const script: Step[] = [];
const received: any[] = [];
let closedEarly = 0;
let model: Server;
let modelUrl: string;

const TS_EVAL = 'export function calc(input: string): unknown {\n  return eval(input);\n}\n';
const DEFAULT = JSON.stringify({ language: 'typescript', code: 'export const add = (a: number, b: number): number => a + b;\n', explanation: 'An arrow function.', confidence: 0.9 });

async function readBody(req: IncomingMessage) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return JSON.parse(data);
}

const event = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`;

beforeAll(async () => {
  const port = await freePort();
  modelUrl = `http://127.0.0.1:${port}/v1`;
  const answer = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
    received.push(await readBody(req));
    const step = script.shift() ?? { answer: DEFAULT };
    if ('status' in step) return void res.writeHead(step.status, { 'content-type': 'application/json' }).end('{"error":{"message":"bad request"}}');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if ('stall' in step) {
      // A model that thinks for a long time: headers, then nothing (for at most 30 s).
      res.flushHeaders();
      let ended = false;
      res.on('close', () => {
        if (!ended) closedEarly++;
      });
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 30_000);
        res.on('close', () => (clearTimeout(timer), r()));
      });
      ended = true;
      return void (res.destroyed || res.end('data: [DONE]\n\n'));
    }
    if ('endless' in step) {
      let ended = false;
      res.on('close', () => {
        if (!ended) closedEarly++;
      });
      for (let i = 0; i < 200 && !res.destroyed; i++) {
        res.write(event(`word${i} `));
        await new Promise((r) => setTimeout(r, 50));
      }
      ended = true;
      return void res.end('data: [DONE]\n\n');
    }
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    for (let i = 0; i < step.answer.length; i += 25) res.write(event(step.answer.slice(i, i + 25)));
    res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 50, completion_tokens: 40, total_tokens: 90 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  // Each request is answered on its own; a failure in it is an unhandled rejection, which vitest reports.
  model = createServer((req, res) => void answer(req, res));
  await new Promise<void>((r) => model.listen(port, '127.0.0.1', r));
});
afterAll(() => model?.close());

/** A prompt of exactly `tokens` tokens (o200k_base, as the gateway counts). */
function promptOf(tokens: number): string {
  let s = 'Write a TypeScript function that adds two numbers.';
  while (countTokens(s) < tokens) s += ' data';
  expect(countTokens(s)).toBe(tokens);
  return s;
}

let sys: TestSystem;
let api: ReturnType<typeof restClient>;
let apiKey: string;
let userId: string;

beforeAll(async () => {
  sys = await startTestSystem({ env: { MODEL_BASE_URL: modelUrl, MODEL_NAME: 'test-model', GENERATION_RETENTION_DAYS: '90' } });
  ({ apiKey, userId } = await sys.createUser('Generator'));
  api = restClient(sys.url, apiKey);
});
afterAll(() => sys?.close());
beforeEach(() => {
  script.length = 0;
  received.length = 0;
});

const countRows = () => sys.services.db.generation.count();

describe('POST /v1/generations', () => {
  it('answers a prompt just under 200 tokens synchronously: code, explanation, the model\'s confidence, analyzer warnings', async () => {
    script.push({ answer: JSON.stringify({ language: 'typescript', code: TS_EVAL, explanation: 'Evaluates the expression.', confidence: 0.61 }) });
    const res = await api.post('/v1/generations', { prompt: promptOf(199), language: 'typescript' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      object: 'generation',
      status: 'completed',
      language: 'typescript',
      code: TS_EVAL,
      explanation: 'Evaluates the expression.',
      confidence: 0.61,
      error: null,
      tokens_used: { prompt: 50, completion: 40, total: 90 },
      options: { style: null, verbosity: null, safety_filters: true },
    });
    expect(res.body.id).toMatch(/^gen_/);
    expect(res.body.warnings).toEqual([
      expect.objectContaining({ severity: 'high', category: 'security', rule_id: 'code-eval', line: 2, suggestion: expect.stringContaining('JSON.parse') }),
    ]);
    const days = (Date.parse(res.body.expires_at) - Date.parse(res.body.created_at)) / 86_400_000;
    expect(days).toBe(90);
    expect(received[0]).toMatchObject({ model: 'test-model', stream: true });
    expect(received[0].messages[0].content).toContain('Write the code in typescript.');
  });

  it('answers a prompt of 200 tokens with processing (202); polling GET sees it complete', async () => {
    script.push({ answer: DEFAULT, delayMs: 1500 });
    const res = await api.post('/v1/generations', { prompt: promptOf(200), language: 'typescript' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'processing', code: null, confidence: null, warnings: [] });
    const done = await waitFor(async () => {
      const g = (await api.get(`/v1/generations/${res.body.id}`)).body;
      return g.status === 'processing' ? undefined : g;
    });
    expect(done).toMatchObject({ status: 'completed', code: expect.stringContaining('export const add'), confidence: 0.9, warnings: [] });
  });

  it('the generationUpdated subscription sees an async generation complete', async () => {
    script.push({ answer: DEFAULT, delayMs: 1500 });
    const created = await graphql(sys.url, apiKey, 'mutation($input: CreateGenerationInput!) { createGeneration(input: $input) { generation { id status } } }', {
      input: { prompt: promptOf(250), language: 'typescript' },
    });
    const { id, status } = created.body.data.createGeneration.generation;
    expect(status).toBe('PROCESSING');
    const { results, errors } = await subscribeGraphql(
      sys.wsUrl,
      apiKey,
      'subscription($id: ID!) { generationUpdated(id: $id) { id status code confidence } }',
      { id },
      (d) => d.generationUpdated.status !== 'PROCESSING',
    );
    expect(errors).toEqual([]);
    expect(results[0].generationUpdated.status).toBe('PROCESSING');
    expect(results.at(-1).generationUpdated).toMatchObject({ id, status: 'COMPLETED', code: expect.stringContaining('add'), confidence: 0.9 });
  });

  it('falls back to fenced code when the model ignores the JSON format, and computes the confidence from the warnings', async () => {
    script.push({ answer: 'Here is the code:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds.' });
    script.push({ answer: 'Here is the code:\n```python\ndef calc(expr):\n    return eval(expr)\n```\nIt evaluates.' });
    const clean = (await api.post('/v1/generations', { prompt: 'Add two numbers', language: 'python' })).body;
    const risky = (await api.post('/v1/generations', { prompt: 'Evaluate an expression', language: 'python' })).body;
    expect(clean).toMatchObject({ status: 'completed', code: 'def add(a, b):\n    return a + b', explanation: 'Here is the code: It adds.', confidence: 0.7, warnings: [] });
    expect(risky).toMatchObject({ status: 'completed', code: 'def calc(expr):\n    return eval(expr)', warnings: [expect.objectContaining({ rule_id: 'code-eval' })] });
    expect(risky.confidence).toBe(0.5); // 0.7 for a fenced answer, minus 0.2 for a high warning
  });

  it('fails a generation whose answer holds no code, and retry runs it again', async () => {
    script.push({ answer: 'I am not sure what you mean.' });
    const failed = await api.post('/v1/generations', { prompt: 'Do the thing', language: 'go' });
    expect(failed.status).toBe(201);
    expect(failed.body).toMatchObject({ status: 'failed', code: null, error: { code: 'agent_error', message: expect.stringContaining('without any code') } });
    script.push({ answer: '```go\npackage main\n\nfunc main() {}\n```' });
    const retried = await api.post(`/v1/generations/${failed.body.id}/retry`, {});
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ id: failed.body.id, status: 'completed', code: 'package main\n\nfunc main() {}', error: null, attempts: 2 });
  });

  it('retries once per Idempotency-Key: concurrent and later repeats answer the first retry; another generation with the key is 409', async () => {
    const first = await api.post('/v1/generations', { prompt: 'Add two numbers', language: 'typescript' });
    expect(first.status).toBe(201);
    const calls = received.length;
    const headers = { 'idempotency-key': `retry-${first.body.id}` };
    const [a, b] = await Promise.all([api.post(`/v1/generations/${first.body.id}/retry`, {}, headers), api.post(`/v1/generations/${first.body.id}/retry`, {}, headers)]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body).toEqual(b.body);
    expect(a.body).toMatchObject({ id: first.body.id, status: 'completed', attempts: 2 });
    expect([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')].sort()).toEqual(['true', null].sort());
    const later = await api.post(`/v1/generations/${first.body.id}/retry`, {}, headers);
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(later.body).toEqual(a.body);
    expect(received.length - calls).toBe(1); // the model ran once
    const stored = await sys.services.db.generation.findUniqueOrThrow({ where: { id: first.body.id } });
    expect(stored.attempts).toBe(2);
    const other = await api.post('/v1/generations', { prompt: 'Subtract two numbers', language: 'typescript' });
    const conflict = await api.post(`/v1/generations/${other.body.id}/retry`, {}, headers);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('idempotency_conflict');
    // Without a key each retry runs again.
    const again = await api.post(`/v1/generations/${first.body.id}/retry`, {});
    expect(again.body.attempts).toBe(3);
  });

  it('does not retry a 4xx from the provider, and refuses to retry a generation still processing (409)', async () => {
    script.push({ status: 400 });
    const failed = (await api.post('/v1/generations', { prompt: 'Anything', language: 'rust' })).body;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'agent_error', message: expect.stringContaining('answered 400') } });
    expect(received).toHaveLength(1);
    script.push({ answer: DEFAULT, delayMs: 1500 });
    const slow = (await api.post('/v1/generations', { prompt: promptOf(220), language: 'typescript' })).body;
    const again = await api.post(`/v1/generations/${slow.id}/retry`, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'generation_not_retryable', message: expect.stringContaining('still processing') });
    await waitFor(async () => ((await api.get(`/v1/generations/${slow.id}`)).body.status === 'completed' ? true : undefined));
  });

  it('infers the language from the project and 404s another account\'s project, writing nothing', async () => {
    const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: userId, name: 'ingest', languages: ['python', 'sql'] } });
    script.push({ answer: JSON.stringify({ code: 'def f():\n    return 1\n', explanation: 'x' }) });
    const res = await api.post('/v1/generations', { prompt: 'Return one', project_id: project.id });
    expect(res.body).toMatchObject({ status: 'completed', language: 'python', project_id: project.id, confidence: 0.85 });
    expect(received[0].messages[0].content).toContain('Write the code in python.');
    expect(received[0].messages[1].content).toContain('"ingest"');

    const other = await sys.createUser('Other');
    const before = await countRows();
    const denied = await restClient(sys.url, other.apiKey).post('/v1/generations', { prompt: 'Return one', project_id: project.id });
    expect(denied.status).toBe(404);
    expect(denied.body.error.code).toBe('resource_not_found');
    expect(await countRows()).toBe(before);
  });

  it("gives the model the project's most relevant indexed files, and shows them in the result", async () => {
    const files = [
      { path: 'src/billing/invoice.ts', content: 'export function renderInvoice(total: number): string {\n  return `Total: ${total}`;\n}\n' },
      { path: 'src/users/profile.ts', content: 'export function parseUserProfile(raw: string) {\n  return JSON.parse(raw);\n}\n' },
    ];
    const created = await api.post('/v1/projects', { name: 'shop', languages: ['typescript'], files });
    expect(created.status).toBe(201);
    await waitFor(async () => ((await api.get(`/v1/projects/${created.body.id}`)).body.index.status === 'ready' ? true : undefined), 60_000, 100);
    const res = await api.post('/v1/generations', { prompt: 'Add a discount line to the invoice renderer', project_id: created.body.id });
    expect(res.body.status).toBe('completed');
    expect(res.body.context_files.map((f: any) => f.path)).toEqual(['src/billing/invoice.ts']);
    expect(res.body.context_files[0]).toMatchObject({ start_line: 1, snippet: expect.stringContaining('renderInvoice') });
    expect(received[0].messages[1].content).toContain('--- src/billing/invoice.ts (lines 1-');
    expect(received[0].messages[1].content).not.toContain('parseUserProfile');
    // Without a project there is no context.
    const plain = await api.post('/v1/generations', { prompt: 'Add two numbers', language: 'typescript' });
    expect(plain.body.context_files).toEqual([]);
  });

  it('replays the same Idempotency-Key and body, and conflicts on a different body', async () => {
    const key = `gen-${Date.now()}`;
    const first = await api.post('/v1/generations', { prompt: 'Add', language: 'typescript' }, { 'idempotency-key': key });
    const second = await api.post('/v1/generations', { prompt: 'Add', language: 'typescript' }, { 'idempotency-key': key });
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    const conflict = await api.post('/v1/generations', { prompt: 'Subtract', language: 'typescript' }, { 'idempotency-key': key });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('idempotency_conflict');
  });

  it('gives every bad input a clear error and writes nothing', async () => {
    const before = await countRows();
    const cases: Array<[unknown, number, string, string]> = [
      [{ prompt: '' }, 422, 'prompt', 'must not be empty'],
      [{ prompt: '   ' }, 422, 'prompt', 'must not be empty'],
      [{}, 422, 'prompt', 'is required'],
      [{ prompt: 'x', language: 'klingon' }, 422, 'language', 'must be one of: typescript, javascript'],
      [{ prompt: 'x'.repeat(50_001) }, 422, 'prompt', 'at most 50,000 characters'],
      [{ prompt: 'x', language: 'python', team_id: 'team_nope' }, 404, '', 'No team with id "team_nope"'],
      [{ prompt: 'x', options: { temperature: 2 } }, 422, 'options.temperature', 'is not a known body field'],
      [{ prompt: 'x', options: { verbosity: 'loud' } }, 422, 'options.verbosity', 'concise'],
      [{ prompt: 'x', options: { safety_filters: 'yes' } }, 422, 'options.safety_filters', 'must be boolean'],
      [{ prompt: 'x', colour: 'blue' }, 422, 'colour', 'is not a known body field'],
      [{ prompt: 'x', project_id: 'prj_nope' }, 404, '', 'No project with id "prj_nope"'],
      [{ prompt: 'write \u0000 code' }, 422, 'prompt', 'no NUL characters'],
      [{ prompt: 'x', options: { style: 'tabs \udc00' } }, 422, 'options.style', 'lone UTF-16 surrogates'],
    ];
    for (const [body, status, field, message] of cases) {
      const res = await api.post('/v1/generations', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.message, JSON.stringify(body)).toContain(message);
      if (field) expect(res.body.error.details, JSON.stringify(body)).toContainEqual({ field, message: expect.stringContaining(message) });
    }
    const bodyNotJson = await api.request('POST', '/v1/generations', '{"prompt": ', { 'content-type': 'application/json' });
    expect(bodyNotJson.status).toBe(400);
    expect(await countRows()).toBe(before);
    expect(received).toHaveLength(0);
  });
});

describe('GET /v1/generations', () => {
  it('lists newest first, at most 50 a page, and refuses a bigger page', async () => {
    const page = await api.get('/v1/generations?limit=2');
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ object: 'list', has_more: true, url: '/v1/generations' });
    expect(page.body.data).toHaveLength(2);
    expect(page.body.data[0].id > page.body.data[1].id).toBe(true);
    const next = await api.get(`/v1/generations?limit=2&starting_after=${page.body.next_cursor}`);
    expect(next.body.data[0].id < page.body.data[1].id).toBe(true);
    const fifty = await api.get('/v1/generations?limit=50');
    expect(fifty.status).toBe(200);
    const tooBig = await api.get('/v1/generations?limit=51');
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.error).toMatchObject({ code: 'validation_error', details: [{ field: 'limit', message: expect.stringContaining('50') }] });
    const gql = await graphql(sys.url, apiKey, '{ generations(first: 51) { edges { node { id } } } }');
    expect(gql.body.errors?.[0]?.extensions.code).toBe('VALIDATION_ERROR');
  });

  it("answers 404 for another account's generation, on GET, retry and GraphQL, and lists none of it", async () => {
    const mine = (await api.post('/v1/generations', { prompt: 'Add two numbers', language: 'typescript' })).body;
    expect(mine.id).toMatch(/^gen_/);
    const other = await sys.createUser('Stranger');
    const theirs = restClient(sys.url, other.apiKey);
    expect((await theirs.get(`/v1/generations/${mine.id}`)).status).toBe(404);
    const retry = await theirs.post(`/v1/generations/${mine.id}/retry`, {});
    expect(retry.status).toBe(404);
    expect(retry.body.error.code).toBe('resource_not_found');
    expect((await theirs.get('/v1/generations')).body.data).toEqual([]);
    const node = await graphql(sys.url, other.apiKey, 'query($id: ID!) { node(id: $id) { id } }', { id: mine.id });
    expect(node.body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect((await theirs.get('/v1/generations/gen_not-an-id')).status).toBe(404);
    // Listing by a project of another account is a 404 too, not an empty page.
    const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: userId, name: 'private' } });
    expect((await theirs.get(`/v1/generations?project_id=${project.id}`)).status).toBe(404);
    expect((await api.get(`/v1/generations?project_id=${project.id}`)).status).toBe(200);
  });
});

describe('OpenAPI', () => {
  it('documents the generation routes, the ZIP of the scaffold and the chat stream', async () => {
    const doc = (await api.get('/v1/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/generations'].post.responses)).toEqual(expect.arrayContaining(['201', '202', '422', '503']));
    expect(doc.paths['/v1/generations/{generation_id}/retry'].post.responses['409'].description).toContain('generation_not_retryable');
    expect(doc.paths['/v1/generations/scaffold'].post.responses['200'].content).toEqual({ 'application/zip': { schema: { type: 'string', format: 'binary' } } });
    expect(doc.paths['/v1/chat'].post.responses['200'].content).toHaveProperty(['text/event-stream']);
    expect(doc.paths['/v1/generations'].get.parameters).toContainEqual(expect.objectContaining({ name: 'limit', schema: expect.objectContaining({ maximum: 50 }) }));
  });
});

describe('keys and teams', () => {
  it('a publishable key may generate and read its generations, but not list keys', async () => {
    const created = await api.post('/v1/keys', { name: 'editor plugin', kind: 'publishable' });
    expect(created.status).toBe(201);
    const plugin = restClient(sys.url, created.body.secret);
    const g = await plugin.post('/v1/generations', { prompt: 'Add two numbers', language: 'typescript' });
    expect(g.status).toBe(201);
    expect(g.body.status).toBe('completed');
    expect((await plugin.get(`/v1/generations/${g.body.id}`)).body.id).toBe(g.body.id);
    expect((await plugin.post('/v1/generations/scaffold', { name: 'x', template: 'cli' })).status).toBe(200);
    expect((await plugin.get('/v1/keys')).status).toBe(403);
  });

  it("a team's generation is visible to its members and to nobody else; a viewer may not create one", async () => {
    const team = (await api.post('/v1/teams', { name: 'Generators' })).body;
    const mate = await sys.createUser('Mate');
    const viewer = await sys.createUser('Viewer');
    await joinTeam(sys.url, apiKey, team.id, mate, 'member');
    await joinTeam(sys.url, apiKey, team.id, viewer, 'viewer');
    const g = (await api.post('/v1/generations', { prompt: 'Add', language: 'typescript', team_id: team.id })).body;
    expect(g).toMatchObject({ status: 'completed', team_id: team.id });
    const mateApi = restClient(sys.url, mate.apiKey);
    expect((await mateApi.get(`/v1/generations/${g.id}`)).status).toBe(200);
    expect((await mateApi.get(`/v1/generations?team_id=${team.id}`)).body.data.map((x: any) => x.id)).toEqual([g.id]);
    expect((await mateApi.get('/v1/generations')).body.data).toEqual([]); // personal scope: none of the team's
    const before = await countRows();
    const refused = await restClient(sys.url, viewer.apiKey).post('/v1/generations', { prompt: 'Add', language: 'typescript', team_id: team.id });
    expect(refused.status).toBe(403);
    expect(await countRows()).toBe(before);
    const stranger = await sys.createUser('Stranger 2');
    expect((await restClient(sys.url, stranger.apiKey).get(`/v1/generations/${g.id}`)).status).toBe(404);
    expect((await restClient(sys.url, stranger.apiKey).get(`/v1/generations?team_id=${team.id}`)).status).toBe(404);
  });
});

/** Reads an SSE response into its events. */
async function readSse(res: Response) {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const lines = block.split('\n');
      return { event: lines.find((l) => l.startsWith('event: '))!.slice(7), data: JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) };
    });
}

describe('POST /v1/chat', () => {
  const chat = (body: unknown, signal?: AbortSignal) =>
    fetch(`${sys.url}/v1/chat`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal });

  it('streams delta events, then done with the usage', async () => {
    script.push({ answer: 'Use Array.prototype.map to transform each element.' });
    const res = await chat({ messages: [{ role: 'user', content: 'How do I transform an array?' }], temperature: 0.1 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = await readSse(res);
    expect(events.length).toBeGreaterThan(2);
    expect(events.slice(0, -1).every((e) => e.event === 'delta')).toBe(true);
    expect(events.slice(0, -1).map((e) => e.data.text).join('')).toBe('Use Array.prototype.map to transform each element.');
    expect(events.at(-1)).toEqual({
      event: 'done',
      data: { text: 'Use Array.prototype.map to transform each element.', usage: { prompt_tokens: 50, completion_tokens: 40, total_tokens: 90 } },
    });
    expect(received[0].messages.at(-1)).toEqual({ role: 'user', content: 'How do I transform an array?' });
    expect(received[0].temperature).toBe(0.1);
  });

  it('aborts the model call when the client disconnects', async () => {
    script.push({ endless: true });
    const abort = new AbortController();
    const res = await chat({ messages: [{ role: 'user', content: 'Talk forever' }] }, abort.signal);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: delta');
    const closedBefore = closedEarly;
    abort.abort();
    await waitFor(async () => (closedEarly > closedBefore ? true : undefined), 10_000);
  });

  it('ends with an authentication_required error event, and aborts the model call, when its key is revoked', async () => {
    const key = (await api.post('/v1/keys', { name: 'chat' })).body;
    script.push({ endless: true });
    const res = await fetch(`${sys.url}/v1/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Talk forever' }] }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    expect(text).toContain('event: delta');
    const closedBefore = closedEarly;
    expect((await api.delete(`/v1/keys/${key.id}`)).status).toBe(200);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value);
    const events = await readSse(new Response(text));
    expect(events.at(-1)).toEqual({ event: 'error', data: { error: expect.objectContaining({ code: 'authentication_required' }) } });
    expect(events.slice(0, -1).every((e) => e.event === 'delta')).toBe(true);
    await waitFor(async () => (closedEarly > closedBefore ? true : undefined), 10_000);
  });

  it('aborts the model call when the client leaves before the first token', async () => {
    script.push({ stall: true });
    const abort = new AbortController();
    const res = await chat({ messages: [{ role: 'user', content: 'Think hard' }] }, abort.signal);
    expect(res.status).toBe(200); // the stream is open; the model has sent nothing yet
    await waitFor(async () => (received.length === 1 ? true : undefined));
    const closedBefore = closedEarly;
    abort.abort();
    await waitFor(async () => (closedEarly > closedBefore ? true : undefined), 10_000);
  });

  it('ends with one error event when the provider fails', async () => {
    script.push({ status: 400 }, { status: 503 });
    const refused = await readSse(await chat({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(refused).toEqual([{ event: 'error', data: { error: expect.objectContaining({ code: 'agent_error', message: expect.stringContaining('400') }) } }]);
    const down = await readSse(await chat({ messages: [{ role: 'user', content: 'Hi' }] }));
    expect(down).toEqual([{ event: 'error', data: { error: expect.objectContaining({ code: 'service_unavailable' }) } }]);
  });

  it('refuses bad input with JSON errors before streaming', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ messages: [] }, 422, 'at least one message'],
      [{ messages: [{ role: 'robot', content: 'hi' }] }, 422, 'system, user or assistant'],
      [{ messages: [{ role: 'assistant', content: 'hi' }] }, 422, 'must end with a user message'],
      [{ messages: [{ role: 'user', content: 'hi' }], mood: 'happy' }, 422, 'is not a known body field'],
      [{ messages: [{ role: 'user', content: 'hi' }], temperature: 5 }, 422, 'between 0 and 2'],
    ];
    for (const [body, status, message] of cases) {
      const res = await chat(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(((await res.json()) as any).error.message).toContain(message);
    }
    const anonymous = await fetch(`${sys.url}/v1/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[]}' });
    expect(anonymous.status).toBe(401);
    expect(received).toHaveLength(0);
  });

  it('streams over the GraphQL chat subscription too', async () => {
    script.push({ answer: 'Hello there.' });
    const { results, errors } = await subscribeGraphql(sys.wsUrl, apiKey, 'subscription($input: ChatInput!) { chat(input: $input) { type text promptTokens } }', {
      input: { messages: [{ role: 'user', content: 'Hi' }] },
    });
    expect(errors).toEqual([]);
    expect(results.at(-1).chat).toEqual({ type: 'DONE', text: 'Hello there.', promptTokens: 50 });
    expect(results.slice(0, -1).every((r) => r.chat.type === 'DELTA')).toBe(true);
  });
});

describe('POST /v1/chat with an Idempotency-Key', () => {
  const chatWithKey = (key: string, body: unknown, signal?: AbortSignal) =>
    fetch(`${sys.url}/v1/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
      signal,
    });
  const ask = (content: string) => ({ messages: [{ role: 'user', content }] });
  const ANSWER = 'Use a Map when keys are not strings, and a plain object otherwise.';
  const done = { event: 'done', data: { text: ANSWER, usage: { prompt_tokens: 50, completion_tokens: 40, total_tokens: 90 } } };

  it('replays the stored answer for the same key and body without calling the model; another body is a conflict', async () => {
    script.push({ answer: ANSWER });
    const first = await chatWithKey('chat-key-1', ask('Map or object?'));
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const streamed = await readSse(first);
    expect(streamed.length).toBeGreaterThan(2); // the model's pieces, then done
    expect(streamed.at(-1)).toEqual(done);
    expect(received).toHaveLength(1);

    const again = await chatWithKey('chat-key-1', ask('Map or object?'));
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await readSse(again)).toEqual([{ event: 'delta', data: { text: ANSWER } }, done]);
    expect(received).toHaveLength(1);

    const other = await chatWithKey('chat-key-1', ask('Set or array?'));
    expect(other.status).toBe(409);
    expect(((await other.json()) as any).error.code).toBe('idempotency_conflict');
    expect(received).toHaveLength(1);
  });

  it('a repeat sent while the first still streams waits for it and replays its answer', async () => {
    script.push({ answer: ANSWER, delayMs: 1500 });
    const first = chatWithKey('chat-key-2', ask('Map or object, slowly?'));
    await waitFor(async () => (received.length === 1 ? true : undefined));
    const repeat = await chatWithKey('chat-key-2', ask('Map or object, slowly?'));
    expect(repeat.headers.get('idempotent-replayed')).toBe('true');
    expect(await readSse(repeat)).toEqual([{ event: 'delta', data: { text: ANSWER } }, done]);
    expect((await readSse(await first)).at(-1)).toEqual(done);
    expect(received).toHaveLength(1);
  });

  it('does not remember a first call that failed or was aborted: the repeat calls the model', async () => {
    script.push({ status: 503 }, { endless: true }, { answer: ANSWER });
    expect((await readSse(await chatWithKey('chat-key-3', ask('Fail first')))).at(-1)!.event).toBe('error');
    const abort = new AbortController();
    const aborted = await chatWithKey('chat-key-3', ask('Fail first'), abort.signal);
    const reader = aborted.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: delta');
    const closedBefore = closedEarly;
    abort.abort();
    await waitFor(async () => (closedEarly > closedBefore ? true : undefined), 10_000);
    const retried = await chatWithKey('chat-key-3', ask('Fail first'));
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect((await readSse(retried)).at(-1)).toEqual(done);
    expect(received).toHaveLength(3);
  });

  it('the GraphQL chat subscription takes idempotencyKey and marks a replay', async () => {
    script.push({ answer: ANSWER });
    const query = 'subscription($input: ChatInput!, $key: String) { chat(input: $input, idempotencyKey: $key) { type text replayed } }';
    const variables = { input: ask('Map or object over GraphQL?'), key: 'chat-key-4' };
    const first = await subscribeGraphql(sys.wsUrl, apiKey, query, variables);
    expect(first.errors).toEqual([]);
    expect(first.results.at(-1).chat).toEqual({ type: 'DONE', text: ANSWER, replayed: false });
    const again = await subscribeGraphql(sys.wsUrl, apiKey, query, variables);
    expect(again.results.map((r) => r.chat)).toEqual([
      { type: 'DELTA', text: ANSWER, replayed: true },
      { type: 'DONE', text: ANSWER, replayed: true },
    ]);
    expect(received).toHaveLength(1);
  });
});

describe('POST /v1/generations/scaffold with a model', () => {
  it('lets the model write src/feature.ts from the description; the project still builds and tests', async () => {
    const feature = 'export function slugify(text: string): string {\n  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");\n}\n';
    script.push({ answer: JSON.stringify({ language: 'typescript', code: feature, explanation: 'Slugs.', confidence: 0.9 }) });
    const res = await fetch(`${sys.url}/v1/generations/scaffold`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'slugs', template: 'library', description: 'Turn titles into URL slugs', options: { modules: ['titles'] } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-scaffold-model')).toBe('used');
    const zip = await JSZip.loadAsync(Buffer.from(await res.arrayBuffer()));
    expect(await zip.file('slugs/src/feature.ts')!.async('string')).toBe(feature);
    expect(await zip.file('slugs/src/index.ts')!.async('string')).toContain("export * from './feature.js';");
    expect(received[0].messages[1].content).toContain('Turn titles into URL slugs');
    await buildScaffold(zip, 'slugs');
  });
});

describe('retention', () => {
  it('deletes exactly the generations older than the retention period', async () => {
    const { userId: owner } = await sys.createUser('Old timer');
    const now = new Date();
    const ago = (ms: number) => new Date(now.getTime() - ms);
    const day = 86_400_000;
    const rows = {
      expired: ago(91 * day),
      justExpired: ago(90 * day + 60_000),
      justKept: ago(90 * day - 60_000),
      recent: ago(day),
    };
    for (const [name, createdAt] of Object.entries(rows)) {
      await sys.services.db.generation.create({
        data: { id: newId('generation'), ownerId: owner, prompt: name, language: 'python', promptTokenCount: 1, status: 'completed', code: 'x', createdAt },
      });
    }
    const deleted = await deleteExpiredGenerations(sys.services, { days: 90, now });
    expect(deleted).toBe(2);
    const left = await sys.services.db.generation.findMany({ where: { ownerId: owner }, orderBy: { createdAt: 'asc' } });
    expect(left.map((g) => g.prompt)).toEqual(['justKept', 'recent']);
  });

  it('runs from a Temporal schedule the worker created (idempotently) at start', async () => {
    const scheduleId = retentionScheduleId(sys.config);
    const handle = sys.services.temporal.schedule.getHandle(scheduleId);
    const described = await handle.describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'generationRetentionWorkflow', taskQueue: sys.config.taskQueues.cpu });
    await ensureRetentionSchedule(sys.services.temporal, sys.config, sys.services.logger); // a second worker start changes nothing
    expect((await handle.describe()).action).toMatchObject({ workflowType: 'generationRetentionWorkflow' });

    const { userId: owner } = await sys.createUser('Expired');
    const old = await sys.services.db.generation.create({
      data: { id: newId('generation'), ownerId: owner, prompt: 'old', promptTokenCount: 1, status: 'completed', createdAt: new Date(Date.now() - 100 * 86_400_000) },
    });
    const fresh = await sys.services.db.generation.create({ data: { id: newId('generation'), ownerId: owner, prompt: 'fresh', promptTokenCount: 1 } });
    await handle.trigger();
    await waitFor(async () => ((await sys.services.db.generation.findUnique({ where: { id: old.id } })) ? undefined : true), 30_000);
    expect(await sys.services.db.generation.findUnique({ where: { id: fresh.id } })).not.toBeNull();
  });
});
