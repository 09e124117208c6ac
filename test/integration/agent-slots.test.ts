/**
 * Parallel agents per plan: tasks beyond the account's limit are accepted, wait in `queued` in
 * submission order with their queue position, and start as slots free; the limit is never
 * exceeded, and a waiting task can be cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, restClient, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '100' } });
});
afterAll(() => sys?.close());

async function accountWithAgents(parallelAgents: number) {
  const user = await sys.createUser('Queued', { tier: 'pro' });
  // Polled often below: the request budget is raised so that only the agent limit is in play.
  await sys.services.db.accountLimits.create({ data: { userId: user.userId, parallelAgents, requestsPerMinute: 100_000, requestsPerHour: 100_000 } });
  return { ...user, api: restClient(sys.url, user.apiKey) };
}

/** The most tasks that were running at the same instant, from their start and end times. */
function maxOverlap(tasks: Array<{ startedAt: Date | null; completedAt: Date | null }>) {
  const points = tasks.flatMap((t) => [
    { at: t.startedAt!.getTime(), d: 1 },
    { at: t.completedAt!.getTime(), d: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.d - b.d); // an end and a start at the same ms do not overlap
  let now = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (now += p.d));
  return max;
}

describe('parallel agents', () => {
  it('runs at most the plan limit at once, starts queued tasks in submission order, and shows queue positions', async () => {
    const { api, userId } = await accountWithAgents(2);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api.post('/v1/agents/execute', executeBody(manyFiles(6)));
      expect(res.status).toBe(202);
      ids.push(res.body.task_id);
    }
    // While the first two run, the others wait with their places in line.
    const positions = await waitFor(async () => {
      const tasks = await Promise.all(ids.map(async (id) => (await api.get(`/v1/agents/tasks/${id}`)).body));
      const running = tasks.filter((t) => t.status === 'running').length;
      const queued = tasks.filter((t) => t.status === 'queued');
      return running === 2 && queued.length === 3 ? queued.map((t) => [t.task_id, t.queue_position]) : undefined;
    }, 20_000, 20);
    expect(positions).toEqual([
      [ids[2], 1],
      [ids[3], 2],
      [ids[4], 3],
    ]);

    const done = await waitFor(async () => {
      const tasks = await sys.services.db.agentTask.findMany({ where: { ownerId: userId }, orderBy: { id: 'asc' } });
      return tasks.every((t) => t.status === 'completed') ? tasks : undefined;
    }, 60_000);
    expect(maxOverlap(done)).toBe(2);
    // Slots go out in submission order; tasks that get theirs at the same moment (up to the limit,
    // 2) may start their agents in either order, so each starts within 1 place of its own.
    const startOrder = [...done].sort((a, b) => a.startedAt!.getTime() - b.startedAt!.getTime()).map((t) => t.id);
    for (const [k, id] of ids.entries()) expect(Math.abs(startOrder.indexOf(id) - k)).toBeLessThan(2);
    expect(startOrder.indexOf(ids[4])).toBeGreaterThanOrEqual(3);
    for (const t of done) expect((await api.get(`/v1/agents/tasks/${t.id}`)).body.queue_position).toBeNull();
  });

  it('tells a waiting task its position on its stream, and a cancelled waiting task frees its place', async () => {
    const { api, apiKey } = await accountWithAgents(1);
    const first = (await api.post('/v1/agents/execute', executeBody(manyFiles(20)))).body.task_id;
    const second = (await api.post('/v1/agents/execute', executeBody(manyFiles(2)))).body.task_id;
    const third = (await api.post('/v1/agents/execute', executeBody(manyFiles(2)))).body.task_id;
    const stream = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${third}/stream?token=${apiKey}`, (msg) => msg.queue_position === 2);
    expect(stream.messages.at(-1)).toMatchObject({ type: 'progress', status: 'queued', queue_position: 2, message: expect.stringMatching(/position 2/) });

    expect((await api.delete(`/v1/agents/tasks/${second}`)).body).toMatchObject({ status: 'cancelled' });
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${third}`)).body.queue_position === 1 ? true : undefined), 20_000, 50);
    const finished = await waitFor(async () => {
      const t = (await api.get(`/v1/agents/tasks/${third}`)).body;
      return t.status === 'completed' ? t : undefined;
    }, 60_000);
    const firstTask = await sys.services.db.agentTask.findUniqueOrThrow({ where: { id: first } });
    expect(firstTask.status).toBe('completed');
    // The third started only after the first had finished: the limit is 1.
    expect(new Date(finished.started_at).getTime()).toBeGreaterThanOrEqual(firstTask.completedAt!.getTime());
    expect((await sys.services.db.agentTask.findUniqueOrThrow({ where: { id: second } })).startedAt).toBeNull();
  });
});
