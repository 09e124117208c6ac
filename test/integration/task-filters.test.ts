/**
 * Task and orchestration lists: tags and metadata given at submission (checked, stored, returned),
 * every list filter alone and combined, totalCount under the same scope and filter, tenant
 * isolation (another account's tasks are never returned or counted), and bad filters answering
 * the error envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import type { TaskStatus } from '../../src/generated/prisma/enums.js';
import { graphql, restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let alice: { userId: string; apiKey: string; api: ReturnType<typeof restClient> };
let bob: { userId: string; apiKey: string; api: ReturnType<typeof restClient> };
let teamId: string;

async function user(name: string) {
  const u = await sys.createUser(name);
  return { ...u, api: restClient(sys.url, u.apiKey) };
}

/** Stores a task row directly (its workflow is not needed to list it). */
async function seedTask(ownerId: string, t: { prompt: string; status?: TaskStatus; agentType?: string; tags?: string[]; teamId?: string; createdAt?: string; completedAt?: string }) {
  const id = newId('task');
  await sys.services.db.agentTask.create({
    data: {
      id,
      ownerId,
      teamId: t.teamId ?? null,
      agentType: t.agentType ?? 'security_expert',
      prompt: t.prompt,
      status: t.status ?? 'queued',
      tags: t.tags ?? [],
      input: { context: { files: [] } },
      timeoutSeconds: 60,
      estimatedDurationSeconds: 1,
      ...(t.createdAt ? { createdAt: new Date(t.createdAt) } : {}),
      ...(t.completedAt ? { completedAt: new Date(t.completedAt) } : {}),
    },
  });
  return id;
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  alice = await user('Alice');
  bob = await user('Bob');
  const team = await alice.api.post('/v1/teams', { name: 'Filters team' });
  expect(team.status).toBe(201);
  teamId = team.body.id;
  ids.sqlAudit = await seedTask(alice.userId, { prompt: 'Audit the SQL layer for injection', status: 'completed', tags: ['security', 'db'], createdAt: '2026-01-10T10:00:00Z', completedAt: '2026-01-10T10:05:00Z' });
  ids.xssAudit = await seedTask(alice.userId, { prompt: 'Look for XSS in templates', status: 'failed', tags: ['security'], createdAt: '2026-01-12T10:00:00Z', completedAt: '2026-01-13T09:00:00Z' });
  ids.tests = await seedTask(alice.userId, { prompt: 'Write tests for the parser', status: 'running', agentType: 'test_gen', tags: ['qa'], createdAt: '2026-01-15T10:00:00Z' });
  ids.percent = await seedTask(alice.userId, { prompt: 'Coverage must reach 100% in utils', status: 'queued', agentType: 'code_expert', createdAt: '2026-01-20T10:00:00Z' });
  ids.team = await seedTask(alice.userId, { prompt: 'Team wide SQL review', status: 'completed', tags: ['security'], teamId, createdAt: '2026-01-11T10:00:00Z', completedAt: '2026-01-11T11:00:00Z' });
  // Bob's tasks match every filter below: they must never show up for Alice.
  await seedTask(bob.userId, { prompt: 'Audit the SQL layer for injection', status: 'completed', tags: ['security', 'db'], createdAt: '2026-01-10T10:00:00Z', completedAt: '2026-01-10T10:05:00Z' });
  await seedTask(bob.userId, { prompt: 'Write tests for the parser', status: 'running', agentType: 'test_gen', tags: ['qa'], createdAt: '2026-01-15T10:00:00Z' });
});
afterAll(() => sys?.close());

/** The ids and total of Alice's REST list with `query`. */
async function restList(query: string, who = alice) {
  const res = await who.api.get(`/v1/agents/tasks${query ? `?${query}` : ''}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { ids: res.body.data.map((t: any) => t.task_id).sort(), total: res.body.total_count, body: res.body };
}
const sorted = (...names: string[]) => names.map((n) => ids[n]).sort();

describe('GET /v1/agents/tasks filters', () => {
  it.each([
    ['', ['sqlAudit', 'xssAudit', 'tests', 'percent']],
    ['status=completed,failed', ['sqlAudit', 'xssAudit']],
    ['status=completed&status=running', ['sqlAudit', 'tests']],
    ['agent_type=test_gen,code_expert', ['tests', 'percent']],
    ['tag=security', ['sqlAudit', 'xssAudit']],
    ['tag=security&tag=db', ['sqlAudit']],
    ['created_after=2026-01-12&created_before=2026-01-15', ['xssAudit', 'tests']],
    ['created_before=2026-01-10', ['sqlAudit']],
    ['finished_after=2026-01-13', ['xssAudit']],
    ['finished_before=2026-01-12', ['sqlAudit']],
    ['q=sql', ['sqlAudit']],
    ['q=QA', []],
    ['q=qa', ['tests']],
    ['q=100%25', ['percent']],
    ['q=_', []],
    ['status=completed,failed&tag=security&q=xss', ['xssAudit']],
    [`team_id=TEAM&tag=security`, ['team']],
  ])('%s', async (query, expected) => {
    const { ids: got, total } = await restList(query.replace('TEAM', teamId));
    expect(got).toEqual(sorted(...expected));
    expect(total).toBe(expected.length);
  });

  it('totalCount counts every page, not the one returned', async () => {
    const first = await restList('limit=1&tag=security');
    expect(first.ids).toHaveLength(1);
    expect(first.total).toBe(2);
    expect(first.body.has_more).toBe(true);
    const next = await restList(`limit=1&tag=security&starting_after=${first.body.next_cursor}`);
    expect(next.total).toBe(2);
    expect([...first.ids, ...next.ids].sort()).toEqual(sorted('sqlAudit', 'xssAudit'));
  });

  it("another account's tasks are never listed or counted, and its team is a 404", async () => {
    const bobs = await restList('tag=security', bob);
    expect(bobs.total).toBe(1);
    expect(bobs.ids).not.toContain(ids.sqlAudit);
    const res = await bob.api.get(`/v1/agents/tasks?team_id=${teamId}`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('resource_not_found');
  });

  it.each([
    ['status=done', 'status.0'],
    ['created_after=yesterday', 'created_after'],
    ['tag=has%20space', 'filter.tags'],
    [`q=${'x'.repeat(201)}`, 'filter.search'],
    ['created_after=2026-02-01&created_before=2026-01-01', 'filter.created_after'],
    ['sort=asc', 'sort'],
  ])('refuses %s with a 422 naming %s', async (query, field) => {
    const res = await alice.api.get(`/v1/agents/tasks?${query}`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });
});

describe('GraphQL tasks(filter:)', () => {
  it('filters and counts like REST, and declares the count its cost', async () => {
    const res = await graphql(sys.url, alice.apiKey, `query ($f: TaskFilter) { tasks(filter: $f, first: 1) { totalCount edges { node { id tags metadata } } } }`, {
      f: { status: ['COMPLETED', 'FAILED'], tags: ['security'], search: 'audit' },
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.tasks.totalCount).toBe(1);
    expect(res.body.data.tasks.edges[0].node).toEqual({ id: ids.sqlAudit, tags: ['security', 'db'], metadata: {} });
    const field = (await import('../../schema/index.js')).schema.getType('TaskConnection') as any;
    expect(field.getFields().totalCount.extensions.cost).toBe(1);
  });

  it('a bad filter is a validation error that changes nothing', async () => {
    const res = await graphql(sys.url, alice.apiKey, `{ tasks(filter: { tags: ["ok", "not ok"] }) { totalCount } }`);
    expect(res.body.errors?.[0].extensions.code).toBe('VALIDATION_ERROR');
  });
});

describe('tags and metadata at submission', () => {
  const body = (extra: Record<string, unknown>) => ({ task: 'Check this file', agent_type: 'security_expert', context: { files: [{ path: 'a.js', content: 'eval(x)' }] }, ...extra });

  it('are stored and returned by REST and GraphQL', async () => {
    const res = await alice.api.post('/v1/agents/execute', body({ tags: ['nightly', 'ci:main', 'nightly'], metadata: { pr: 42, branch: 'main', draft: false, note: null } }));
    expect(res.status).toBe(202);
    const got = await alice.api.get(`/v1/agents/tasks/${res.body.task_id}`);
    expect(got.body.tags).toEqual(['nightly', 'ci:main']);
    expect(got.body.metadata).toEqual({ pr: 42, branch: 'main', draft: false, note: null });
    const listed = await restList('tag=ci:main');
    expect(listed.ids).toEqual([res.body.task_id]);
    const gql = await graphql(sys.url, alice.apiKey, `mutation { executeAgentTask(input: { task: "x", agentType: "security_expert", context: { files: [{ path: "a.js", content: "1" }] }, tags: ["gql"], metadata: { source: "graphql" } }) { task { tags metadata } } }`);
    expect(gql.body.data.executeAgentTask.task).toEqual({ tags: ['gql'], metadata: { source: 'graphql' } });
  });

  it.each([
    [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
    [{ tags: ['with space'] }, 'tags.0'],
    [{ tags: ['x'.repeat(41)] }, 'tags.0'],
    [{ metadata: { nested: { a: 1 } } }, 'metadata.nested'],
    [{ metadata: { list: [1] } }, 'metadata.list'],
    [{ metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])) }, 'metadata'],
    [{ metadata: { big: 'x'.repeat(500), big2: 'x'.repeat(500), big3: 'x'.repeat(500), big4: 'x'.repeat(500), big5: 'x'.repeat(500), big6: 'x'.repeat(500), big7: 'x'.repeat(500), big8: 'x'.repeat(500), big9: 'x'.repeat(500) } }, 'metadata'],
    [{ metadata: { 'bad key': 1 } }, 'metadata.bad key'],
  ])('bad labels %# answer 422 naming %s and store nothing', async (extra, field) => {
    const before = await sys.services.db.agentTask.count();
    const res = await alice.api.post('/v1/agents/execute', body(extra));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    expect(await sys.services.db.agentTask.count()).toBe(before);
  });

  it('orchestrations carry them, pass the tags to their agents, and filter by them', async () => {
    const res = await alice.api.post('/v1/agents/orchestrate', {
      goal: 'Harden the payment module',
      agents: ['security_expert', 'code_expert'].slice(0, 1),
      context: { files: [{ path: 'pay.js', content: 'eval(x)' }] },
      tags: ['payments'],
      metadata: { ticket: 'PAY-1' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const list = await alice.api.get('/v1/agents/orchestrations?tag=payments&q=payment&status=in_progress');
    expect(list.status).toBe(200);
    expect(list.body.total_count).toBe(1);
    expect(list.body.data[0]).toMatchObject({ orchestration_id: res.body.orchestration_id, tags: ['payments'], metadata: { ticket: 'PAY-1' } });
    expect((await restList('tag=payments')).total).toBe(1);
    const none = await bob.api.get('/v1/agents/orchestrations?tag=payments');
    expect(none.body.total_count).toBe(0);
    const bad = await alice.api.post('/v1/agents/orchestrate', { goal: 'x', agents: ['security_expert'], context: { files: [] }, tags: ['bad tag'] });
    expect(bad.status).toBe(422);
  });
});
