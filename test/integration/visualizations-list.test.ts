/**
 * The visualization list (GraphQL `visualizations`, REST `GET /v1/visualize`): newest first,
 * cursor pages with totalCount, the status filter, a team's list for its members, tenant
 * isolation (another account's visualizations are never listed or counted; its team is a 404)
 * and bad cursors answering the error envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VisualizationStatus } from '../../src/generated/prisma/enums.js';
import { newId } from '../../src/ids.js';
import { graphql, restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let alice: { userId: string; apiKey: string; api: ReturnType<typeof restClient> };
let bob: { userId: string; apiKey: string; api: ReturnType<typeof restClient> };
let teamId: string;
let bobTeamId: string;
/** Alice's own visualizations, oldest first. */
const own: string[] = [];
let teamViz: string;

async function user(name: string) {
  const u = await sys.createUser(name);
  return { ...u, api: restClient(sys.url, u.apiKey) };
}

/** Stores a visualization row directly (listing needs no analysis). */
async function seed(ownerId: string, status: VisualizationStatus, team: string | null = null) {
  const id = newId('visualization');
  await sys.services.db.visualization.create({
    data: {
      id,
      ownerId,
      teamId: team,
      repositoryUrl: `https://example.com/${id}.git`,
      analysisDepth: 'full',
      options: { includeCommits: true, includeBranches: false, includeContributors: true, maxCommits: 100 },
      status,
      ...(status === 'completed'
        ? { completedAt: new Date(), stats: { total_commits: 3, total_files: 2, total_contributors: 1, lines_of_code: 10, languages: [], languages_method: 'lines', branches: ['main'], head_sha: 'abc', edges_total: { authored: 1, co_changed: 0 } } }
        : {}),
    },
  });
  return id;
}

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  alice = await user('Alice');
  bob = await user('Bob');
  const team = await alice.api.post('/v1/teams', { name: 'Viz team' });
  expect(team.status).toBe(201);
  teamId = team.body.id;
  const bobTeam = await bob.api.post('/v1/teams', { name: 'Bob viz team' });
  expect(bobTeam.status).toBe(201);
  bobTeamId = bobTeam.body.id;
  for (const status of ['completed', 'failed', 'processing', 'completed', 'completed'] as const) own.push(await seed(alice.userId, status));
  teamViz = await seed(alice.userId, 'completed', teamId);
  // Bob's match every filter below: they must never show up for Alice.
  await seed(bob.userId, 'completed');
  await seed(bob.userId, 'processing', bobTeamId);
}, 120_000);

afterAll(() => sys?.close());

describe('GET /v1/visualize', () => {
  it('pages newest first with total_count, and the pages together are every own visualization once', async () => {
    const first = await alice.api.get('/v1/visualize?limit=2');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.total_count).toBe(5);
    expect(first.body.has_more).toBe(true);
    expect(first.body.data.map((v: any) => v.visualization_id)).toEqual([own[4], own[3]]);
    expect(first.body.data[0]).toMatchObject({ status: 'completed', team_id: null, result_url: `/v1/visualize/${own[4]}`, stats: { total_commits: 3, total_files: 2 } });
    const seen = [...first.body.data];
    let cursor = first.body.next_cursor;
    while (cursor) {
      const page = await alice.api.get(`/v1/visualize?limit=2&starting_after=${cursor}`);
      expect(page.status).toBe(200);
      expect(page.body.total_count).toBe(5);
      seen.push(...page.body.data);
      cursor = page.body.next_cursor;
    }
    expect(seen.map((v) => v.visualization_id)).toEqual([...own].reverse());
  });

  it('filters by status (comma list or repeated) and counts the filtered list', async () => {
    const done = await alice.api.get('/v1/visualize?status=completed');
    expect(done.body.total_count).toBe(3);
    expect(done.body.data.every((v: any) => v.status === 'completed')).toBe(true);
    const two = await alice.api.get('/v1/visualize?status=failed&status=processing');
    expect(two.body.total_count).toBe(2);
    expect(two.body.data.map((v: any) => v.visualization_id)).toEqual([own[2], own[1]]);
  });

  it("lists a team's visualizations for its members only; another account's team is a 404", async () => {
    const team = await alice.api.get(`/v1/visualize?team_id=${teamId}`);
    expect(team.status).toBe(200);
    expect(team.body.total_count).toBe(1);
    expect(team.body.data[0]).toMatchObject({ visualization_id: teamViz, team_id: teamId });
    for (const [api, id] of [[bob.api, teamId], [alice.api, bobTeamId]] as const) {
      const res = await api.get(`/v1/visualize?team_id=${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    const bobs = await bob.api.get('/v1/visualize');
    expect(bobs.body.total_count).toBe(1);
    expect(bobs.body.data.map((v: any) => v.visualization_id)).not.toContain(own[0]);
  });

  it.each([
    ['starting_after=not-a-cursor', 'starting_after'],
    ['starting_after=task_0123456789abcdefghijklmn', 'starting_after'],
    ['limit=51', 'limit'],
    ['status=done', 'status.0'],
    ['sort=asc', 'sort'],
  ])('refuses %s with a 422 naming %s', async (query, field) => {
    const res = await alice.api.get(`/v1/visualize?${query}`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  });
});

describe('GraphQL visualizations', () => {
  const query = `query ($f: VisualizationFilter, $first: Int, $after: String) {
    visualizations(filter: $f, first: $first, after: $after) { totalCount edges { cursor node { id status teamId } } pageInfo { hasNextPage endCursor } }
  }`;

  it('pages with after and counts under the filter', async () => {
    const first = await graphql(sys.url, alice.apiKey, query, { f: { status: ['COMPLETED'] }, first: 2 });
    expect(first.body.errors).toBeUndefined();
    const c = first.body.data.visualizations;
    expect(c.totalCount).toBe(3);
    expect(c.edges.map((e: any) => e.node.id)).toEqual([own[4], own[3]]);
    expect(c.pageInfo.hasNextPage).toBe(true);
    const next = await graphql(sys.url, alice.apiKey, query, { f: { status: ['COMPLETED'] }, first: 2, after: c.pageInfo.endCursor });
    expect(next.body.data.visualizations.edges.map((e: any) => e.node.id)).toEqual([own[0]]);
    expect(next.body.data.visualizations.pageInfo.hasNextPage).toBe(false);
  });

  it("a team's list, and another account's team answers RESOURCE_NOT_FOUND", async () => {
    const team = await graphql(sys.url, alice.apiKey, query, { f: { teamId } });
    expect(team.body.data.visualizations).toMatchObject({ totalCount: 1, edges: [{ node: { id: teamViz, teamId } }] });
    const other = await graphql(sys.url, alice.apiKey, query, { f: { teamId: bobTeamId } });
    expect(other.body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect(other.body.data?.visualizations ?? null).toBeNull();
  });

  it('a cursor that is not a visualization id is a validation error naming after', async () => {
    const res = await graphql(sys.url, alice.apiKey, query, { first: 2, after: 'o:3' });
    expect(res.body.errors?.[0]?.extensions.code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(res.body.errors?.[0]?.extensions)).toContain('after');
  });
});
