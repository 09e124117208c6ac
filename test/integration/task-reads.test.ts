/**
 * The hot task reads (a task by id, a page of a plain list) run one statement on the pool instead
 * of Prisma's client: the rows must be what Prisma returns (every column but the submitted input,
 * which only a rerun reads), and tenancy must be what `canSee` and `listScope` decide (another
 * account's or another team's task is not found), also when reads of one turn share a statement.
 * So must the task's start (one UPDATE … RETURNING on the pool) and a stream's events (written and
 * read on the pool).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolOf } from '../../src/db/client.js';
import { NotFoundError } from '../../src/errors.js';
import { newId } from '../../src/ids.js';
import type { Principal } from '../../src/services/deps.js';
import { insertEvents, readEvents } from '../../src/events/event-store.js';
import { getTask, listTasks } from '../../src/services/tasks/query-tasks.js';
import { rerunTask } from '../../src/services/tasks/rerun-task.js';
import { startTask } from '../../src/services/tasks/task-lifecycle.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let owner: Principal;
let viewer: Principal;
let outsider: Principal;
let teamId: string;
let otherTeamId: string;
const personal: string[] = [];
let teamTask: string;

const principalOf = async (name: string) => sys.services.auth.authenticate((await sys.createUser(name)).apiKey, null);

async function task(ownerId: string, extra: Record<string, unknown> = {}) {
  const id = newId('task');
  await sys.services.db.agentTask.create({
    data: { id, ownerId, agentType: 'security_expert', prompt: 'p', input: {}, timeoutSeconds: 60, estimatedDurationSeconds: 5, ...extra },
  });
  return id;
}

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  [owner, viewer, outsider] = await Promise.all([principalOf('Owner'), principalOf('Viewer'), principalOf('Outsider')]);
  teamId = newId('team');
  otherTeamId = newId('team');
  await sys.services.db.team.createMany({ data: [{ id: teamId, name: 'T' }, { id: otherTeamId, name: 'U' }] });
  await sys.services.db.teamMember.createMany({
    data: [
      { teamId, userId: owner.userId, role: 'owner' },
      { teamId, userId: viewer.userId, role: 'viewer' },
      { teamId: otherTeamId, userId: owner.userId, role: 'owner' },
    ],
  });
  const now = Date.now();
  personal.push(
    await task(owner.userId, {
      status: 'completed',
      progress: 100,
      result: { summary: 's', findings: [{ ruleId: 'r', line: 3 }] },
      error: { code: 'agent_error', message: 'm' },
      promptTokens: 7,
      completionTokens: 9,
      costUsd: 0.0125,
      startedAt: new Date(now - 1500),
      completedAt: new Date(now),
      tags: ['a', 'b:c'],
      metadata: { k: 1, n: null },
      step: 2,
      slotTaken: true,
    }),
  );
  for (let i = 0; i < 4; i++) personal.push(await task(owner.userId));
  teamTask = await task(owner.userId, { teamId });
});

afterAll(async () => {
  await sys?.close();
});

describe('task(id:) read on the pool', () => {
  it('reads on the pool of the services (not through Prisma)', () => {
    expect(poolOf(sys.services.db)).toBeDefined();
  });

  it('returns the row Prisma returns (less the submitted input), every field with the same type', async () => {
    for (const id of [...personal, teamTask]) {
      const expected = await sys.services.db.agentTask.findUnique({ where: { id }, omit: { input: true } });
      const read = await getTask(sys.services, owner, id);
      expect(read).toStrictEqual(expected);
      expect(Object.keys(read).sort()).toEqual(Object.keys(expected!).sort());
    }
  });

  it("answers not found for another account's task, an unknown id, and a team task outside the caller's teams", async () => {
    await expect(getTask(sys.services, outsider, personal[0])).rejects.toBeInstanceOf(NotFoundError);
    await expect(getTask(sys.services, viewer, personal[0])).rejects.toBeInstanceOf(NotFoundError);
    await expect(getTask(sys.services, outsider, teamTask)).rejects.toBeInstanceOf(NotFoundError);
    await expect(getTask(sys.services, owner, newId('task'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(getTask(sys.services, owner, 'not-an-id')).rejects.toBeInstanceOf(NotFoundError);
  });

  it("lets a team's viewer read its task; a credential bound to a team reads that team's tasks only", async () => {
    expect((await getTask(sys.services, viewer, teamTask)).id).toBe(teamTask);
    expect((await getTask(sys.services, { ...owner, teamId }, teamTask)).id).toBe(teamTask);
    await expect(getTask(sys.services, { ...owner, teamId: otherTeamId }, teamTask)).rejects.toBeInstanceOf(NotFoundError);
    await expect(getTask(sys.services, { ...owner, teamId }, personal[0])).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('the submitted input, left out of the reads', () => {
  it('is read by a rerun itself: the new task has the original input', async () => {
    const input = { context: { files: [{ path: 'a.js', content: 'eval(x);\n' }] }, maxTokens: 300, temperature: 0.5, projectId: null };
    const rerunner = await principalOf('Rerunner'); // the owner's list stays as the page tests expect
    const original = await task(rerunner.userId, { input });
    expect(Object.keys(await getTask(sys.services, rerunner, original))).not.toContain('input');
    const { taskId } = await rerunTask(sys.services, rerunner, original);
    const rerun = await sys.services.db.agentTask.findUniqueOrThrow({ where: { id: taskId } });
    expect(rerun.rerunOfId).toBe(original);
    expect(rerun.input).toMatchObject(input);
    await expect(rerunTask(sys.services, outsider, original)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('task(id:) reads asked in the same turn', () => {
  it('run as one statement per caller, each caller answered by its own rights', async () => {
    const pool = poolOf(sys.services.db)!;
    const submitted: string[] = [];
    const query = pool.query.bind(pool);
    pool.query = ((...args: Parameters<typeof pool.query>) => {
      submitted.push(String(args[0]));
      return query(...args);
    }) as typeof pool.query;
    try {
      const asks = [
        ...personal.map((id) => getTask(sys.services, owner, id)),
        getTask(sys.services, owner, teamTask),
        getTask(sys.services, owner, personal[0]), // the same id twice in one batch
        getTask(sys.services, viewer, teamTask),
        getTask(sys.services, viewer, personal[0]),
        getTask(sys.services, outsider, teamTask),
        getTask(sys.services, { ...owner, teamId: otherTeamId }, teamTask),
      ];
      const settled = await Promise.allSettled(asks);
      const ids = settled.map((s) => (s.status === 'fulfilled' ? s.value.id : s.reason instanceof NotFoundError ? 404 : s.reason));
      expect(ids).toEqual([...personal, teamTask, personal[0], teamTask, 404, 404, 404]);
      // owner, viewer, outsider, owner through a credential bound to the other team: four callers.
      expect(submitted.filter((sql) => sql.includes('FROM agent_tasks t WHERE t.id = ANY'))).toHaveLength(4);
    } finally {
      pool.query = query;
    }
  });

  it('a read asked after a write sees it: nothing is kept from one batch to the next', async () => {
    const [id] = personal.slice(-1);
    const before = getTask(sys.services, owner, id);
    await sys.services.db.agentTask.update({ where: { id }, data: { progress: 42 } });
    const after = await Promise.all([getTask(sys.services, owner, id), getTask(sys.services, owner, personal[0])]);
    expect(after[0].progress).toBe(42);
    expect((await before).id).toBe(id);
  });
});

describe('tasks page on the pool', () => {
  const ids = (page: { nodes: { id: string }[] }) => page.nodes.map((t) => t.id);

  it('pages personal tasks newest first with both cursors, rows equal to Prisma', async () => {
    const newest = [...personal].reverse();
    const first = await listTasks(sys.services, owner, { first: 2 });
    expect(ids(first)).toEqual(newest.slice(0, 2));
    expect(first).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const next = await listTasks(sys.services, owner, { first: 10, after: newest[1] });
    expect(ids(next)).toEqual(newest.slice(2));
    expect(next).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const before = await listTasks(sys.services, owner, { last: 2, before: newest[3] });
    expect(ids(before)).toEqual(newest.slice(1, 3));
    expect(before).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
    const all = await listTasks(sys.services, owner, { first: 100 });
    expect(all.nodes).toStrictEqual(await sys.services.db.agentTask.findMany({ where: { ownerId: owner.userId, teamId: null }, orderBy: { id: 'desc' }, omit: { input: true } }));
    expect(await all.count()).toBe(personal.length);
  });

  it("keeps scopes apart: the team's list for its members, nothing of another account", async () => {
    expect(ids(await listTasks(sys.services, outsider, { first: 100 }))).toEqual([]);
    expect(ids(await listTasks(sys.services, viewer, { first: 100 }))).toEqual([]);
    expect(ids(await listTasks(sys.services, viewer, { first: 100, filter: { teamId } }))).toEqual([teamTask]);
    expect(ids(await listTasks(sys.services, { ...owner, teamId }, { first: 100 }))).toEqual([teamTask]);
    await expect(listTasks(sys.services, outsider, { first: 100, filter: { teamId } })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a filtered list (read through Prisma) agrees with the plain one', async () => {
    const filtered = await listTasks(sys.services, owner, { first: 100, filter: { status: ['completed'] } });
    expect(ids(filtered)).toEqual([personal[0]]);
  });
});

describe('writes and reads of the task path on the pool', () => {
  it("a start returns the row as Prisma reads it after: once started, again while it runs, null once it ended", async () => {
    const id = await task(owner.userId);
    const started = await startTask(sys.services, id);
    const stored = await sys.services.db.agentTask.findUnique({ where: { id } });
    expect(stored!.status).toBe('running');
    expect(started).toStrictEqual(stored);
    expect(await startTask(sys.services, id)).toStrictEqual(stored); // a retried attempt: read, not moved again
    await sys.services.db.agentTask.update({ where: { id }, data: { status: 'cancelled' } });
    expect(await startTask(sys.services, id)).toBeNull();
    expect(await startTask(sys.services, newId('task'))).toBeNull();
  });

  it("a stream's events: stored once per key, read back as Prisma reads them", async () => {
    const stream = newId('task');
    const event = (key: string, n: number) => ({ streamId: stream, type: 'progress', key, data: { progress: n, nested: { a: [1, 'b'] } } });
    const first = await insertEvents(sys.services.db, [event('a', 1), event('b', 2)]);
    const again = await insertEvents(sys.services.db, [event('b', 99), event('c', 3)]);
    expect(again[0]).toStrictEqual(first[1]); // the key already stored answers the first event
    const prismaRows = await sys.services.db.event.findMany({ where: { streamId: stream }, orderBy: { seq: 'asc' }, select: { streamId: true, seq: true, type: true, data: true, createdAt: true } });
    expect(prismaRows.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await readEvents(sys.services.db, stream, 0)).toStrictEqual(prismaRows);
    expect(await readEvents(sys.services.db, stream, 1, 1)).toStrictEqual(prismaRows.slice(1, 2));
    expect([...first, again[1]]).toStrictEqual(prismaRows);
  });
});
