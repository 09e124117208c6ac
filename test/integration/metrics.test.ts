/**
 * What an operator sees of a run: /metrics scraped before and after a task, a webhook delivery,
 * operations over graphql-ws, a bulk operation and a limit rejection (each family moves, and no
 * label carries an id), and the log lines of one REST
 * task (the access line with request id, account, operation and cost; one line per state change;
 * activity lines with their workflow and run ids; the task stream's WebSocket opened and closed
 * with its code; no credential anywhere).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { collectWs, graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { cleanJs, executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let receiver: Server;
let received = 0;
let user: { userId: string; apiKey: string };
let api: ReturnType<typeof restClient>;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(): Promise<Sample[]> {
  const { host, port } = sys.server.metricsAddress!;
  const res = await fetch(`http://${host}:${port}/metrics`);
  expect(res.status).toBe(200);
  return parse(await res.text());
}

/** The sum of a family's samples whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

const logLines = () => sys.logs.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line) as Record<string, any>);

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.2', resolve));
  sys = await startTestSystem({
    env: {
      METRICS_LISTEN: '127.0.0.1:0',
      ANON_RATE_LIMIT_PER_MINUTE: '3',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
      WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789',
    },
  });
  user = await sys.createUser('Operator');
  api = restClient(sys.url, user.apiKey);
});
afterAll(async () => {
  await sys?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('/metrics', () => {
  let before: Sample[];
  let after: Sample[];
  let taskId: string;

  beforeAll(async () => {
    before = await scrape();
    const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: user.userId, name: 'Observed' } });
    const port = (receiver.address() as AddressInfo).port;
    const hook = await api.post('/v1/webhooks', { project_id: project.id, url: `http://127.0.0.2:${port}/hook`, events: ['*'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const submitted = await api.post('/v1/agents/execute', executeBody([cleanJs]));
    expect(submitted.status).toBe(202);
    taskId = submitted.body.task_id;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${taskId}`)).body.status === 'completed' ? true : undefined));
    // The finished task's stream: its events, then 1000.
    const stream = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${user.apiKey}`);
    expect(stream.closeCode).toBe(1000);
    await waitFor(async () => (received > 0 ? true : undefined));
    // Over graphql-ws: a query, a query refused (no such task) and a subscription.
    const byWs = await subscribeGraphql(sys.wsUrl, user.apiKey, 'query($id: ID!) { task(id: $id) { id status } }', { id: taskId });
    expect(byWs.results[0].task.status).toBe('COMPLETED');
    const missing = await subscribeGraphql(sys.wsUrl, user.apiKey, 'query($id: ID!) { task(id: $id) { id } }', { id: 'task_0000000000000000000000' });
    expect(missing.errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    // A bulk cancel of the finished task: skipped, then the operation completes.
    const bulk = await api.post('/v1/agents/bulk', { action: 'cancel', filter: { status: ['completed'] } });
    expect(bulk.status, JSON.stringify(bulk.body)).toBe(202);
    await waitFor(async () => ((await api.get(`/v1/agents/bulk/${bulk.body.bulk_id}`)).body.status === 'completed' ? true : undefined));
    const bulkEvents = await subscribeGraphql(sys.wsUrl, user.apiKey, 'subscription($id: ID!) { bulkOperationEvents(id: $id, since: 0) { type skipped } }', { id: bulk.body.bulk_id });
    expect(bulkEvents.results.at(-1).bulkOperationEvents).toEqual({ type: 'completed', skipped: 1 });
    // A caller without a credential past its per-minute budget.
    let refused = 0;
    for (let i = 0; i < 6; i++) if ((await graphql(sys.url, null, '{ __typename }')).status === 429) refused++;
    expect(refused).toBeGreaterThan(0);
    await waitFor(async () => (total(await scrape(), 'codex_webhook_deliveries_total', { outcome: 'succeeded' }) > total(before, 'codex_webhook_deliveries_total', { outcome: 'succeeded' }) ? true : undefined));
    after = await scrape();
  });

  it('moves the HTTP, GraphQL, cost and limit families', () => {
    const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(moved('codex_http_requests_total', { method: 'POST', route: '/v1/agents/execute', status: '202' })).toBe(1);
    expect(moved('codex_http_request_duration_seconds_count', { route: '/v1/agents/execute' })).toBe(1);
    expect(moved('codex_graphql_operations_total', { transport: 'rest', operation: 'executeAgentTask', type: 'mutation', outcome: 'ok' })).toBe(1);
    expect(moved('codex_graphql_operations_total', { transport: 'graphql', operation: 'introspection', outcome: 'ok' })).toBeGreaterThan(0);
    expect(moved('codex_graphql_operation_duration_seconds_count', { transport: 'rest', operation: 'executeAgentTask' })).toBe(1);
    expect(moved('codex_graphql_cost_charged_total', { transport: 'rest', operation: 'executeAgentTask' })).toBeGreaterThan(0);
    expect(moved('codex_limit_rejections_total', { limit: 'minute', transport: 'graphql' })).toBeGreaterThan(0);
  });

  it('counts operations over graphql-ws by operation, type and outcome, with their duration and cost', () => {
    const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(moved('codex_graphql_operations_total', { transport: 'graphql-ws', operation: 'task', type: 'query', outcome: 'ok' })).toBe(1);
    expect(moved('codex_graphql_operations_total', { transport: 'graphql-ws', operation: 'task', type: 'query', outcome: 'resource_not_found' })).toBe(1);
    expect(moved('codex_graphql_operations_total', { transport: 'graphql-ws', operation: 'bulkOperationEvents', type: 'subscription', outcome: 'ok' })).toBe(1);
    expect(moved('codex_graphql_operation_duration_seconds_count', { transport: 'graphql-ws', operation: 'task', type: 'query' })).toBe(2);
    expect(moved('codex_graphql_operation_duration_seconds_count', { transport: 'graphql-ws', operation: 'bulkOperationEvents', type: 'subscription' })).toBe(1);
    expect(moved('codex_graphql_cost_charged_total', { transport: 'graphql-ws', operation: 'task', type: 'query' })).toBeGreaterThan(0);
  });

  it('moves the bulk operation families', () => {
    const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(moved('codex_bulk_operations_started_total', { action: 'cancel' })).toBe(1);
    expect(moved('codex_bulk_operation_items_total', { action: 'cancel', outcome: 'skipped' })).toBe(1);
    expect(moved('codex_bulk_operation_items_total', { action: 'cancel', outcome: 'succeeded' })).toBe(0);
    expect(moved('codex_bulk_operations_finished_total', { action: 'cancel', state: 'completed' })).toBe(1);
    expect(moved('codex_bulk_operation_run_seconds_count', { action: 'cancel', state: 'completed' })).toBe(1);
  });

  it('moves the task, stream, webhook, pool and event-bus families', () => {
    const moved = (name: string, labels: Record<string, string> = {}) => total(after, name, labels) - total(before, name, labels);
    expect(moved('codex_tasks_submitted_total', { agent_type: 'security_expert' })).toBe(1);
    expect(moved('codex_tasks_started_total', { agent_type: 'security_expert' })).toBe(1);
    expect(moved('codex_tasks_finished_total', { agent_type: 'security_expert', state: 'completed' })).toBe(1);
    expect(moved('codex_task_queue_wait_seconds_count', { agent_type: 'security_expert' })).toBe(1);
    expect(moved('codex_task_run_seconds_count', { agent_type: 'security_expert', state: 'completed' })).toBe(1);
    expect(after.some((s) => s.name === 'codex_tasks_queued' && s.labels.reason === 'agent_slot')).toBe(true);
    expect(moved('codex_streams_opened_total', { transport: 'task-ws' })).toBe(1);
    expect(moved('codex_stream_messages_sent_total', { transport: 'task-ws' })).toBeGreaterThan(0);
    expect(moved('codex_stream_closes_total', { transport: 'task-ws', code: '1000' })).toBe(1);
    expect(total(after, 'codex_stream_sockets_open', { transport: 'task-ws' })).toBe(0);
    expect(moved('codex_webhook_deliveries_total', { outcome: 'succeeded', attempt: '1' })).toBeGreaterThan(0);
    expect(moved('codex_webhook_delivery_latency_seconds_count')).toBeGreaterThan(0);
    expect(total(after, 'codex_db_pool_connections', { pool: 'main' })).toBeGreaterThan(0);
    expect(after.some((s) => s.name === 'codex_db_pool_waiting_acquires' && s.labels.pool === 'event_bus')).toBe(true);
    expect(moved('codex_event_bus_notify_lag_seconds_count')).toBeGreaterThan(0);
  });

  it('keeps label values bounded: no id, no request path with an id', () => {
    const values = after.flatMap((s) => Object.values(s.labels));
    const idLike = /^(task|orch|viz|prj|whk|whd|evt|key|user|req|team|ses|gen|rev|bop)_|[0-9a-f]{8}-[0-9a-f]{4}-/;
    expect(values.filter((v) => idLike.test(v))).toEqual([]);
    expect(values).not.toContain(taskId);
    // GET /v1/agents/tasks/{id} is counted under its route pattern.
    const routes = after.filter((s) => s.name === 'codex_http_requests_total' && s.labels.method === 'GET').map((s) => s.labels.route);
    expect(routes.filter((r) => r.startsWith('/v1/agents/tasks/'))).toEqual([expect.stringMatching(/^\/v1\/agents\/tasks\/[:{]\w+}?$/)]);
  });
});

describe('logs of one REST task', () => {
  it('has an access line with request id, account, operation and cost; one line per state change; activity lines with workflow and run ids', async () => {
    const res = await api.post('/v1/agents/execute', executeBody([cleanJs]));
    expect(res.status).toBe(202);
    const id: string = res.body.task_id;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${id}`)).body.status === 'completed' ? true : undefined));
    await collectWs(`${sys.wsUrl}/v1/agents/tasks/${id}/stream?token=${user.apiKey}`);
    const path = `/v1/agents/tasks/${id}/stream`;
    await waitFor(async () => (logLines().some((l) => l.msg === 'websocket closed' && l.path === path) ? true : undefined), 5000);
    const lines = logLines();

    const access = lines.filter((l) => l.msg === 'request completed' && l.requestId === res.headers.get('x-request-id'));
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ accountId: user.userId, operation: expect.any(String), operationType: 'mutation', cost: expect.any(Number), res: { statusCode: 202 } });
    expect(access[0].req.url).toBe('/v1/agents/execute');

    const ofTask = lines.filter((l) => l.taskId === id);
    expect(ofTask.map((l) => l.msg)).toEqual(['task submitted', 'task started', 'task finished']);
    expect(ofTask[0]).toMatchObject({ accountId: user.userId, agentType: 'security_expert' });
    expect(ofTask[2]).toMatchObject({ status: 'completed', agentType: 'security_expert' });
    // Written inside the agent's activity: its workflow (the task id) and run.
    for (const line of ofTask.slice(1)) expect(line).toMatchObject({ workflowId: id, runId: expect.stringMatching(/^[0-9a-f-]{36}$/), activity: expect.any(String) });

    const socket = lines.filter((l) => l.transport === 'task-ws' && l.path === path);
    expect(socket.map((l) => l.msg)).toEqual(['websocket opened', 'websocket closed']);
    expect(socket[0]).toMatchObject({ accountId: user.userId, requestId: expect.stringMatching(/^req_/) });
    expect(socket[1]).toMatchObject({ code: 1000 });

    expect(sys.logs.join('')).not.toContain(user.apiKey);
  });
});
