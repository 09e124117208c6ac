/**
 * The one operation runner: every transport (GraphQL over HTTP and graphql-ws, REST, the task
 * WebSocket) is admitted by the same path against the same budget, and the task WebSocket is
 * charged and refused like any other request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, graphql, restClient, subscribeGraphql } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
});
afterAll(() => sys?.close());

/** A team user whose per-minute budget is `perMinute` credits. */
async function userWith(perMinute: number) {
  const user = await sys.createUser(`edge-${perMinute}`, { tier: 'team' });
  await sys.services.db.accountLimits.create({ data: { userId: user.userId, requestsPerMinute: perMinute, concurrent: 100 } });
  return user;
}

const streamUrl = (taskId: string, apiKey: string) => `${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${apiKey}`;
/** Opens the task stream and closes it after its first message (a task without a worker stays queued). */
const openStream = (taskId: string, apiKey: string) => collectWs(streamUrl(taskId, apiKey), () => true);

describe('the task WebSocket', () => {
  it('is charged like any request, and refused over the limit with 429 and the envelope before upgrading', async () => {
    const { apiKey } = await userWith(3);
    const api = restClient(sys.url, apiKey);
    const created = await api.post('/v1/agents/execute', executeBody(manyFiles(1)));
    expect(created.status).toBe(202);
    const taskId = created.body.task_id as string;
    const opened = await openStream(taskId, apiKey);
    expect(opened.unexpected).toBeUndefined();
    expect(opened.messages[0]).toMatchObject({ type: 'progress', task_id: taskId, status: 'queued' });
    // The stream took one credit: the create, the stream and this read make three.
    const read = await api.get(`/v1/agents/tasks/${taskId}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('x-ratelimit-used')).toBe('3');
    const refused = await openStream(taskId, apiKey);
    expect(refused.messages).toEqual([]);
    expect(refused.unexpected?.status).toBe(429);
    expect(refused.unexpected?.body.error).toMatchObject({
      code: 'rate_limit_exceeded',
      details: { tier: 'team', limit: 3, window: 'minute', retry_after: expect.any(Number) },
      request_id: expect.any(String),
    });
  });
});

describe('one admission path for every transport', () => {
  it('spends one budget across GraphQL over HTTP, graphql-ws, REST and the task WebSocket, and each refuses the same way once it is spent', async () => {
    const { apiKey } = await userWith(5);
    const api = restClient(sys.url, apiKey);
    const wsUrl = sys.url.replace('http', 'ws');
    const taskId = (await api.post('/v1/agents/execute', executeBody(manyFiles(1)))).body.task_id as string; // 1: REST
    expect((await graphql(sys.url, apiKey, '{ viewer { id } }')).status).toBe(200); // 2: GraphQL over HTTP
    expect((await subscribeGraphql(wsUrl, apiKey, '{ viewer { id } }', {})).results).toHaveLength(1); // 3: graphql-ws
    expect((await openStream(taskId, apiKey)).messages).toHaveLength(1); // 4: the task WebSocket
    const fifth = await api.get(`/v1/agents/tasks/${taskId}`); // 5: REST again, the last credit
    expect(fifth.status).toBe(200);
    expect(fifth.headers.get('x-ratelimit-used')).toBe('5');

    const rest = await api.get(`/v1/agents/tasks/${taskId}`);
    expect(rest.status).toBe(429);
    expect(rest.body.error.code).toBe('rate_limit_exceeded');
    const gql = await graphql(sys.url, apiKey, '{ viewer { id } }');
    expect(gql.status).toBe(429);
    expect(gql.body.errors![0].extensions.code).toBe('RATE_LIMIT_EXCEEDED');
    const ws = await subscribeGraphql(wsUrl, apiKey, '{ viewer { id } }', {});
    expect(ws.results).toEqual([]);
    expect(ws.errors[0].extensions.code).toBe('RATE_LIMIT_EXCEEDED');
    const stream = await openStream(taskId, apiKey);
    expect(stream.unexpected?.status).toBe(429);
    expect(stream.unexpected?.body.error.code).toBe('rate_limit_exceeded');
  });

  it('records every transport in the usage ledger by endpoint', async () => {
    const { apiKey } = await userWith(1000);
    const api = restClient(sys.url, apiKey);
    const taskId = (await api.post('/v1/agents/execute', executeBody(manyFiles(1)))).body.task_id as string;
    await graphql(sys.url, apiKey, 'query Me { viewer { id } }');
    await subscribeGraphql(sys.url.replace('http', 'ws'), apiKey, 'query Socket { viewer { id } }', {});
    await openStream(taskId, apiKey);
    const usage = await api.get('/v1/usage');
    expect(usage.body.by_endpoint).toEqual(
      expect.arrayContaining([
        { endpoint: 'POST /v1/agents/execute', requests: 1, credits: 1 },
        { endpoint: 'graphql Me', requests: 1, credits: 1 },
        { endpoint: 'graphql-ws Socket', requests: 1, credits: 1 },
        { endpoint: 'GET /v1/agents/tasks/{task_id}/stream', requests: 1, credits: 1 },
      ]),
    );
  });
});

describe('pricing per transport', () => {
  it('prices a REST request by what its root fields declare, whatever the page size, and GraphQL by the selection', async () => {
    const { apiKey } = await userWith(100);
    const api = restClient(sys.url, apiKey);
    const page = await api.get('/v1/agents/tasks?limit=100');
    expect(page.status).toBe(200);
    expect(page.headers.get('x-ratelimit-used')).toBe('1'); // a REST request is one request
    const orchestrations = await api.get('/v1/agents/orchestrations?limit=100');
    expect(orchestrations.status).toBe(200);
    expect(orchestrations.headers.get('x-ratelimit-used')).toBe('2');
    // The same 100-item page chosen over GraphQL costs one credit per started 20 items.
    const gql = await graphql(sys.url, apiKey, '{ tasks(first: 100) { edges { node { id } } } }');
    expect(gql.status).toBe(200);
    expect(gql.headers.get('x-ratelimit-used')).toBe('7');
    // A declared cost holds on both: an orchestration costs 5.
    const orch = await api.post('/v1/agents/orchestrate', { goal: 'price', agents: ['security_expert'], context: { files: manyFiles(1) } });
    expect(orch.status, JSON.stringify(orch.body)).toBe(202);
    expect(orch.headers.get('x-ratelimit-used')).toBe('12');
  });
});
