import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFiles } from '../../src/agents/security-expert.js';
import { restRoutes } from '../../src/rest/v1/index.js';
import { restClient, waitFor } from '../helpers/client.js';
import { cleanJs, executeBody, vulnerableJs } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let alice: ReturnType<typeof restClient>;
let aliceKey: string;

beforeAll(async () => {
  sys = await startTestSystem();
  aliceKey = (await sys.createUser('Alice')).apiKey;
  alice = restClient(sys.url, aliceKey);
});
afterAll(() => sys?.close());

const taskCount = () => sys.services.db.agentTask.count();

async function untilFinished(client: ReturnType<typeof restClient>, taskId: string) {
  return waitFor(async () => {
    const res = await client.get(`/v1/agents/tasks/${taskId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body.status) || res.status === 408 ? res : undefined;
  });
}

function expectEnvelope(res: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toEqual(expect.any(String));
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
  expect(res.body.error.doc_url).toBe(`${sys.url}/docs/errors#${code}`);
  expect(res.body.error.documentation_url).toBe(res.body.error.doc_url);
}

describe('health', () => {
  it('answers without authentication and reports both dependencies', async () => {
    const res = await restClient(sys.url).get('/v1/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', database: { status: 'ok' }, temporal: { status: 'ok' } });
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
  });
});

describe('POST /v1/agents/execute → GET /v1/agents/tasks/{id}', () => {
  it('accepts a task with the spec fields and completes it with real findings', async () => {
    const res = await alice.post('/v1/agents/execute', executeBody([vulnerableJs, cleanJs]));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      task_id: expect.stringMatching(/^task_[0-9a-f-]{36}$/),
      status: 'queued',
      estimated_duration_seconds: expect.any(Number),
      result_url: `${sys.config.publicUrl}/v1/agents/tasks/${res.body.task_id}`,
      websocket_url: `${sys.config.publicUrl.replace('http', 'ws')}/v1/agents/tasks/${res.body.task_id}/stream`,
    });

    const done = await untilFinished(alice, res.body.task_id);
    expect(done.status).toBe(200);
    const task = done.body;
    expect(task).toMatchObject({ task_id: res.body.task_id, status: 'completed', progress: 100, agent_type: 'security_expert' });
    expect(task.tokens_used).toEqual({ prompt: 0, completion: 0, total: 0 });
    expect(task.cost_usd).toBe(0);
    expect(Date.parse(task.started_at)).toBeGreaterThanOrEqual(Date.parse(task.created_at));
    expect(Date.parse(task.completed_at)).toBeGreaterThanOrEqual(Date.parse(task.started_at));
    expect(task.duration_seconds).toBeCloseTo((Date.parse(task.completed_at) - Date.parse(task.started_at)) / 1000, 2);

    const sql = task.result.findings.find((f: any) => f.rule_id === 'sql-injection');
    expect(sql).toMatchObject({ file: vulnerableJs.path, line: 3, severity: expect.any(String), suggestion: expect.any(String) });
    expect(task.result.findings.filter((f: any) => f.file === cleanJs.path)).toEqual([]);
    // Exactly what the analyzer finds, nothing invented or dropped on the way through Temporal.
    const expected = analyzeFiles([vulnerableJs, cleanJs]).map((f) => [f.ruleId, f.file, f.line]);
    expect(task.result.findings.map((f: any) => [f.rule_id, f.file, f.line])).toEqual(expected);
    expect(task.result.summary).toMatch(/^Found \d+ /);
  });
});

describe('listing', () => {
  it('paginates with limit, starting_after and ending_before, newest first, and filters by status', async () => {
    const bob = restClient(sys.url, (await sys.createUser('Bob')).apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await bob.post('/v1/agents/execute', executeBody([cleanJs]))).body.task_id);
    for (const id of ids) await untilFinished(bob, id);

    const first = await bob.get('/v1/agents/tasks?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.object).toBe('list');
    expect(first.body.data.map((t: any) => t.task_id)).toEqual([ids[2], ids[1]]);
    expect(first.body.has_more).toBe(true);
    expect(first.body.next_cursor).toBe(ids[1]);

    const second = await bob.get(`/v1/agents/tasks?limit=2&starting_after=${first.body.next_cursor}`);
    expect(second.body.data.map((t: any) => t.task_id)).toEqual([ids[0]]);
    expect(second.body.has_more).toBe(false);
    expect(second.body.next_cursor).toBeNull();

    const back = await bob.get(`/v1/agents/tasks?limit=2&ending_before=${ids[0]}`);
    expect(back.body.data.map((t: any) => t.task_id)).toEqual([ids[2], ids[1]]);
    expect(back.body.has_more).toBe(false);

    expect((await bob.get('/v1/agents/tasks?status=completed')).body.data).toHaveLength(3);
    expect((await bob.get('/v1/agents/tasks?status=running')).body.data).toHaveLength(0);
  });
});

describe('cancel', () => {
  it('refuses to cancel a finished task and leaves it unchanged', async () => {
    const { task_id } = (await alice.post('/v1/agents/execute', executeBody([cleanJs]))).body;
    await untilFinished(alice, task_id);
    const res = await alice.delete(`/v1/agents/tasks/${task_id}`);
    expectEnvelope(res, 409, 'task_not_cancellable');
    expect(res.body.error.message).toContain('completed');
    expect((await alice.get(`/v1/agents/tasks/${task_id}`)).body.status).toBe('completed');
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['no credentials', () => restClient(sys.url).post('/v1/agents/execute', executeBody()), 401, 'authentication_required'],
    ['an unknown key', () => restClient(sys.url, 'cdx_sk_' + 'x'.repeat(43)).post('/v1/agents/execute', executeBody()), 401, 'authentication_required'],
    ['a non-bearer Authorization', () => restClient(sys.url).post('/v1/agents/execute', executeBody(), { authorization: 'Basic abc' }), 401, 'authentication_required'],
    ['malformed JSON', () => alice.post('/v1/agents/execute', '{"task": ', { 'content-type': 'application/json' }), 400, 'invalid_request'],
    ['a non-JSON content type', () => alice.post('/v1/agents/execute', 'task=x', { 'content-type': 'text/plain' }), 400, 'invalid_request'],
    ['a missing task', () => alice.post('/v1/agents/execute', { agent_type: 'security_expert', context: { files: [cleanJs] } }), 422, 'validation_error'],
    ['an empty task', () => alice.post('/v1/agents/execute', executeBody([cleanJs], { task: '   ' })), 422, 'validation_error'],
    ['a wrong type', () => alice.post('/v1/agents/execute', executeBody([cleanJs], { max_tokens: 'many' })), 422, 'validation_error'],
    ['an unknown field', () => alice.post('/v1/agents/execute', executeBody([cleanJs], { agentType: 'security_expert' })), 422, 'validation_error'],
    ['no files', () => alice.post('/v1/agents/execute', executeBody([])), 422, 'validation_error'],
    ['a non-https repository', () => alice.post('/v1/agents/execute', executeBody([cleanJs], { context: { files: [cleanJs], repository: 'ext::sh -c id' } })), 422, 'validation_error'],
    ['a timeout above the maximum', () => alice.post('/v1/agents/execute', executeBody([cleanJs], { timeout_seconds: 10 ** 6 })), 422, 'validation_error'],
    ['a bad Idempotency-Key', () => alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': 'x'.repeat(300) }), 400, 'invalid_request'],
  ])('%s', async (_name, send, status, code) => {
    const before = await taskCount();
    const res = await send();
    expectEnvelope(res, status, code);
    expect(await taskCount()).toBe(before);
  });

  it('names every invalid field in snake_case, with a message that says how to fix it', async () => {
    const res = await alice.post('/v1/agents/execute', { task: 'x', agent_type: 'poet', context: { files: [cleanJs] }, temperature: 9 });
    expectEnvelope(res, 422, 'validation_error');
    expect(res.body.error.details).toEqual([
      { field: 'agent_type', message: 'must be one of: security_expert, code_expert, test_gen, assistant' },
      { field: 'temperature', message: 'must be at most 2' },
    ]);
  });

  it('lists a missing field as required', async () => {
    const res = await alice.post('/v1/agents/execute', { agent_type: 'security_expert' });
    expect(res.body.error.details).toEqual([{ field: 'task', message: 'is required' }]);
  });

  it('answers 413 for a body over 10 MB', async () => {
    const before = await taskCount();
    const big = executeBody([{ path: 'big.js', content: 'a'.repeat(11 * 1024 * 1024) }]);
    const res = await alice.post('/v1/agents/execute', big);
    expectEnvelope(res, 413, 'payload_too_large');
    expect(await taskCount()).toBe(before);
  });

  it.each([
    ['limit over 100', '/v1/agents/tasks?limit=101', 'limit'],
    ['limit zero', '/v1/agents/tasks?limit=0', 'limit'],
    ['a cursor that is not a task id', '/v1/agents/tasks?starting_after=abc', 'starting_after'],
    ['an unknown status', '/v1/agents/tasks?status=sleeping', 'status'],
    ['an unknown parameter', '/v1/agents/tasks?page=2', 'page'],
  ])('list with %s → 422 naming the parameter', async (_name, path, field) => {
    const res = await alice.get(path);
    expectEnvelope(res, 422, 'validation_error');
    // A list parameter's bad value is named with its position (status.0), as repeated values are told apart.
    expect(res.body.error.details[0].field).toMatch(new RegExp(`^${field}(\\.\\d+)?$`));
  });

  it('answers 404 in the envelope for an unknown task id and an unknown path', async () => {
    expectEnvelope(await alice.get('/v1/agents/tasks/task_00000000-0000-7000-8000-000000000000'), 404, 'resource_not_found');
    expectEnvelope(await alice.get('/v1/agents/tasks/not-an-id'), 404, 'resource_not_found');
    expectEnvelope(await alice.get('/v1/nothing-here'), 404, 'resource_not_found');
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another user's task on every route and never lists it", async () => {
    const { task_id } = (await alice.post('/v1/agents/execute', executeBody([cleanJs]))).body;
    const mallory = restClient(sys.url, (await sys.createUser('Mallory')).apiKey);
    expectEnvelope(await mallory.get(`/v1/agents/tasks/${task_id}`), 404, 'resource_not_found');
    expectEnvelope(await mallory.delete(`/v1/agents/tasks/${task_id}`), 404, 'resource_not_found');
    expect((await mallory.get('/v1/agents/tasks')).body.data).toEqual([]);
    expect((await alice.get(`/v1/agents/tasks/${task_id}`)).status).toBe(200);
  });
});

describe('idempotency', () => {
  it('returns the first task for the same key and body, and 409 for a different body', async () => {
    const key = `key-${Date.now()}`;
    const first = await alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key });
    const again = await alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key });
    expect(again.status).toBe(202);
    expect(again.body.task_id).toBe(first.body.task_id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const before = await taskCount();
    const conflict = await alice.post('/v1/agents/execute', executeBody([vulnerableJs]), { 'idempotency-key': key });
    expectEnvelope(conflict, 409, 'idempotency_conflict');
    expect(await taskCount()).toBe(before);
  });

  it('makes one task from two concurrent requests with the same key', async () => {
    const key = `concurrent-${Date.now()}`;
    const before = await taskCount();
    const [a, b] = await Promise.all([
      alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key }),
      alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.task_id).toBe(b.body.task_id);
    expect(await taskCount()).toBe(before + 1);
  });

  it('scopes keys to the caller: the same key from another user makes another task', async () => {
    const key = `shared-${Date.now()}`;
    const other = restClient(sys.url, (await sys.createUser('Other')).apiKey);
    const mine = await alice.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key });
    const theirs = await other.post('/v1/agents/execute', executeBody([cleanJs]), { 'idempotency-key': key });
    expect(theirs.status).toBe(202);
    expect(theirs.body.task_id).not.toBe(mine.body.task_id);
  });
});

describe('OpenAPI', () => {
  it('documents every route of the route table', async () => {
    const doc = (await alice.get('/v1/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    for (const route of restRoutes) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(op.operationId).toBe(route.operationId);
      expect(op.responses[String(route.successStatus)]).toBeDefined();
    }
    expect(doc.paths['/v1/agents/execute'].post.requestBody.content['application/json'].schema.required).toEqual(['task', 'agent_type']);
  });
});

describe('logs', () => {
  it('never contain an API key', async () => {
    await alice.get('/v1/agents/tasks');
    await restClient(sys.url).get('/v1/agents/tasks', { 'x-api-key': aliceKey });
    expect(sys.logs.length).toBeGreaterThan(0);
    expect(sys.logs.join('\n')).not.toContain(aliceKey);
  });
});
