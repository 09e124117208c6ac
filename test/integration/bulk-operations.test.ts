/**
 * Run management on the real Temporal server: rerunning a task and an orchestration (a new run
 * with the same input, linked to the original), bulk cancel and rerun as a workflow with progress
 * events and final counts, idempotent replay, tenant isolation, and the refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles, vulnerableJs } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '100', BULK_MAX_TASKS: '8' } });
});
afterAll(() => sys?.close());

async function user(name: string) {
  const u = await sys.createUser(name);
  return { ...u, api: restClient(sys.url, u.apiKey) };
}

const finished = (api: ReturnType<typeof restClient>, path: string, done: (b: any) => boolean) =>
  waitFor(async () => {
    const body = (await api.get(path)).body;
    return done(body) ? body : undefined;
  }, 60_000);

describe('rerun', () => {
  it('starts a new task with the same input, linked to the original, which is unchanged', async () => {
    const { api } = await user('Rerunner');
    const first = (await api.post('/v1/agents/execute', executeBody([vulnerableJs], { max_tokens: 500 }))).body.task_id;
    const original = await finished(api, `/v1/agents/tasks/${first}`, (t) => t.status === 'completed');
    const res = await api.post(`/v1/agents/tasks/${first}/rerun`, {}, { 'Idempotency-Key': 'rerun-1' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ task_id: expect.stringMatching(/^task_/), rerun_of: first, status: 'queued' });
    expect(res.body.task_id).not.toBe(first);
    const again = await api.post(`/v1/agents/tasks/${first}/rerun`, {}, { 'Idempotency-Key': 'rerun-1' });
    expect(again.body.task_id).toBe(res.body.task_id);
    expect([res.headers.get('idempotent-replayed'), again.headers.get('idempotent-replayed')]).toEqual([null, 'true']);
    const rerun = await finished(api, `/v1/agents/tasks/${res.body.task_id}`, (t) => t.status === 'completed');
    expect(rerun.result.findings).toEqual(original.result.findings);
    const gql = await graphql(sys.url, (await sys.createUser('x')).apiKey, `{ task(id: "${first}") { id } }`);
    expect(gql.body.errors?.[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect((await api.get(`/v1/agents/tasks/${first}`)).body).toEqual({ ...original, queue_position: original.queue_position });
  });

  it('reruns an orchestration with the same goal and agents; a start and a rerun replay their Idempotency-Key, marked replayed', async () => {
    const { api } = await user('Conductor');
    const startBody = { goal: 'Review', agents: ['security_expert', 'code_expert'], strategy: 'sequential', context: { files: [vulnerableJs], language: 'js' } };
    const started = await api.post('/v1/agents/orchestrate', startBody, { 'Idempotency-Key': 'orch-start-1' });
    const id = started.body.orchestration_id;
    const startReplay = await api.post('/v1/agents/orchestrate', startBody, { 'Idempotency-Key': 'orch-start-1' });
    expect([startReplay.status, startReplay.body.orchestration_id, started.headers.get('idempotent-replayed'), startReplay.headers.get('idempotent-replayed')]).toEqual([
      started.status,
      id,
      null,
      'true',
    ]);
    const startConflict = await api.post('/v1/agents/orchestrate', { ...startBody, goal: 'Other' }, { 'Idempotency-Key': 'orch-start-1' });
    expect([startConflict.status, startConflict.body.error.code]).toEqual([409, 'idempotency_conflict']);
    const res = await api.post(`/v1/agents/orchestrations/${id}/rerun`, {}, { 'Idempotency-Key': 'orch-rerun-1' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ orchestration_id: expect.stringMatching(/^orch_/), rerun_of: id, status: 'in_progress', agents_running: 1 });
    const again = await api.post(`/v1/agents/orchestrations/${id}/rerun`, {}, { 'Idempotency-Key': 'orch-rerun-1' });
    expect([again.status, again.body.orchestration_id]).toEqual([202, res.body.orchestration_id]);
    expect([res.headers.get('idempotent-replayed'), again.headers.get('idempotent-replayed')]).toEqual([null, 'true']);
    const o = await finished(api, `/v1/agents/orchestrations/${res.body.orchestration_id}`, (b) => b.status !== 'in_progress');
    expect(o).toMatchObject({ status: 'completed', goal: 'Review', strategy: 'sequential' });
    expect(o.agents.map((a: any) => a.agent_type)).toEqual(['security_expert', 'code_expert']);
  });

  it("answers 404 for another tenant's task or orchestration, and starts nothing", async () => {
    const a = await user('Owner A');
    const b = await user('Stranger B');
    const task = (await a.api.post('/v1/agents/execute', executeBody())).body.task_id;
    const orch = (await a.api.post('/v1/agents/orchestrate', { goal: 'g', agents: ['security_expert'], context: { files: [vulnerableJs] } })).body.orchestration_id;
    const r1 = await b.api.post(`/v1/agents/tasks/${task}/rerun`, {});
    const r2 = await b.api.post(`/v1/agents/orchestrations/${orch}/rerun`, {});
    expect([r1.status, r1.body.error.code, r2.status, r2.body.error.code]).toEqual([404, 'resource_not_found', 404, 'resource_not_found']);
    expect((await b.api.get('/v1/agents/tasks')).body.data).toEqual([]);
  });
});

const BULK_EVENTS = `subscription($id: ID!, $since: Int) { bulkOperationEvents(id: $id, since: $since) { seq type status matched processed succeeded skipped failed } }`;

describe('bulk operations', () => {
  it('cancels 5 running tasks, skips a finished one, reports progress and final counts, and replays its idempotency key', async () => {
    const { api, apiKey } = await user('Bulk canceller');
    const done = (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'code_expert' })).body.task_id;
    await finished(api, `/v1/agents/tasks/${done}`, (t) => t.status === 'completed');
    const running: string[] = [];
    for (let i = 0; i < 5; i++) running.push((await api.post('/v1/agents/execute', executeBody(manyFiles(300)))).body.task_id);
    await waitFor(async () => ((await api.get('/v1/agents/tasks?status=running')).body.data.length === 5 ? true : undefined));
    const body = { action: 'cancel', filter: { status: ['running', 'completed'] } };
    const res = await api.post('/v1/agents/bulk', body, { 'Idempotency-Key': 'bulk-cancel-1' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ bulk_id: expect.stringMatching(/^bop_/), action: 'cancel', matched: 6, credits_charged: 6 });
    const replay = await api.post('/v1/agents/bulk', body, { 'Idempotency-Key': 'bulk-cancel-1' });
    expect(replay.body.bulk_id).toBe(res.body.bulk_id);
    const other = await api.post('/v1/agents/bulk', { ...body, action: 'rerun' }, { 'Idempotency-Key': 'bulk-cancel-1' });
    expect([other.status, other.body.error.code]).toEqual([409, 'idempotency_conflict']);
    const op = await finished(api, `/v1/agents/bulk/${res.body.bulk_id}`, (b) => b.status === 'completed');
    expect(op).toMatchObject({ matched: 6, processed: 6, succeeded: 5, skipped: 1, failed: 0 });
    for (const id of running) expect((await api.get(`/v1/agents/tasks/${id}`)).body.status).toBe('cancelled');
    expect((await api.get(`/v1/agents/tasks/${done}`)).body.status).toBe('completed');
    const events = await subscribeGraphql(sys.wsUrl, apiKey, BULK_EVENTS, { id: res.body.bulk_id, since: 0 });
    expect(events.errors).toEqual([]);
    const seen = events.results.map((r) => r.bulkOperationEvents);
    expect(seen[0]).toMatchObject({ seq: 1, type: 'progress', processed: 0, matched: 6 });
    expect(seen.at(-1)).toMatchObject({ type: 'completed', status: 'COMPLETED', processed: 6, succeeded: 5, skipped: 1, failed: 0 });
    const resumed = await subscribeGraphql(sys.wsUrl, apiKey, BULK_EVENTS, { id: res.body.bulk_id, since: 1 });
    expect(resumed.results.map((r) => r.bulkOperationEvents.seq)).toEqual(seen.slice(1).map((e) => e.seq));
  });

  it('reruns 3 tasks picked by agent type; each new task links to its original, and later tasks are not swept in', async () => {
    const { api, apiKey } = await user('Bulk rerunner');
    const originals: string[] = [];
    for (let i = 0; i < 3; i++) originals.push((await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'code_expert' })).body.task_id);
    await api.post('/v1/agents/execute', executeBody()); // security_expert: not matched
    for (const id of originals) await finished(api, `/v1/agents/tasks/${id}`, (t) => t.status === 'completed');
    const res = await graphql(sys.url, apiKey, `mutation { startBulkOperation(action: RERUN, filter: { agentType: ["code_expert"] }) { operation { id matched } } }`);
    expect(res.body.errors).toBeUndefined();
    const id = res.body.data.startBulkOperation.operation.id;
    expect(res.body.data.startBulkOperation.operation.matched).toBe(3);
    const op = await finished(api, `/v1/agents/bulk/${id}`, (b) => b.status === 'completed');
    expect(op).toMatchObject({ action: 'rerun', matched: 3, processed: 3, succeeded: 3, skipped: 0, failed: 0 });
    const list = await graphql(sys.url, apiKey, `{ tasks(first: 20) { edges { node { id agentType rerunOfId } } } }`);
    const reruns = list.body.data.tasks.edges.map((e: any) => e.node).filter((t: any) => t.rerunOfId);
    expect(reruns.map((t: any) => t.rerunOfId).sort()).toEqual([...originals].sort());
    expect(reruns.every((t: any) => t.agentType === 'code_expert')).toBe(true);
  });

  it("over another tenant's team touches nothing: 404, and A's tasks are unchanged", async () => {
    const a = await user('Team owner A');
    const b = await user('Outsider B');
    const team = (await a.api.post('/v1/teams', { name: 'A team' })).body.id;
    const task = (await a.api.post('/v1/agents/execute', executeBody(manyFiles(300), { team_id: team }))).body.task_id;
    const res = await b.api.post('/v1/agents/bulk', { action: 'cancel', filter: { team_id: team, status: ['queued', 'running'] } });
    expect([res.status, res.body.error.code]).toEqual([404, 'resource_not_found']);
    const mine = await b.api.post('/v1/agents/bulk', { action: 'cancel', filter: { status: ['queued', 'running'] } });
    expect(mine.body.matched).toBe(0);
    expect((await a.api.get(`/v1/agents/tasks/${task}`)).body.status).toMatch(/queued|running/);
    await a.api.delete(`/v1/agents/tasks/${task}`);
  });

  it('acts on selected task ids only; another tenant\'s id among them is not touched; over 100 ids is refused', async () => {
    const a = await user('Selector A');
    const b = await user('Bystander B');
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) mine.push((await a.api.post('/v1/agents/execute', executeBody(manyFiles(300)))).body.task_id);
    const theirs = (await b.api.post('/v1/agents/execute', executeBody(manyFiles(300)))).body.task_id;
    const res = await a.api.post('/v1/agents/bulk', { action: 'cancel', filter: { task_id: [mine[0], mine[1], theirs] } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.matched).toBe(2);
    const listed = await graphql(sys.url, a.apiKey, `query($ids: [ID!]) { tasks(filter: { ids: $ids }) { totalCount } }`, { ids: [mine[0], theirs] });
    expect(listed.body.data.tasks.totalCount).toBe(1);
    await finished(a.api, `/v1/agents/bulk/${res.body.bulk_id}`, (op) => op.status === 'completed');
    for (const id of mine.slice(0, 2)) expect((await a.api.get(`/v1/agents/tasks/${id}`)).body.status).toBe('cancelled');
    expect((await a.api.get(`/v1/agents/tasks/${mine[2]}`)).body.status).toMatch(/queued|running/);
    expect((await b.api.get(`/v1/agents/tasks/${theirs}`)).body.status).toMatch(/queued|running/);
    const tooMany = await a.api.post('/v1/agents/bulk', { action: 'cancel', filter: { task_id: Array.from({ length: 101 }, (_, i) => `task_${i}`) } });
    expect([tooMany.status, tooMany.body.error.code]).toEqual([422, 'validation_error']);
    expect(tooMany.body.error.details).toEqual([expect.objectContaining({ field: 'filter.ids', message: expect.stringMatching(/at most 100/) })]);
    await a.api.delete(`/v1/agents/tasks/${mine[2]}`);
    await b.api.delete(`/v1/agents/tasks/${theirs}`);
  });

  it('refuses an unknown action, an empty filter and a filter over the cap, and starts nothing', async () => {
    const { api, apiKey, userId } = await user('Refused');
    const unknown = await api.post('/v1/agents/bulk', { action: 'delete', filter: { status: ['running'] } });
    expect([unknown.status, unknown.body.error.code]).toEqual([422, 'validation_error']);
    const gqlUnknown = await graphql(sys.url, apiKey, `mutation { startBulkOperation(action: DELETE, filter: { status: [RUNNING] }) { operation { id } } }`);
    expect(gqlUnknown.body.errors?.[0].message).toMatch(/DELETE/);
    const empty = await api.post('/v1/agents/bulk', { action: 'cancel', filter: {} });
    expect([empty.status, empty.body.error.code]).toEqual([422, 'validation_error']);
    expect(empty.body.error.details).toEqual([expect.objectContaining({ field: 'filter', message: expect.stringMatching(/at least one of status/) })]);
    // Over the cap (BULK_MAX_TASKS=8 here): 9 finished rows, inserted directly.
    const rows = Array.from({ length: 9 }, (_, i) => ({
      id: `task_0190${String(i).padStart(4, '0')}-0000-7000-8000-000000000000`,
      ownerId: userId, agentType: 'code_expert', prompt: 'old', input: {}, status: 'completed' as const, timeoutSeconds: 60, estimatedDurationSeconds: 1,
    }));
    await sys.services.db.agentTask.createMany({ data: rows });
    const over = await api.post('/v1/agents/bulk', { action: 'rerun', filter: { status: ['completed'] } });
    expect([over.status, over.body.error.code]).toEqual([422, 'validation_error']);
    expect(over.body.error.message).toMatch(/matches 9 tasks; a bulk operation covers at most 8 \(BULK_MAX_TASKS\)/);
    expect(await sys.services.db.bulkOperation.count({ where: { ownerId: userId } })).toBe(0);
    expect(await sys.services.db.agentTask.count({ where: { ownerId: userId } })).toBe(9);
  });

  it('answers 402 insufficient_credits when the matched tasks cost more than the plan has left, and charges and starts nothing', async () => {
    const { api, userId } = await user('Short of credits');
    // 3 credits a month: the request itself (1) plus 5 tasks at 1 each is over; 1 plus 2 fits exactly.
    await sys.services.db.accountLimits.create({ data: { userId, requestsPerMonth: 3, requestsPerMinute: 100, requestsPerHour: 100 } });
    const rows = ['security_expert', 'security_expert', 'security_expert', 'code_expert', 'code_expert'].map((agentType, i) => ({
      id: `task_0191${String(i).padStart(4, '0')}-0000-7000-8000-000000000000`,
      ownerId: userId, agentType, prompt: 'old', input: {}, status: 'completed' as const, timeoutSeconds: 60, estimatedDurationSeconds: 1,
    }));
    await sys.services.db.agentTask.createMany({ data: rows });
    const refused = await api.post('/v1/agents/bulk', { action: 'rerun', filter: { status: ['completed'] } }, { 'Idempotency-Key': 'bulk-402' });
    expect([refused.status, refused.body.error.code]).toEqual([402, 'insufficient_credits']);
    expect(refused.body.error.message).toMatch(/costs 5 credits \(5 tasks to rerun at 1 each\).*Narrow the filter or upgrade/);
    expect(refused.body.error.details).toMatchObject({ cost: 5, requests_limit: 3 });
    expect(await sys.services.db.bulkOperation.count({ where: { ownerId: userId } })).toBe(0);
    expect(await sys.services.db.agentTask.count({ where: { ownerId: userId } })).toBe(5);
    // Nothing was charged and the key was not used up: the same key with a filter that fits is accepted.
    const fits = await api.post('/v1/agents/bulk', { action: 'rerun', filter: { agent_type: ['code_expert'] } }, { 'Idempotency-Key': 'bulk-402' });
    expect([fits.status, fits.body.matched, fits.body.credits_charged]).toEqual([202, 2, 2]);
  });
});
