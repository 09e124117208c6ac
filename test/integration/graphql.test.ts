import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { cleanJs, vulnerableJs } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let key: string;
let userId: string;

beforeAll(async () => {
  sys = await startTestSystem();
  ({ apiKey: key, userId } = await sys.createUser('Grace'));
});
afterAll(() => sys?.close());

const EXECUTE = `mutation($input: ExecuteAgentTaskInput!, $key: String) {
  executeAgentTask(input: $input, idempotencyKey: $key) { replayed task { id status agentType } }
}`;
const input = (files = [vulnerableJs]) => ({ task: 'Find security problems', agentType: 'security_expert', context: { files } });

describe('GraphQL over HTTP', () => {
  it('requires authentication with a 401 and the upper-cased code', async () => {
    const res = await graphql(sys.url, null, '{ viewer { id } }');
    expect(res.status).toBe(401);
    expect(res.body.errors![0].extensions.code).toBe('AUTHENTICATION_REQUIRED');
    expect(res.body.errors![0].extensions.requestId).toBe(res.headers.get('x-request-id'));
  });

  it('answers viewer with the caller', async () => {
    const res = await graphql(sys.url, key, '{ viewer { id name tier } }');
    expect(res.body).toEqual({
      data: { viewer: { id: userId, name: 'Grace', tier: 'team' } },
      extensions: {
        cost: { requested: 1, actual: 1, depth: 1, rate: 1 },
        rateLimit: { window: 'minute', limit: 1_000, remaining: expect.any(Number), used: expect.any(Number), reset: expect.any(Number), tier: 'team', policies: expect.any(Array) },
      },
    });
    expect((res.body as any).extensions.rateLimit.used).toBe(Number(res.headers.get('x-ratelimit-used')));
  });

  it('runs a task end to end and reads it by task(id:) and node(id:)', async () => {
    const started = await graphql(sys.url, key, EXECUTE, { input: input() });
    expect(started.body.errors).toBeUndefined();
    const { id } = started.body.data.executeAgentTask.task;
    expect(id).toMatch(/^task_/);
    const task = await waitFor(async () => {
      const res = await graphql(sys.url, key, `query($id: ID!) { task(id: $id) { id status progress result { summary findings { ruleId file line } } tokensUsed { total } } }`, { id });
      return res.body.data.task.status === 'COMPLETED' ? res.body.data.task : undefined;
    });
    expect(task.progress).toBe(100);
    expect(task.result.findings).toContainEqual({ ruleId: 'sql-injection', file: vulnerableJs.path, line: 3 });
    const node = await graphql(sys.url, key, `query($id: ID!) { node(id: $id) { id ... on Task { status } } }`, { id });
    expect(node.body.data.node).toEqual({ id, status: 'COMPLETED' });
    // The REST id and the GraphQL id are the same string.
    expect((await restClient(sys.url, key).get(`/v1/agents/tasks/${id}`)).body.task_id).toBe(id);
  });

  it('answers a repeated (compiled) document as the first time: errors at their path and place, never cached', async () => {
    const doc = `query($id: ID!) {
  viewer { ...me }
  missing: task(id: $id) { id }
}
fragment me on User { id }`;
    const answers = [await graphql(sys.url, key, doc, { id: 'task_nope' }), await graphql(sys.url, key, doc, { id: 'task_nope' })];
    for (const res of answers) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body.data).toBeNull();
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors![0]).toMatchObject({ path: ['missing'], locations: [{ line: 3, column: 3 }], extensions: { code: 'RESOURCE_NOT_FOUND' } });
    }
    expect(answers[1].body.errors![0].message).toBe(answers[0].body.errors![0].message);
    // Variables that do not fit their type: graphql-js's message, a 400, as before.
    const bad = await graphql(sys.url, key, doc, { id: { not: 'an id' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors![0].message).toMatch(/^Variable "\$id" got invalid value/);
  });

  it('answers an operation name the document lacks with a clear error, not an internal one (a stale name from an editor)', async () => {
    const res = await fetch(`${sys.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: 'subscription Follow { taskEvents(taskId: "task_nope") { seq } }', operationName: 'Me' }),
    });
    const body = (await res.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].message).toBe('Unknown operation named "Me".');
    expect(body.errors[0].extensions.code).not.toBe('INTERNAL_ERROR');
  });

  it('lists tasks as a Relay connection with a status filter', async () => {
    const other = (await sys.createUser('Lister')).apiKey;
    for (let i = 0; i < 3; i++) await graphql(sys.url, other, EXECUTE, { input: input([cleanJs]) });
    const page = await graphql(sys.url, other, `{ tasks(first: 2) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`);
    const conn = page.body.data.tasks;
    expect(conn.edges).toHaveLength(2);
    expect(conn.pageInfo.hasNextPage).toBe(true);
    const next = await graphql(sys.url, other, `query($after: String) { tasks(first: 2, after: $after) { edges { node { id } } pageInfo { hasNextPage } } }`, {
      after: conn.pageInfo.endCursor,
    });
    expect(next.body.data.tasks.edges).toHaveLength(1);
    expect(next.body.data.tasks.pageInfo.hasNextPage).toBe(false);
    const tooMany = await graphql(sys.url, other, `{ tasks(first: 101) { edges { node { id } } } }`);
    expect(tooMany.body.errors![0].extensions).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'first', message: 'must be between 1 and 100' }] });
  });

  it('replays an idempotent mutation and rejects the key with a different input', async () => {
    const first = await graphql(sys.url, key, EXECUTE, { input: input([cleanJs]), key: 'gql-1' });
    const again = await graphql(sys.url, key, EXECUTE, { input: input([cleanJs]), key: 'gql-1' });
    expect(again.body.data.executeAgentTask).toMatchObject({ replayed: true, task: { id: first.body.data.executeAgentTask.task.id } });
    const conflict = await graphql(sys.url, key, EXECUTE, { input: input([vulnerableJs]), key: 'gql-1' });
    expect(conflict.body.errors![0].extensions.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('shares idempotency keys with REST: the same key and request is one task in either dialect', async () => {
    const rest = await restClient(sys.url, key).post(
      '/v1/agents/execute',
      { task: 'Find security problems', agent_type: 'security_expert', context: { files: [cleanJs] } },
      { 'idempotency-key': 'both-dialects' },
    );
    const gql = await graphql(sys.url, key, EXECUTE, { input: input([cleanJs]), key: 'both-dialects' });
    expect(gql.body.data.executeAgentTask.task.id).toBe(rest.body.task_id);
  });

  it('validates input with per-field details and hides internals', async () => {
    const bad = await graphql(sys.url, key, EXECUTE, { input: { ...input(), agentType: 'wizard', temperature: -1 } });
    expect(bad.body.errors![0].extensions).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: [
        { field: 'agentType', message: 'must be one of: security_expert, code_expert, test_gen, assistant' },
        { field: 'temperature', message: 'must be at least 0' },
      ],
    });
    const typeError = await graphql(sys.url, key, EXECUTE, { input: { task: 1 } });
    expect(typeError.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    const syntax = await graphql(sys.url, key, '{ viewer { ');
    expect(syntax.body.errors![0].extensions.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it("hides another tenant's task behind RESOURCE_NOT_FOUND in task(id:), node(id:) and cancelTask", async () => {
    const { id } = (await graphql(sys.url, key, EXECUTE, { input: input([cleanJs]) })).body.data.executeAgentTask.task;
    const mallory = (await sys.createUser('Mallory')).apiKey;
    for (const query of [`query($id: ID!) { task(id: $id) { id } }`, `query($id: ID!) { node(id: $id) { id } }`, `mutation($id: ID!) { cancelTask(id: $id) { task { id } } }`]) {
      const res = await graphql(sys.url, mallory, query, { id });
      expect(res.body.errors![0].extensions.code, query).toBe('RESOURCE_NOT_FOUND');
      expect(JSON.stringify(res.body.data ?? null)).not.toContain(id.slice(5));
    }
  });
});
