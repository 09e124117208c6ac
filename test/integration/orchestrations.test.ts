/**
 * Orchestrations on the real Temporal server: parallel agents as child workflows with results
 * aggregated from the children, sequential runs that pass results forward, cancellation of the
 * parent reaching the children, best-effort versus fail-fast, and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { manyFiles, vulnerableJs } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { readEvents } from '../../src/events/event-store.js';
import { newId } from '../../src/ids.js';

let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '50' } });
  ({ apiKey: key } = await sys.createUser('Conductor'));
  api = restClient(sys.url, key);
});
afterAll(() => sys?.close());

const swallowed = { path: 'src/loader.ts', content: 'export function load() {\n  try {\n    return JSON.parse("{");\n  } catch (e) {\n  }\n}\n' };

async function finished(id: string) {
  return waitFor(async () => {
    const o = (await api.get(`/v1/agents/orchestrations/${id}`)).body;
    return o.status !== 'in_progress' ? o : undefined;
  }, 60_000);
}

describe('parallel', () => {
  it('runs each agent as its own task and aggregates what the children found', async () => {
    const res = await api.post('/v1/agents/orchestrate', {
      goal: 'Review the login code',
      strategy: 'parallel',
      agents: ['security_expert', 'code_expert', 'security_expert'],
      context: { files: [vulnerableJs, swallowed], language: 'typescript' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ orchestration_id: expect.stringMatching(/^orch_/), status: 'in_progress', agents_running: 3, result_url: `/v1/agents/orchestrations/${res.body.orchestration_id}` });
    const o = await finished(res.body.orchestration_id);
    expect(o.status).toBe('completed');
    expect(o.agents.map((a: any) => [a.agent_type, a.status])).toEqual([
      ['security_expert', 'completed'],
      ['code_expert', 'completed'],
      ['security_expert', 'completed'],
    ]);
    // The counts are the sums of the children's own results, read back from their tasks.
    const children = await Promise.all(o.agents.map(async (a: any) => (await api.get(`/v1/agents/tasks/${a.task_id}`)).body));
    const count = (type: string) => children.filter((t) => t.agent_type === type).reduce((n, t) => n + t.result.findings.length, 0);
    expect(count('security_expert')).toBeGreaterThan(0);
    expect(o.aggregated_result).toMatchObject({ security_issues: count('security_expert'), code_issues: count('code_expert'), tests_generated: 0, failed_agents: [] });
    expect(o.aggregated_result.summary).toMatch(/^3 of 3 agents completed/);
    expect(o.total_duration_seconds).toBeGreaterThan(0);
    // Each child is an ordinary task of the caller.
    const listed = (await api.get('/v1/agents/tasks?limit=10')).body.data.map((t: any) => t.task_id);
    for (const a of o.agents) expect(listed).toContain(a.task_id);
  });
  it("takes its agents' slots together: beyond the account's limit they wait, start as slots free, and one cancelled while it waits ends alone", async () => {
    const user = await sys.createUser('Two at a time', { tier: 'pro' });
    await sys.services.db.accountLimits.create({ data: { userId: user.userId, parallelAgents: 2, requestsPerMinute: 100_000, requestsPerHour: 100_000 } });
    const own = restClient(sys.url, user.apiKey);
    const res = await own.post('/v1/agents/orchestrate', { goal: 'Queue', strategy: 'parallel', agents: ['security_expert', 'security_expert', 'security_expert', 'security_expert'], context: { files: manyFiles(10) } });
    expect(res.status).toBe(202);
    const id = res.body.orchestration_id;
    // Two run, two wait for a slot; the last one is cancelled while it waits.
    const waiting = await waitFor(async () => {
      const agents = (await own.get(`/v1/agents/orchestrations/${id}`)).body.agents as Array<{ task_id: string; status: string }>;
      return agents.filter((a) => a.status === 'running').length === 2 ? agents : undefined;
    }, 20_000, 50);
    expect(waiting.filter((a) => a.status === 'queued')).toHaveLength(2);
    expect((await own.delete(`/v1/agents/tasks/${waiting[3].task_id}`)).status).toBe(200);
    const o = await waitFor(async () => {
      const body = (await own.get(`/v1/agents/orchestrations/${id}`)).body;
      return body.status !== 'in_progress' ? body : undefined;
    }, 60_000);
    expect(o.agents.map((a: any) => a.status)).toEqual(['completed', 'completed', 'completed', 'cancelled']);
    expect(o.status).toBe('partial');
  });
});

describe('orchestrationEvents', () => {
  const SUB = `subscription($id: ID!, $since: Int) { orchestrationEvents(id: $id, since: $since) { seq type taskId agentType status message } }`;

  it("interleaves every agent's events in one sequence, ends with the orchestration, and resumes without gaps or repeats", async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'watch', agents: ['security_expert', 'code_expert'], context: { files: [vulnerableJs, swallowed] } });
    const id = res.body.orchestration_id;
    const all = await subscribeGraphql(sys.wsUrl, key, SUB, { id, since: 0 });
    expect(all.errors).toEqual([]);
    const events = all.results.map((r) => r.orchestrationEvents);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const last = events.at(-1);
    expect(last).toMatchObject({ type: 'orchestration', status: 'completed', taskId: null });
    const o = (await api.get(`/v1/agents/orchestrations/${id}`)).body;
    for (const agent of o.agents) {
      const mine = events.filter((e) => e.taskId === agent.task_id);
      expect(mine[0]).toMatchObject({ type: 'progress', status: 'queued', agentType: agent.agent_type });
      expect(mine.at(-1)).toMatchObject({ type: 'result', status: 'completed' });
    }
    const resumed = await subscribeGraphql(sys.wsUrl, key, SUB, { id, since: 3 });
    expect(resumed.results.map((r) => r.orchestrationEvents.seq)).toEqual(events.slice(3).map((e) => e.seq));
  });

  it("refuses another account's orchestration", async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'private', agents: ['code_expert'], context: { files: [swallowed] } });
    const other = await sys.createUser('Snoop');
    const sub = await subscribeGraphql(sys.wsUrl, other.apiKey, SUB, { id: res.body.orchestration_id });
    expect(sub.results).toEqual([]);
    expect(sub.errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
  });
});

describe('sequential', () => {
  it('gives each agent the results of the agents before it', async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'Security, then review', strategy: 'sequential', agents: ['security_expert', 'code_expert'], context: { files: [vulnerableJs, swallowed] } });
    const o = await finished(res.body.orchestration_id);
    expect(o.status).toBe('completed');
    const [first, second] = await Promise.all(o.agents.map((a: any) => sys.services.db.agentTask.findUniqueOrThrow({ where: { id: a.task_id } })));
    expect(second!.startedAt!.getTime()).toBeGreaterThanOrEqual(first!.completedAt!.getTime());
    const received = (second!.input).previous_results;
    expect(received).toEqual([{ agent_type: 'security_expert', task_id: first!.id, status: 'completed', result: first!.result }]);
    expect((first!.input).previous_results).toBeUndefined();
  });
});

describe('cancellation and failures', () => {
  it('cancelling the orchestration cancels its running children and the ones not started', async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'Long', strategy: 'sequential', agents: ['code_expert', 'security_expert'], context: { files: manyFiles(200) } });
    const id = res.body.orchestration_id;
    await waitFor(async () => ((await api.get(`/v1/agents/orchestrations/${id}`)).body.agents[0].status === 'running' ? true : undefined), 20_000, 50);
    const cancelled = await api.delete(`/v1/agents/orchestrations/${id}`);
    expect(cancelled.status).toBe(200);
    const o = await finished(id);
    expect(o.status).toBe('cancelled');
    expect(o.agents.map((a: any) => a.status)).toEqual(['cancelled', 'cancelled']);
    // The agents ran inside the orchestration's workflow, which ends once they have stopped (its
    // row can read cancelled a moment before the workflow returns).
    const handle = sys.services.temporal.workflow.getHandle(id);
    await expect.poll(async () => (await handle.describe()).status.name, { timeout: 15_000, interval: 100 }).not.toBe('RUNNING');
    expect((await api.delete(`/v1/agents/orchestrations/${id}`)).body.error.code).toBe('orchestration_not_cancellable');
  });

  it('best effort keeps the other results when one agent fails; fail fast stops the rest', async () => {
    // A task cancelled by its owner counts as not completed, like a failure, for the policy. Under
    // fail fast the other agent must still be running when the cancellation reaches it (through its
    // heartbeats, which the SDK throttles to seconds): 60 files take an agent about 3 s, and a
    // loaded CI once saw it finish first (fail fast rightly leaves it completed); 600 take about 30 s.
    const run = async (policy: string, files: number) => {
      const res = await api.post('/v1/agents/orchestrate', { goal: policy, strategy: 'parallel', failure_policy: policy, agents: ['code_expert', 'security_expert'], context: { files: manyFiles(files) } });
      const id = res.body.orchestration_id;
      const first = await waitFor(async () => {
        const o = (await api.get(`/v1/agents/orchestrations/${id}`)).body;
        return o.agents[0].status === 'running' ? o.agents[0].task_id : undefined;
      }, 20_000, 50);
      await api.delete(`/v1/agents/tasks/${first}`);
      return finished(id);
    };
    const bestEffort = await run('best_effort', 60);
    expect(bestEffort.status).toBe('partial');
    expect(bestEffort.agents.map((a: any) => a.status)).toEqual(['cancelled', 'completed']);
    expect(bestEffort.aggregated_result.failed_agents).toEqual(['code_expert (cancelled)']);
    const failFast = await run('fail_fast', 600);
    expect(failFast.status).toBe('failed');
    expect(failFast.agents.map((a: any) => a.status)).toEqual(['cancelled', 'cancelled']);
  });
});

describe('many agents at once', () => {
  it('keeps each task its own ordered stream, its feed and orchestration copies, and its own task.completed event', async () => {
    // A pro account runs 10 agents at a time: of 12, two wait for a slot.
    const pro = await sys.createUser('Many', { tier: 'pro' });
    const proApi = restClient(sys.url, pro.apiKey);
    const { db } = sys.services;
    // A disabled subscription: the events are stored (with missed deliveries) and nothing is sent.
    const projectId = newId('project');
    await db.project.create({ data: { id: projectId, ownerId: pro.userId, name: 'many' } });
    await db.webhook.create({
      data: { id: newId('webhook'), projectId, createdById: pro.userId, url: 'https://hooks.example/many', eventTypes: ['task.completed'], secretEncrypted: 'x', enabled: false },
    });
    const res = await proApi.post('/v1/agents/orchestrate', { goal: 'Many', strategy: 'parallel', agents: Array(12).fill('security_expert'), context: { files: [vulnerableJs] } });
    expect(res.status).toBe(202);
    const id = res.body.orchestration_id;
    const o = await waitFor(async () => {
      const body = (await proApi.get(`/v1/agents/orchestrations/${id}`)).body;
      return body.status !== 'in_progress' ? body : undefined;
    }, 60_000);
    expect(o.status).toBe('completed');
    const ids: string[] = o.agents.map((a: any) => a.task_id);
    expect(new Set(ids).size).toBe(12);
    const shared = await readEvents(db, id, 0);
    expect(shared.map((e) => e.seq)).toEqual(shared.map((_, i) => i + 1));
    const feed = await readEvents(db, `feed:${pro.userId}`, 0);
    for (const [step, taskId] of ids.entries()) {
      const own = await readEvents(db, taskId, 0);
      expect(own.map((e) => e.seq)).toEqual(own.map((_, i) => i + 1));
      expect(own[0].data).toMatchObject({ status: 'queued', message: `Task queued (agent ${step + 1} of 12 in ${id})` });
      expect(own.find((e) => e.data.status === 'running')?.data.message).toBe('Agent security_expert started');
      expect(own.at(-1)).toMatchObject({ type: 'result', data: { status: 'completed' } });
      expect(own.filter((e) => e.type === 'result')).toHaveLength(1);
      // The orchestration's stream and the feed hold a copy of each, in the task's order.
      expect(shared.filter((e) => e.data.taskId === taskId).map((e) => e.data.message)).toEqual(own.map((e) => e.data.message));
      expect(feed.filter((e) => e.data.taskId === taskId).map((e) => e.data.message)).toEqual(own.map((e) => e.data.message));
    }
    // The two beyond the plan's 10 waited for a slot, and said so.
    const waited = await Promise.all(ids.map(async (taskId) => (await readEvents(db, taskId, 0)).some((e) => e.data.queuePosition !== undefined)));
    expect(waited.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    const hooks = await db.webhookEvent.findMany({ where: { type: 'task.completed', resourceId: { in: ids } } });
    expect(hooks.map((h) => h.resourceId).sort()).toEqual([...ids].sort());
    expect(await db.webhookDelivery.count({ where: { eventId: { in: hooks.map((h) => h.id) }, status: 'missed' } })).toBe(12);
  });
});

describe('bad input and isolation', () => {
  it.each([
    [{ goal: '', agents: ['code_expert'], context: { files: [swallowed] } }, 'goal'],
    [{ goal: 'x', agents: [], context: { files: [swallowed] } }, 'agents'],
    [{ goal: 'x', agents: ['poet'], context: { files: [swallowed] } }, 'agents.0'],
    [{ goal: 'x', agents: ['code_expert'], strategy: 'random', context: { files: [swallowed] } }, 'strategy'],
    [{ goal: 'x', agents: ['code_expert'], context: { files: [] } }, 'context.files'],
  ])('refuses %j naming %s, creating nothing', async (body, field) => {
    const before = await sys.services.db.orchestration.count();
    const res = await api.post('/v1/agents/orchestrate', body);
    expect(res.status).toBe(422);
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    expect(await sys.services.db.orchestration.count()).toBe(before);
  });

  it("hides another account's orchestration (404) over REST and GraphQL", async () => {
    const res = await api.post('/v1/agents/orchestrate', { goal: 'mine', agents: ['code_expert'], context: { files: [swallowed] } });
    const other = await sys.createUser('Other');
    const id = res.body.orchestration_id;
    expect((await restClient(sys.url, other.apiKey).get(`/v1/agents/orchestrations/${id}`)).status).toBe(404);
    expect((await restClient(sys.url, other.apiKey).delete(`/v1/agents/orchestrations/${id}`)).status).toBe(404);
    const gql = await graphql(sys.url, other.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id });
    expect(gql.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    const mine = await graphql(sys.url, key, `query($id: ID!) { orchestration(id: $id) { id agents { agentType } } }`, { id });
    expect(mine.body.data.orchestration.agents).toEqual([{ agentType: 'code_expert' }]);
  });
});

describe('estimated completion', () => {
  it('is the slowest agent for parallel and the sum for sequential, the same over REST and GraphQL', async () => {
    for (const strategy of ['parallel', 'sequential'] as const) {
      const res = await api.post('/v1/agents/orchestrate', { goal: 'Estimate', strategy, agents: ['security_expert', 'code_expert'], context: { files: [vulnerableJs, swallowed] } });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const id = res.body.orchestration_id;
      const created = await sys.services.db.orchestration.findUniqueOrThrow({ where: { id } });
      const estimates = (await sys.services.db.agentTask.findMany({ where: { orchestrationId: id } })).map((t) => t.estimatedDurationSeconds);
      expect(estimates).toHaveLength(2);
      const seconds = strategy === 'parallel' ? Math.max(...estimates) : estimates[0] + estimates[1];
      const expected = new Date(created.createdAt.getTime() + seconds * 1000).toISOString();
      expect(res.body.estimated_completion).toBe(expected);
      const g = await graphql(sys.url, key, 'query($id: ID!) { orchestration(id: $id) { estimatedCompletion } }', { id });
      expect(g.body.data.orchestration.estimatedCompletion).toBe(expected);
      await finished(id);
    }
  });
});
