/**
 * State converges with Temporal: a workflow terminated through the Temporal client (as an operator
 * would in the UI or CLI) leaves its resource in a final state that says so, with the operator's
 * reason, the final event on its stream, and its agent slot free; a row whose workflow was never
 * started (a gateway killed during the submission) is started, or failed when it is too old.
 *
 * Two gateways share one database: `sys` runs a worker (and with it the reconciler, every second
 * here); `front` has no worker, and its task queues are polled by none, so the workflows it starts
 * stay running, untouched, until they are terminated: the state of a deployment whose workers for
 * them are gone.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskRow } from '../../src/services/tasks/execute-task.js';
import { parseTaskInput } from '../../src/services/tasks/task-input.js';
import { collectWs, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles, vulnerableJs } from '../helpers/fixtures.js';
import { buildRepository } from '../helpers/git-fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const REASON = 'operator: stuck after the bad deploy of 14:02';
const WEBHOOK_SECRET_KEY = 'test-webhook-encryption-key-0123456789';

let sys: TestSystem;
let front: TestSystem;
let repoRoot: string;
let receiver: Server;
let receiverUrl: string;
const received: any[] = [];

beforeAll(async () => {
  // A webhook endpoint that records every payload and answers 500, so deliveries stay pending between retries.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(500).end('try later');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.2', r));
  receiverUrl = `http://127.0.0.2:${(receiver.address() as AddressInfo).port}/hook`;
  repoRoot = mkdtempSync(join(tmpdir(), 'reconcile-repos-'));
  buildRepository(join(repoRoot, 'demo'), [
    { date: '2026-01-05T10:00:00Z', author: { name: 'Ada', email: 'ada@example.com' }, message: 'first', write: { 'a.ts': 'export const a = 1;\n' } },
  ]);
  const shared = { WEBHOOK_SECRET_KEY, REPOSITORY_ROOT: repoRoot };
  sys = await startTestSystem({
    env: {
      ...shared,
      AGENT_STEP_DELAY_MS: '200',
      RECONCILE_INTERVAL_SECONDS: '1',
      RECONCILE_GRACE_SECONDS: '2',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
      WEBHOOK_RETRY_SCHEDULE: '3600',
    },
  });
  front = await startTestSystem({
    worker: false,
    database: sys.database,
    env: { ...shared, MODEL_BASE_URL: 'http://127.0.0.1:9/v1', GENERATION_SYNC_WAIT_SECONDS: '1', REVIEW_WAIT_SECONDS: '0' },
  });
});
afterAll(async () => {
  await front?.close();
  await sys?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  if (repoRoot) rmSync(repoRoot, { recursive: true, force: true });
});

const terminate = (workflowId: string) => sys.services.temporal.workflow.getHandle(workflowId).terminate(REASON);

/** Waits for a subscription started before the termination to complete (it completes after its final event). */
function follow(apiKey: string, query: string, variables: Record<string, unknown>) {
  const done = subscribeGraphql(front.wsUrl, apiKey, query, variables);
  return {
    done: () =>
      Promise.race([
        done,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the stream did not end')), 20_000)),
      ]),
  };
}

/** A user whose request budget only the agent limit constrains (free tier: 1 parallel agent). */
async function freeUser() {
  const user = await sys.createUser('Free user', { tier: 'free' });
  await sys.services.db.accountLimits.create({ data: { userId: user.userId, requestsPerMonth: 100_000, requestsPerHour: 100_000, requestsPerMinute: 100_000 } });
  return { ...user, api: restClient(sys.url, user.apiKey) };
}

describe('a task whose workflow is terminated', () => {
  let deliveryId: string;
  let webhookId: string;
  let hookApi: ReturnType<typeof restClient>;

  it('ends failed with workflow_terminated and the reason, on its row, its stream and its webhook, and frees its agent slot', async () => {
    const { api, apiKey } = await freeUser();
    hookApi = api;
    const project = (await api.post('/v1/projects', { name: 'Hooks' })).body;
    const hook = await api.post('/v1/webhooks', { project_id: project.id, url: receiverUrl, events: ['task.*'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    webhookId = hook.body.id;

    const first = (await api.post('/v1/agents/execute', executeBody(manyFiles(40)))).body.task_id as string;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${first}`)).body.status === 'running' ? true : undefined), 20_000, 50);
    const stream = collectWs(`${sys.wsUrl}/v1/agents/tasks/${first}/stream?token=${apiKey}`);
    // The plan runs one agent at a time: the second waits for the first's slot.
    const second = (await api.post('/v1/agents/execute', executeBody([vulnerableJs]))).body.task_id as string;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${second}`)).body.queue_position === 1 ? true : undefined), 20_000, 50);

    const terminatedAt = Date.now();
    await terminate(first);

    const { messages, closeCode } = await stream;
    expect(closeCode).toBe(1000);
    const last = messages.at(-1);
    expect(last).toMatchObject({ type: 'error', task_id: first, status: 'failed', error: { code: 'workflow_terminated' } });
    expect(last.error.message).toContain(REASON);
    expect(messages.filter((m) => m.type === 'error' || m.type === 'result')).toHaveLength(1);
    expect(Date.now() - terminatedAt).toBeLessThan(10_000);

    const task = (await api.get(`/v1/agents/tasks/${first}`)).body;
    expect(task).toMatchObject({ status: 'failed', error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
    expect(task.completed_at).not.toBeNull();

    // The slot is free: the waiting task starts and completes.
    const next = await waitFor(async () => {
      const t = (await api.get(`/v1/agents/tasks/${second}`)).body;
      return t.status === 'completed' ? t : undefined;
    }, 30_000, 100);
    expect(new Date(next.started_at).getTime()).toBeGreaterThanOrEqual(new Date(task.completed_at).getTime());

    // The same webhook event as any other end: task.failed with the error.
    const payload = await waitFor(async () => received.find((p) => p.type === 'task.failed' && p.resource_id === first), 10_000, 50);
    expect(payload.data).toMatchObject({ task_id: first, status: 'failed', error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
    // The endpoint answered 500: the delivery is pending, its retry workflow started and waiting an hour.
    deliveryId = await waitFor(async () => {
      const d = (await sys.services.db.webhookDelivery.findMany({ where: { webhookId, status: 'pending', attemptCount: 1, dispatchedAt: { not: null } } })).find(Boolean);
      return d?.id;
    }, 10_000, 50);
  });

  it('ends the webhook delivery failed when its workflow is terminated, and keeps the endpoint enabled', async () => {
    expect(deliveryId).toBeDefined();
    await terminate(deliveryId);
    const delivery = await waitFor(async () => {
      const page = (await hookApi.get(`/v1/webhooks/${webhookId}/deliveries`)).body;
      const d = page.data.find((x: any) => x.id === deliveryId);
      return d?.status === 'failed' ? d : undefined;
    }, 10_000, 100);
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 1, next_attempt_at: null, error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
    expect(delivery.completed_at).not.toBeNull();
    expect((await hookApi.get(`/v1/webhooks/${webhookId}`)).body.enabled).toBe(true);
  });
});

describe('every other kind, terminated while no worker runs it', () => {
  let apiKey: string;
  let api: ReturnType<typeof restClient>;
  beforeAll(async () => {
    apiKey = (await sys.createUser('Operator watch')).apiKey;
    api = restClient(front.url, apiKey);
  });

  it('orchestration: failed with the reason in its summary; every agent failed; the end on its stream', async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'audit', agents: ['security_expert', 'code_expert'], context: { files: [vulnerableJs] } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.orchestration_id as string;
    const stream = follow(apiKey, 'subscription($id: ID!) { orchestrationEvents(id: $id) { type taskId status message } }', { id });
    await terminate(id);
    const { results } = await stream.done();
    const events = results.map((r) => r.orchestrationEvents);
    expect(events.at(-1)).toMatchObject({ type: 'orchestration', status: 'failed', message: expect.stringContaining(REASON) });
    expect(events.filter((e) => e.type === 'error').map((e) => e.status)).toEqual(['failed', 'failed']);

    const o = (await api.get(`/v1/agents/orchestrations/${id}`)).body;
    expect(o.status).toBe('failed');
    expect(o.aggregated_result.summary).toContain(REASON);
    const tasks = await sys.services.db.agentTask.findMany({ where: { orchestrationId: id } });
    expect(tasks.map((t) => [t.status, (t.error as any)?.code])).toEqual([
      ['failed', 'workflow_terminated'],
      ['failed', 'workflow_terminated'],
    ]);
  });

  it('review: failed with workflow_terminated and the reason; the failed event ends its stream', async () => {
    const res = await api.post('/v1/reviews', { files: [vulnerableJs] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id as string;
    const stream = follow(apiKey, 'subscription($id: ID!) { reviewEvents(id: $id) { type status error { code message } } }', { id });
    await terminate(id);
    const { results } = await stream.done();
    expect(results.at(-1).reviewEvents).toMatchObject({ type: 'failed', status: 'failed', error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
    expect((await api.get(`/v1/reviews/${id}`)).body).toMatchObject({ status: 'failed', error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
  });

  it('generation: failed with workflow_terminated and the reason; generationUpdated sends the end', async () => {
    const res = await api.post('/v1/generations', { prompt: `Write a parser for this log format. ${'Each line holds a date, a level and a message. '.repeat(40)}`, language: 'typescript' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.id as string;
    const stream = follow(apiKey, 'subscription($id: ID!) { generationUpdated(id: $id) { status error { code message } } }', { id });
    await terminate(id);
    const { results } = await stream.done();
    expect(results.at(-1).generationUpdated).toMatchObject({ status: 'FAILED', error: { code: 'workflow_terminated', message: expect.stringContaining(REASON) } });
    expect((await api.get(`/v1/generations/${id}`)).body).toMatchObject({ status: 'failed', error: { code: 'workflow_terminated' } });
  });

  it('project index run: failed with the reason; the failed event ends its stream; a new run may start', async () => {
    const res = await api.post('/v1/projects', { name: 'Indexed', files: [{ path: 'src/a.ts', content: 'export const a = 1;\n' }] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { id, index } = res.body;
    expect(index.status).toBe('indexing');
    const stream = follow(apiKey, 'subscription($id: ID!) { projectIndexEvents(id: $id) { type runId status message } }', { id });
    await terminate(index.run_id);
    const { results } = await stream.done();
    expect(results.at(-1).projectIndexEvents).toMatchObject({ type: 'failed', runId: index.run_id, status: 'failed', message: expect.stringContaining(REASON) });
    const project = (await api.get(`/v1/projects/${id}`)).body;
    expect(project.index).toMatchObject({ status: 'failed', run_id: index.run_id });
    expect(project.index.last_run.error).toContain('terminated');
    expect(project.index.last_run.error).toContain(REASON);
    const again = await api.post(`/v1/projects/${id}/index`, { files: [{ path: 'src/b.ts', content: 'export const b = 2;\n' }] });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(again.body.run_id).not.toBe(index.run_id);
  });

  it('visualization: failed with the reason; the end on its stream', async () => {
    const res = await api.post('/v1/visualize/repository', { repository_url: join(repoRoot, 'demo'), analysis_depth: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.visualization_id as string;
    const stream = follow(apiKey, 'subscription($id: ID!) { visualizationEvents(id: $id) { type status message } }', { id });
    await terminate(id);
    const { results } = await stream.done();
    expect(results.at(-1).visualizationEvents).toMatchObject({ type: 'visualization', status: 'failed', message: expect.stringContaining(REASON) });
    const v = (await api.get(`/v1/visualize/${id}`)).body;
    expect(v.status).toBe('failed');
    expect(v.error).toContain('terminated');
    expect(v.error).toContain(REASON);
  });
});

describe('a task whose workflow was never started (the gateway died after storing it)', () => {
  async function storedWithoutWorkflow(userId: string) {
    // What the submission does before it starts the workflow: the row and its queued event.
    const input = parseTaskInput({ task: 'Review', agentType: 'security_expert', context: { files: [vulnerableJs] } }, sys.config.TASK_MAX_TIMEOUT_SECONDS);
    return (await createTaskRow(sys.services, { userId }, input, null)).id;
  }

  it('is started under its own id after the grace period and runs to the end', async () => {
    const { userId, apiKey } = await sys.createUser('Lost start');
    const api = restClient(sys.url, apiKey);
    const id = await storedWithoutWorkflow(userId);
    expect((await api.get(`/v1/agents/tasks/${id}`)).body.status).toBe('queued');
    const done = await waitFor(async () => {
      const t = (await api.get(`/v1/agents/tasks/${id}`)).body;
      return t.status === 'completed' ? t : undefined;
    }, 20_000, 100);
    expect(done.result.findings.length).toBeGreaterThan(0);
    expect(await sys.services.temporal.workflow.getHandle(id).result()).toBe('completed');
    const { messages } = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${id}/stream?token=${apiKey}`);
    expect(messages[0]).toMatchObject({ type: 'progress', status: 'queued' });
    expect(messages.at(-1)).toMatchObject({ type: 'result', status: 'completed' });
    expect(sys.logs.some((l) => l.includes(id) && l.includes('lost start'))).toBe(true);
  });

  it('is failed as workflow_lost when it was stored too long ago to start now', async () => {
    const { userId, apiKey } = await sys.createUser('Old lost start');
    const api = restClient(sys.url, apiKey);
    const id = await storedWithoutWorkflow(userId);
    await sys.services.db.agentTask.update({ where: { id }, data: { createdAt: new Date(Date.now() - 2 * 3600_000) } });
    const { messages } = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${id}/stream?token=${apiKey}`);
    expect(messages.at(-1)).toMatchObject({ type: 'error', status: 'failed', error: { code: 'workflow_lost' } });
    expect((await api.get(`/v1/agents/tasks/${id}`)).body).toMatchObject({ status: 'failed', error: { code: 'workflow_lost' } });
    await expect(sys.services.temporal.workflow.getHandle(id).describe()).rejects.toThrow();
  });
});
