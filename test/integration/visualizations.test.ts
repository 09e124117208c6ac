/**
 * Repository visualization end to end: repositories built here with known commits, authors,
 * dates, a rename, a branch and a merge are analysed by the real workflow (git, PostgreSQL,
 * Temporal), and the stats, graph, timeline and commit filters are checked exactly. Then bad
 * URLs and paths, comments, share links (expiry, revocation), other tenants, and the viewer in
 * headless Chromium.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { buildRepository, type FixtureCommit } from '../helpers/git-fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { cloneRepository, logCommits } from '../../src/services/visualizations/analyze-repository.js';
import { freePort } from '../../src/embedded/postgres.js';
import type { ParsedCommit } from '../../src/services/visualizations/git-log-parser.js';
import { resolveRepositorySource } from '../../src/services/visualizations/repository-source.js';

const alice = { name: 'Alice', email: 'alice@example.com' };
const bob = { name: 'Bob', email: 'bob@example.com' };
const carol = { name: 'Carol', email: 'Carol@Example.com' };

const history: FixtureCommit[] = [
  { date: '2025-01-06T10:00:00Z', author: alice, message: 'Initial app', write: { 'README.md': '# Demo\nA demo\n', 'src/app.ts': 'a\nb\nc\n', 'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0, 3]) } },
  { date: '2025-01-07T10:00:00Z', author: bob, message: 'Add util', write: { 'src/app.ts': 'a\nB\nc\nd\n', 'src/util.ts': 'export const one = 1;\nexport const two = 2;\nexport const three = 3;\nexport const four = 4;\n' } },
  { date: '2025-01-08T10:00:00Z', author: alice, message: 'Move util to lib', rename: [['src/util.ts', 'lib/util.ts']] },
  { date: '2025-01-13T10:00:00Z', author: bob, message: 'Add extra', branch: 'feature', write: { 'lib/extra.py': 'a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n', 'src/app.ts': 'a\nB\nc\nd\ne\n' } },
  { date: '2025-01-14T10:00:00Z', author: carol, message: 'Update docs', write: { 'README.md': '# Demo\nA demo\nMore\n', 'src/app.ts': 'A\nB\nc\nd\n' } },
  { date: '2025-01-15T10:00:00Z', author: alice, message: 'Merge feature', merge: 'feature' },
];

let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;
let root: string;
let workDir: string;
let repo: string;
let shas: Record<string, string>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'viz-root-'));
  repo = join(root, 'demo');
  shas = buildRepository(repo, history);
  // 30 linear commits for max_commits.
  buildRepository(
    join(root, 'long'),
    Array.from({ length: 30 }, (_, i) => ({ date: new Date(Date.UTC(2024, 0, 1 + i)).toISOString(), author: alice, message: `c${i}`, write: { 'n.txt': `${i}\n` } })),
  );
  workDir = mkdtempSync(join(tmpdir(), 'viz-work-'));
  sys = await startTestSystem({ env: { REPOSITORY_ROOT: root, VISUALIZATION_WORK_DIR: workDir } });
  ({ apiKey: key } = await sys.createUser('Viz owner'));
  api = restClient(sys.url, key);
}, 120_000);
afterAll(async () => {
  await sys?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(workDir, { recursive: true, force: true });
});

async function visualize(body: Record<string, unknown>, client = api) {
  const res = await client.post('/v1/visualize/repository', body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.visualization_id as string;
}

async function finished(id: string, client = api) {
  return waitFor(async () => {
    const v = (await client.get(`/v1/visualize/${id}`)).body;
    return v.status !== 'processing' ? v : undefined;
  }, 90_000, 250);
}

describe('analysis of a known history', () => {
  let id: string;
  let v: any;
  beforeAll(async () => {
    id = await visualize({ repository_url: repo, branch: 'main', analysis_depth: 'full', options: { include_commits: true, include_branches: true, include_contributors: true, max_commits: 50000 } });
    v = await finished(id);
  }, 120_000);

  it('answers 202 with the spec fields', async () => {
    const res = await api.post('/v1/visualize/repository', { repository_url: repo });
    expect(res.body).toEqual({
      visualization_id: expect.stringMatching(/^viz_/),
      status: 'processing',
      estimated_duration_seconds: expect.any(Number),
      result_url: `/v1/visualize/${res.body.visualization_id}`,
      preview_url: `${sys.url}/viz/${res.body.visualization_id}`,
    });
    await finished(res.body.visualization_id);
  });

  it('counts commits, files, contributors, lines and languages exactly', () => {
    expect(v.status).toBe('completed');
    expect(v.repository).toBe(repo);
    expect(v.branch).toBe('main');
    expect(v.stats).toMatchObject({
      total_commits: 6,
      total_files: 5,
      total_contributors: 3,
      lines_of_code: 17,
      languages: { TypeScript: 64.3, Python: 35.7 },
      branches: ['main', 'feature'],
      head_sha: shas['Merge feature'],
      edges_total: { authored: 9, co_changed: 1 },
    });
    expect(Object.keys(v.stats.languages)).toEqual(['TypeScript', 'Python']);
    expect(v.stats.languages_method).toMatch(/lines/);
    expect(v.share_url).toBe(`${sys.url}/viz/${id}`);
    expect(v.embed_code).toBe(`<iframe src="${sys.url}/embed/${id}" width="100%" height="600" style="border:0" title="Repository visualization"></iframe>`);
    expect(v.completed_at).toEqual(expect.any(String));
    expect(readdirSync(workDir).filter((d) => d.startsWith(id))).toEqual([]); // the clone is gone
  });

  it('has files and directories with size and churn (renames followed), and contributors', () => {
    const byId = new Map(v.data.nodes.map((n: any) => [n.id, n]));
    expect([...byId.keys()].sort()).toEqual(
      ['d:', 'd:lib', 'd:src', 'f:README.md', 'f:logo.png', 'f:lib/extra.py', 'f:lib/util.ts', 'f:src/app.ts', 'c:alice@example.com', 'c:bob@example.com', 'c:carol@example.com'].sort(),
    );
    expect(byId.get('f:src/app.ts')).toMatchObject({ type: 'file', parent: 'd:src', language: 'TypeScript', lines: 5, size: 10, churn: 9, commits: 4, first_commit_at: '2025-01-06T10:00:00.000Z', last_commit_at: '2025-01-14T10:00:00.000Z' });
    // Created as src/util.ts, renamed to lib/util.ts: its history comes along.
    expect(byId.get('f:lib/util.ts')).toMatchObject({ parent: 'd:lib', lines: 4, churn: 4, commits: 2, first_commit_at: '2025-01-07T10:00:00.000Z' });
    expect(byId.get('f:logo.png')).toMatchObject({ lines: 0, size: 9, churn: 0, commits: 1 });
    expect(byId.get('d:lib')).toMatchObject({ type: 'directory', parent: 'd:', files: 2, lines: 9, churn: 9, first_commit_at: '2025-01-07T10:00:00.000Z' });
    expect(byId.get('d:')).toMatchObject({ name: 'demo', parent: null, files: 5, lines: 17 });
    expect(byId.get('c:alice@example.com')).toMatchObject({ type: 'contributor', name: 'Alice', commits: 3, insertions: 5, deletions: 0 });
    expect(byId.get('c:carol@example.com')).toMatchObject({ name: 'Carol', commits: 1, insertions: 2, deletions: 1 });
  });

  it('links contributors to files and files that change together', () => {
    const authored = v.data.edges.filter((e: any) => e.type === 'authored');
    expect(authored).toContainEqual({ source: 'c:bob@example.com', target: 'f:lib/util.ts', type: 'authored', commits: 1, churn: 4, first_commit_at: '2025-01-07T10:00:00.000Z' });
    expect(authored).toContainEqual(expect.objectContaining({ source: 'c:alice@example.com', target: 'f:lib/util.ts', commits: 1, churn: 0 }));
    expect(v.data.edges.filter((e: any) => e.type === 'co_changed')).toEqual([
      { source: 'f:README.md', target: 'f:src/app.ts', type: 'co_changed', commits: 2, first_commit_at: '2025-01-06T10:00:00.000Z' },
    ]);
  });

  it('has activity per day', () => {
    expect(v.data.timeline.map((p: any) => [p.period_start.slice(0, 10), p.granularity, p.commits])).toEqual([
      ['2025-01-06', 'day', 1],
      ['2025-01-07', 'day', 1],
      ['2025-01-08', 'day', 1],
      ['2025-01-13', 'day', 1],
      ['2025-01-14', 'day', 1],
      ['2025-01-15', 'day', 1],
    ]);
    expect(v.data.timeline[1]).toMatchObject({ insertions: 6, deletions: 1, files_changed: 2, contributors: 1 });
  });

  it('lists commits newest first with the spec fields, and pages with limit and offset', async () => {
    const res = await api.get(`/v1/visualize/${id}/commits`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ visualization_id: id, total: 6, limit: 1000, offset: 0, has_more: false });
    expect(res.body.commits.map((c: any) => c.message)).toEqual(['Merge feature', 'Update docs', 'Add extra', 'Move util to lib', 'Add util', 'Initial app']);
    expect(res.body.commits[4]).toEqual({
      sha: shas['Add util'],
      author: 'bob@example.com',
      message: 'Add util',
      timestamp: '2025-01-07T10:00:00.000Z',
      files_changed: 2,
      insertions: 6,
      deletions: 1,
      branch: 'main',
      comments: [],
    });
    expect(res.body.commits[0]).toMatchObject({ files_changed: 0, insertions: 0, deletions: 0 }); // a merge
    expect(res.body.commits[3]).toMatchObject({ files_changed: 1, insertions: 0, deletions: 0 }); // a pure rename
    const page = await api.get(`/v1/visualize/${id}/commits?limit=2&offset=2`);
    expect(page.body).toMatchObject({ total: 6, limit: 2, offset: 2, has_more: true });
    expect(page.body.commits.map((c: any) => c.message)).toEqual(['Add extra', 'Move util to lib']);
    const last = await api.get(`/v1/visualize/${id}/commits?limit=2&offset=4`);
    expect(last.body).toMatchObject({ has_more: false });
    expect(last.body.commits).toHaveLength(2);
  });

  it('filters commits by date, author and branch', async () => {
    const messages = async (q: string) => {
      const res = await api.get(`/v1/visualize/${id}/commits?${q}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return { total: res.body.total, messages: res.body.commits.map((c: any) => c.message) };
    };
    expect(await messages('author=bob@example.com')).toEqual({ total: 2, messages: ['Add extra', 'Add util'] });
    expect(await messages('author=CAROL@example.com')).toEqual({ total: 1, messages: ['Update docs'] });
    expect(await messages('from=2025-01-08&to=2025-01-13')).toEqual({ total: 2, messages: ['Add extra', 'Move util to lib'] });
    expect(await messages('from=2025-01-13T10:00:00Z')).toEqual({ total: 3, messages: ['Merge feature', 'Update docs', 'Add extra'] });
    expect(await messages('branch=feature')).toEqual({ total: 4, messages: ['Add extra', 'Move util to lib', 'Add util', 'Initial app'] });
    expect(await messages('branch=main')).toMatchObject({ total: 6 });
    expect(await messages('branch=feature&author=alice@example.com&limit=1')).toEqual({ total: 2, messages: ['Move util to lib'] });
    expect(await messages('author=nobody@example.com')).toEqual({ total: 0, messages: [] });
  });

  it('refuses bad commit queries with the field that is wrong', async () => {
    for (const [q, field] of [
      ['limit=10001', 'limit'],
      ['limit=0', 'limit'],
      ['offset=-1', 'offset'],
      ['from=yesterday', 'from'],
      ['to=2025-13-45', 'to'],
      ['from=2025-02-01&to=2025-01-01', 'from'],
      ['colour=blue', 'colour'],
    ]) {
      const res = await api.get(`/v1/visualize/${id}/commits?${q}`);
      expect(res.status, q).toBe(422);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details.map((d: any) => d.field), q).toContain(field);
    }
  });

  it('streams progress over GraphQL until the end, resumable with since', async () => {
    const query = 'subscription($id: ID!, $since: Int) { visualizationEvents(id: $id, since: $since) { seq type status progress message } }';
    const all = await subscribeGraphql(sys.wsUrl, key, query, { id, since: 0 });
    const events = all.results.map((r) => r.visualizationEvents);
    expect(events[0]).toMatchObject({ seq: 1, type: 'progress', progress: 0 });
    expect(events.at(-1)).toMatchObject({ type: 'visualization', status: 'completed', progress: 100 });
    expect(events.map((e: any) => e.seq)).toEqual(events.map((_: any, i: number) => i + 1));
    const resumed = await subscribeGraphql(sys.wsUrl, key, query, { id, since: events.length - 1 });
    expect(resumed.results.map((r) => r.visualizationEvents.seq)).toEqual([events.length]);
  });

  it('answers GraphQL with stats, nodes, edges, timeline and a commits connection with comments', async () => {
    await api.post(`/v1/visualize/${id}/comment`, { commit_sha: shas['Update docs'], content: 'Docs look good' });
    const res = await graphql(sys.url, key, `query($id: ID!) { visualization(id: $id) {
      id status stats { totalCommits totalFiles languages { name percent } }
      nodes { id } edges { type } timeline { commits }
      commits(first: 2, author: "carol@example.com") { totalCount pageInfo { hasNextPage endCursor } edges { node { sha branch branches comments { content author } } } }
    } }`, { id });
    expect(res.body.errors).toBeUndefined();
    const g = res.body.data.visualization;
    expect(g.stats).toEqual({ totalCommits: 6, totalFiles: 5, languages: [{ name: 'TypeScript', percent: 64.3 }, { name: 'Python', percent: 35.7 }] });
    expect(g.nodes).toHaveLength(11);
    expect(g.timeline).toHaveLength(6);
    expect(g.commits.totalCount).toBe(1);
    expect(g.commits.edges[0].node).toEqual({ sha: shas['Update docs'], branch: 'main', branches: ['main'], comments: [{ content: 'Docs look good', author: expect.any(String) }] });
    const node = await graphql(sys.url, key, 'query($id: ID!) { node(id: $id) { id ... on Visualization { status } } }', { id });
    expect(node.body.data.node).toEqual({ id, status: 'COMPLETED' });
  });

  it('pages the GraphQL commits by offset and reads a date alone in to as the whole day, as REST does', async () => {
    const commits = async (args: string) => {
      const res = await graphql(sys.url, key, `query($id: ID!) { visualization(id: $id) { commits(${args}) { totalCount edges { node { message } } } } }`, { id });
      return { errors: res.body.errors as Array<{ message: string; extensions: { code: string; details?: Array<{ field: string }> } }> | undefined, commits: res.body.data?.visualization?.commits };
    };
    const messages = async (args: string) => {
      const { errors, commits: c } = await commits(args);
      expect(errors, args).toBeUndefined();
      return c.edges.map((e: any) => e.node.message);
    };
    expect(await messages('first: 2, offset: 2')).toEqual(['Add extra', 'Move util to lib']);
    expect(await messages('first: 2, offset: 4')).toEqual(['Add util', 'Initial app']);
    expect(await messages('first: 10, from: "2025-01-08", to: "2025-01-13"')).toEqual(['Add extra', 'Move util to lib']);
    expect(await messages('first: 10, from: "2025-01-08", to: "2025-01-13T00:00:00Z"')).toEqual(['Move util to lib']);
    const both = await commits('first: 2, offset: 1, after: "o:0"');
    expect(both.errors?.[0]?.extensions.details?.map((d) => d.field)).toEqual(['offset']);
    const badDate = await commits('first: 2, to: "2025-13-45"');
    expect(badDate.errors?.[0]?.message).toMatch(/ISO 8601 date or timestamp/);
  });
});

describe('parallel ranges', () => {
  it('hands on the same commits, in the same order, from one git log or from several ranges', async () => {
    const read = async (dir: string, max: number, parallelism: number, minRange?: number) => {
      const out: ParsedCommit[] = [];
      const n = await logCommits(dir, ['refs/heads/main'], max, parallelism, (c) => out.push(c), { minRange });
      expect(n).toBe(out.length);
      return out;
    };
    const one = await read(join(root, 'long'), 25, 1);
    expect(one.map((c) => c.subject)).toEqual(Array.from({ length: 25 }, (_, i) => `c${29 - i}`));
    expect(await read(join(root, 'long'), 25, 3, 5)).toEqual(one);
    expect(await read(join(root, 'long'), 30, 4, 2)).toHaveLength(30);
    const merged = await read(repo, 6, 2, 2);
    expect(merged.map((c) => c.subject)).toEqual(['Merge feature', 'Update docs', 'Add extra', 'Move util to lib', 'Add util', 'Initial app']);
    expect(merged[3].files).toEqual([{ path: 'lib/util.ts', oldPath: 'src/util.ts', insertions: 0, deletions: 0 }]);
  });
});

describe('options', () => {
  it('honours max_commits (newest first) and refuses more than 50,000', async () => {
    const id = await visualize({ repository_url: join(root, 'long'), options: { max_commits: 10 } });
    const v = await finished(id);
    expect(v.stats.total_commits).toBe(10);
    const commits = (await api.get(`/v1/visualize/${id}/commits`)).body;
    expect(commits.total).toBe(10);
    expect(commits.commits.map((c: any) => c.message)).toEqual(Array.from({ length: 10 }, (_, i) => `c${29 - i}`));
    const res = await api.post('/v1/visualize/repository', { repository_url: join(root, 'long'), options: { max_commits: 50_001 } });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ field: 'options.max_commits', message: 'must be a whole number from 1 to 50000' }]);
    expect((await api.post('/v1/visualize/repository', { repository_url: join(root, 'long'), options: { max_commits: 0 } })).status).toBe(422);
  });

  it('analyses one branch without include_branches, skips contributors and commits when asked', async () => {
    const id = await visualize({ repository_url: repo, branch: 'feature', options: { include_contributors: false, include_commits: false } });
    const v = await finished(id);
    expect(v.branch).toBe('feature');
    expect(v.stats).toMatchObject({ total_commits: 4, total_files: 5, branches: ['feature'], head_sha: shas['Add extra'] });
    expect(v.data.nodes.filter((n: any) => n.type === 'contributor')).toEqual([]);
    expect(v.data.edges.filter((e: any) => e.type === 'authored')).toEqual([]);
    expect((await api.get(`/v1/visualize/${id}/commits`)).body).toMatchObject({ total: 0, commits: [] });
  });

  it('starts once per Idempotency-Key (REST) and idempotencyKey (GraphQL)', async () => {
    const body = { repository_url: repo, options: { max_commits: 3 } };
    const a = await api.post('/v1/visualize/repository', body, { 'idempotency-key': 'viz-once' });
    const b = await api.post('/v1/visualize/repository', body, { 'idempotency-key': 'viz-once' });
    expect(b.status).toBe(202);
    expect(b.body.visualization_id).toBe(a.body.visualization_id);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.post('/v1/visualize/repository', { ...body, branch: 'feature' }, { 'idempotency-key': 'viz-once' })).status).toBe(409);
    const mutation = 'mutation($input: StartVisualizationInput!, $key: String) { startVisualization(input: $input, idempotencyKey: $key) { replayed visualization { id status options { maxCommits includeCommits } } } }';
    const input = { repositoryUrl: repo, options: { maxCommits: 4 } };
    const g1 = await graphql(sys.url, key, mutation, { input, key: 'viz-gql' });
    const g2 = await graphql(sys.url, key, mutation, { input, key: 'viz-gql' });
    expect(g1.body.data.startVisualization).toMatchObject({ replayed: false, visualization: { status: 'PROCESSING', options: { maxCommits: 4, includeCommits: true } } });
    expect(g2.body.data.startVisualization).toMatchObject({ replayed: true, visualization: { id: g1.body.data.startVisualization.visualization.id } });
    const done = await finished(g1.body.data.startVisualization.visualization.id);
    expect(done.stats.total_commits).toBe(4);
    await finished(a.body.visualization_id);
  });

  it('stores messages, names and paths with quotes, backslashes, tabs and non-ASCII text unchanged', async () => {
    const subject = `Fix "quotes", 'single', \\ back\\slash, ünïcödé 🚀 {"json": [1]}`;
    const dir = join(root, 'odd');
    const odd = buildRepository(dir, [
      { date: '2025-03-01T00:00:00Z', author: { name: 'Zoë O\'Brien', email: 'Zoe@Example.com' }, message: subject, write: { 'dir with space/naïve file.ts': 'x\n', 'tab\there.txt': 'y\n' } },
    ]);
    const id = await visualize({ repository_url: dir });
    const v = await finished(id);
    expect(v.data.nodes.map((n: any) => n.id)).toEqual(expect.arrayContaining(['f:dir with space/naïve file.ts', 'f:tab\there.txt', 'd:dir with space']));
    const c = (await api.get(`/v1/visualize/${id}/commits`)).body.commits[0];
    expect(c).toMatchObject({ sha: odd[subject], author: 'zoe@example.com', message: subject, files_changed: 2, insertions: 2 });
    const g = await graphql(sys.url, key, 'query($id: ID!) { visualization(id: $id) { commits { edges { node { authorName } } } } }', { id });
    expect(g.body.data.visualization.commits.edges[0].node.authorName).toBe("Zoë O'Brien");
  });

  it('uses the default branch when none is named', async () => {
    const v = await finished(await visualize({ repository_url: repo }));
    expect(v).toMatchObject({ status: 'completed', branch: 'main', stats: { branches: ['main'], total_commits: 6 } });
  });

  it('fails with the reason for an empty repository and for a folder that is not a repository', async () => {
    const empty = join(root, 'empty');
    buildRepository(empty, []);
    expect(await finished(await visualize({ repository_url: empty }))).toMatchObject({ status: 'failed', error: 'The repository has no commits on its default branch "main".' });
    const plain = join(root, 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'notes.txt'), 'not git\n');
    expect(await finished(await visualize({ repository_url: plain }))).toMatchObject({
      status: 'failed',
      error: 'The repository could not be read: it does not exist, or this server has no access to it.',
    });
  });

  it('fails with the reason when the branch does not exist', async () => {
    const v = await finished(await visualize({ repository_url: repo, branch: 'no-such-branch' }));
    expect(v).toMatchObject({ status: 'failed', error: 'The repository has no branch "no-such-branch".', stats: null });
  });
});

describe('repository URLs and paths that are refused', () => {
  it('refuses options, transport helpers, paths outside the root, .. and private hosts, and creates nothing', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'viz-outside-'));
    buildRepository(outside, history.slice(0, 1));
    symlinkSync(outside, join(root, 'escape'));
    const before = await sys.services.db.visualization.count();
    const cases: Array<[string, RegExp]> = [
      ['--upload-pack=touch /tmp/pwned', /spaces|"-"/],
      ['--upload-pack=/bin/sh', /must not start with "-"/],
      ['ext::sh -c touch% /tmp/pwned', /spaces|transport helper/],
      ['ext::/bin/false', /transport helper/],
      ['fd::3', /transport helper/],
      [`file://${outside}`, /not a repository under the server's repository root/],
      ['file:///etc', /not a repository under the server's repository root/],
      [outside, /not a repository under the server's repository root/],
      [join(root, 'escape'), /not a repository under the server's repository root/],
      [`${root}/demo/../../etc`, /"\.\." path segments/],
      [`file://${root}/demo/%2e%2e/%2e%2e/etc`, /"\.\." path segments/],
      ['demo', /must be an https:\/\//],
      ['https://127.0.0.1/repo.git', /resolves to public addresses only/],
      ['https://localhost/repo.git', /resolves to public addresses only/],
      ['https://[::1]/repo.git', /resolves to public addresses only/],
      ['https://169.254.169.254/latest/meta-data', /resolves to public addresses only/],
      ['https://10.1.2.3/repo.git', /resolves to public addresses only/],
      ['https://[::ffff:192.168.0.1]/repo.git', /resolves to public addresses only/],
      ['https://user:secret@example.com/repo.git', /credentials/],
      ['http://example.com/repo.git', /without encryption/],
      ['git://example.com/repo.git', /without encryption/],
      ['ssh://git@example.com/repo.git', /no ssh key configured/],
      ['git@example.com:user/repo.git', /no ssh key configured/],
    ];
    for (const [url, message] of cases) {
      const res = await api.post('/v1/visualize/repository', { repository_url: url });
      expect(res.status, url).toBe(422);
      expect(res.body.error.code).toBe('validation_error');
      expect(res.body.error.details[0].field).toBe('repository_url');
      expect(res.body.error.details[0].message, url).toMatch(message);
      expect(res.body.error.message).not.toContain(root); // the server's paths are not disclosed
    }
    for (const branch of ['--output=/tmp/x', 'a..b', 'main~1', 'HEAD@{1}', 'a b']) {
      const res = await api.post('/v1/visualize/repository', { repository_url: repo, branch });
      expect(res.status, branch).toBe(422);
      expect(res.body.error.details[0].field).toBe('branch');
    }
    for (const body of [{}, { repository_url: repo, analysis_depth: 'deep' }, { repository_url: repo, options: { include_commits: 'yes' } }, { repository_url: repo, extra: 1 }]) {
      const res = await api.post('/v1/visualize/repository', body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    expect(await sys.services.db.visualization.count()).toBe(before);
    rmSync(outside, { recursive: true, force: true });
  });

  it('makes git connect to the checked addresses, not to what DNS answers at clone time', async () => {
    const port = await freePort(); // nothing listens there
    const source = { kind: 'https' as const, url: `https://repo.example.invalid:${port}/x.git`, pin: { host: 'repo.example.invalid', port, addresses: ['127.0.0.1'] } };
    const dir = join(tmpdir(), `viz-pin-${port}`);
    const err = await cloneRepository(source, dir, { branch: null, includeBranches: false }, { ...sys.config, VISUALIZATION_CLONE_TIMEOUT_SECONDS: 20 }).catch((e) => e);
    // Without the pin git would fail to resolve the name; with it, it tried 127.0.0.1.
    expect(String(err.stderr)).toMatch(/Failed to connect to repo\.example\.invalid port/);
    expect(String(err.stderr)).not.toMatch(/resolve/i);
  });

  it('refuses every local path when the operator set no REPOSITORY_ROOT, and allows private hosts only when told', async () => {
    await expect(resolveRepositorySource(repo, { REPOSITORY_ROOT: undefined, REPOSITORY_ALLOW_PRIVATE_HOSTS: false, REPOSITORY_SSH_KEY_PATH: undefined })).rejects.toMatchObject({
      fieldErrors: [{ field: 'repository_url', message: expect.stringMatching(/does not allow local repositories/) }],
    });
    await expect(resolveRepositorySource('https://127.0.0.1/r.git', { REPOSITORY_ROOT: undefined, REPOSITORY_ALLOW_PRIVATE_HOSTS: true, REPOSITORY_SSH_KEY_PATH: undefined })).resolves.toEqual({ kind: 'https', url: 'https://127.0.0.1/r.git' });
  });
});

describe('comments', () => {
  let id: string;
  beforeAll(async () => {
    id = await visualize({ repository_url: repo });
    await finished(id);
  }, 120_000);

  it('adds a comment to a commit (full sha or a prefix) in the spec shape', async () => {
    const res = await api.post(`/v1/visualize/${id}/comment`, { commit_sha: shas['Add util'], content: 'This commit introduces a security issue', author: 'reviewer@example.com' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      comment_id: expect.stringMatching(/^cmt_/),
      visualization_id: id,
      commit_sha: shas['Add util'],
      content: 'This commit introduces a security issue',
      author: 'reviewer@example.com',
      created_at: expect.any(String),
    });
    const short = await api.post(`/v1/visualize/${id}/comment`, { commit_sha: shas['Add util'].slice(0, 10), content: 'Second look' });
    expect(short.status).toBe(201);
    expect(short.body.commit_sha).toBe(shas['Add util']);
    const listed = (await api.get(`/v1/visualize/${id}/commits?author=bob@example.com`)).body.commits.find((c: any) => c.sha === shas['Add util']);
    expect(listed.comments.map((c: any) => c.content)).toEqual(['This commit introduces a security issue', 'Second look']);
  });

  it('refuses unknown commits (404) and bad comments (422), storing nothing', async () => {
    const before = await sys.services.db.visualizationComment.count({ where: { visualizationId: id } });
    const unknown = await api.post(`/v1/visualize/${id}/comment`, { commit_sha: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef', content: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'resource_not_found', message: expect.stringContaining('has no commit') });
    for (const body of [{ commit_sha: shas['Add util'], content: '   ' }, { commit_sha: 'not-a-sha', content: 'x' }, { content: 'x' }, { commit_sha: shas['Add util'], content: 'x', extra: true }]) {
      const res = await api.post(`/v1/visualize/${id}/comment`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
    expect(await sys.services.db.visualizationComment.count({ where: { visualizationId: id } })).toBe(before);
  });

  it('replays a comment sent twice with the same Idempotency-Key', async () => {
    const body = { commit_sha: shas['Initial app'], content: 'Once' };
    const a = await api.post(`/v1/visualize/${id}/comment`, body, { 'idempotency-key': 'cmt-once' });
    const b = await api.post(`/v1/visualize/${id}/comment`, body, { 'idempotency-key': 'cmt-once' });
    expect(b.body.comment_id).toBe(a.body.comment_id);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.post(`/v1/visualize/${id}/comment`, { ...body, content: 'Other' }, { 'idempotency-key': 'cmt-once' })).status).toBe(409);
  });
});

describe('share links', () => {
  let id: string;
  beforeAll(async () => {
    id = await visualize({ repository_url: repo });
    await finished(id);
  }, 120_000);

  it('serves the visualization read-only without a credential until revoked', async () => {
    const res = await api.post(`/v1/visualize/${id}/share`, { permissions: 'read', expires_in_days: 7 });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ share_id: expect.stringMatching(/^shr_/), url: `${sys.url}/share/${res.body.share_id}`, expires_at: expect.any(String), permissions: 'read', embed_code: expect.stringContaining(`/embed/${res.body.share_id}`) });
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
    const anonymous = restClient(sys.url);
    const shared = await anonymous.get(`/v1/shared/${res.body.share_id}`);
    expect(shared.status).toBe(200);
    const owner = (await api.get(`/v1/visualize/${id}`)).body;
    expect(shared.body.data).toEqual(owner.data);
    expect(shared.body.stats).toEqual(owner.stats);
    expect(shared.body.share).toMatchObject({ share_id: res.body.share_id, permissions: 'read' });
    // The owner sees the path as given; a share link shows the repository's name, never the server's path.
    expect(owner.repository).toBe(repo);
    expect(shared.body.repository).toBe('demo');
    expect(JSON.stringify(shared.body)).not.toContain(root);
    const visitor = await graphql(sys.url, null, 'query($s: ID!) { sharedVisualization(shareId: $s) { visualization { repository } } }', { s: res.body.share_id });
    expect(visitor.body.data.sharedVisualization.visualization.repository).toBe('demo');
    // Read-only: the link is no credential for anything else.
    expect((await anonymous.get(`/v1/visualize/${id}`)).status).toBe(401);
    expect((await anonymous.post(`/v1/visualize/${id}/comment`, { commit_sha: shas['Add util'], content: 'x' })).status).toBe(401);

    const revoked = await graphql(sys.url, key, 'mutation($id: ID!) { revokeShare(id: $id) { id revokedAt } }', { id: res.body.share_id });
    expect(revoked.body.data.revokeShare).toEqual({ id: res.body.share_id, revokedAt: expect.any(String) });
    const after = await anonymous.get(`/v1/shared/${res.body.share_id}`);
    expect(after.status).toBe(410);
    expect(after.body.error).toMatchObject({ code: 'share_revoked', message: expect.stringContaining('revoked') });
  });

  it('stops working when it expires', async () => {
    const res = await api.post(`/v1/visualize/${id}/share`, { expires_in_days: 1 });
    expect(res.body.permissions).toBe('read');
    expect((await restClient(sys.url).get(`/v1/shared/${res.body.share_id}`)).status).toBe(200);
    // A day passes.
    await sys.services.db.visualizationShare.update({ where: { id: res.body.share_id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const after = await restClient(sys.url).get(`/v1/shared/${res.body.share_id}`);
    expect(after.status).toBe(410);
    expect(after.body.error.code).toBe('share_expired');
    expect((await restClient(sys.url).get('/v1/shared/shr_01935f2e-0000-7000-8000-000000000000')).status).toBe(404);
  });

  it('writes links from PUBLIC_URL even when the request names another Host', async () => {
    const headers = { host: 'attacker.example', 'x-forwarded-host': 'attacker.example', 'x-forwarded-proto': 'https', authorization: `Bearer ${key}` };
    const created = await sys.server.app.inject({ method: 'POST', url: `/v1/visualize/${id}/share`, headers, payload: { expires_in_days: 1 } });
    expect(created.statusCode).toBe(201);
    expect(created.json().url).toBe(`${sys.config.publicUrl}/share/${created.json().share_id}`);
    expect(created.json().embed_code).toContain(`src="${sys.config.publicUrl}/embed/${created.json().share_id}"`);
    const read = await sys.server.app.inject({ method: 'GET', url: `/v1/visualize/${id}`, headers });
    expect(read.json()).toMatchObject({ share_url: `${sys.config.publicUrl}/viz/${id}`, preview_url: `${sys.config.publicUrl}/viz/${id}` });
    expect(read.body).not.toContain('attacker.example');
  });

  it('lists its shares to whoever may see it, and revokes one over REST', async () => {
    const share = (await api.post(`/v1/visualize/${id}/share`, { expires_in_days: 3 })).body;
    const listed = await graphql(sys.url, key, 'query($id: ID!) { visualization(id: $id) { shares { id revokedAt } } }', { id });
    expect(listed.body.data.visualization.shares).toContainEqual({ id: share.share_id, revokedAt: null });
    // A visitor of a share link does not see the other links.
    const visitor = await graphql(sys.url, null, 'query($s: ID!) { sharedVisualization(shareId: $s) { visualization { shares { id } } } }', { s: share.share_id });
    expect(visitor.body.data.sharedVisualization.visualization.shares).toEqual([]);
    const other = await api.post('/v1/visualize/repository', { repository_url: repo, options: { max_commits: 1 } });
    expect((await api.delete(`/v1/visualize/${other.body.visualization_id}/share/${share.share_id}`)).status).toBe(404); // not a share of that one
    const res = await api.delete(`/v1/visualize/${id}/share/${share.share_id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ share_id: share.share_id, permissions: 'read', revoked_at: expect.any(String) });
    expect((await restClient(sys.url).get(`/v1/shared/${share.share_id}`)).status).toBe(410);
    await finished(other.body.visualization_id);
  });

  it('gives an embed_code that names the longest-lived live share link, or the visualization while it has none', async () => {
    const fresh = await visualize({ repository_url: repo, options: { max_commits: 2 } });
    await finished(fresh);
    const embedOf = async () => (await api.get(`/v1/visualize/${fresh}`)).body.embed_code as string;
    expect(await embedOf()).toContain(`src="${sys.config.publicUrl}/embed/${fresh}"`);
    const short = (await api.post(`/v1/visualize/${fresh}/share`, { expires_in_days: 2 })).body;
    expect(await embedOf()).toContain(`src="${sys.config.publicUrl}/embed/${short.share_id}"`);
    const long = (await api.post(`/v1/visualize/${fresh}/share`, { expires_in_days: 30 })).body;
    await api.post(`/v1/visualize/${fresh}/share`, { expires_in_days: 3 });
    expect(await embedOf()).toContain(`/embed/${long.share_id}"`);
    const gql = await graphql(sys.url, key, 'query($id: ID!) { visualization(id: $id) { embedCode } }', { id: fresh });
    expect(gql.body.data.visualization.embedCode).toContain(`/embed/${long.share_id}"`);
    // A revoked or expired link is never embedded.
    await api.delete(`/v1/visualize/${fresh}/share/${long.share_id}`);
    await sys.services.db.visualizationShare.updateMany({ where: { visualizationId: fresh, id: { not: short.share_id } }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await embedOf()).toContain(`/embed/${short.share_id}"`);
    // A share link's visitor gets the link they came by, and learns no other.
    const visitor = (await restClient(sys.url).get(`/v1/shared/${short.share_id}`)).body;
    expect(visitor.embed_code).toContain(`/embed/${short.share_id}"`);
    await api.delete(`/v1/visualize/${fresh}/share/${short.share_id}`);
    expect(await embedOf()).toContain(`/embed/${fresh}"`);
  });

  it('refuses bad share requests', async () => {
    for (const body of [{ permissions: 'write' }, { expires_in_days: 0 }, { expires_in_days: 366 }, { expires_in_days: 1.5 }, { ttl: 3 }]) {
      const res = await api.post(`/v1/visualize/${id}/share`, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
    }
  });
});

describe('another tenant', () => {
  it('sees 404 for every visualization route and cannot revoke its shares', async () => {
    const id = await visualize({ repository_url: repo });
    await finished(id);
    const share = (await api.post(`/v1/visualize/${id}/share`, {})).body;
    const { apiKey } = await sys.createUser('Stranger');
    const other = restClient(sys.url, apiKey);
    expect((await other.get(`/v1/visualize/${id}`)).status).toBe(404);
    expect((await other.get(`/v1/visualize/${id}/commits`)).status).toBe(404);
    expect((await other.post(`/v1/visualize/${id}/comment`, { commit_sha: shas['Add util'], content: 'x' })).status).toBe(404);
    expect((await other.post(`/v1/visualize/${id}/share`, {})).status).toBe(404);
    const revoke = await graphql(sys.url, apiKey, 'mutation($id: ID!) { revokeShare(id: $id) { id } }', { id: share.share_id });
    expect(revoke.body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect((await other.delete(`/v1/visualize/${id}/share/${share.share_id}`)).status).toBe(404);
    const gql = await graphql(sys.url, apiKey, 'query($id: ID!) { visualization(id: $id) { id } }', { id });
    expect(gql.body.errors?.[0]?.extensions.code).toBe('RESOURCE_NOT_FOUND');
    const events = await subscribeGraphql(sys.wsUrl, apiKey, 'subscription($id: ID!) { visualizationEvents(id: $id) { seq } }', { id });
    expect(events.results).toEqual([]);
    expect(events.errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    for (const bad of ['viz_nope', 'task_01935f2e-0000-7000-8000-000000000000', 'viz_01935f2e-0000-7000-8000-000000000000']) {
      const res = await api.get(`/v1/visualize/${bad}`);
      expect(res.status, bad).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    expect((await restClient(sys.url).get(`/v1/shared/${share.share_id}`)).status).toBe(200); // still working
  });
});

describe('the viewer in headless Chromium', () => {
  const SHOTS = new URL('../../.test-results/screenshots/', import.meta.url).pathname;
  let browser: Browser;
  let partner: Server;
  let partnerOrigin = '';
  const partnerPages = new Map<string, string>();
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    // Another site (another host and port, so another origin) that embeds the viewer.
    partner = createHttpServer((req, res) => {
      const page = partnerPages.get(req.url ?? '');
      if (!page) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html lang="en"><head><title>Partner</title><link rel="icon" href="data:,"></head><body><h1>A partner's page</h1>${page}</body></html>`);
    });
    await new Promise<void>((r) => partner.listen(0, '127.0.0.2', r));
    partnerOrigin = `http://127.0.0.2:${(partner.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => partner?.close(r));
  });

  /** A page that records console errors, uncaught errors and failed requests (`allowed`: console lines that are expected). */
  async function watchedPage(allowed: RegExp[] = []) {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && !allowed.some((a) => a.test(m.text())) && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    return {
      page,
      /** Saves a screenshot (a CI artifact), closes the page and checks that nothing went wrong. */
      finish: async (name: string) => {
        await page.screenshot({ path: join(SHOTS, `viewer-${name}.png`) });
        await page.close();
        expect(problems).toEqual([]);
      },
    };
  }

  async function open(url: string) {
    const watched = await watchedPage();
    await watched.page.goto(url);
    await watched.page.waitForFunction(() => (globalThis as any).vizViewer?.ready === true, null, { timeout: 30_000 });
    return watched;
  }

  const paintedPixels = (page: Page | Frame) =>
    page.evaluate(() => {
      // Runs in the page (the test's tsconfig has no DOM types).
      let n = 0;
      for (const canvas of (globalThis as any).document.querySelectorAll('#cy canvas')) {
        const data: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
      }
      return n;
    });

  it('draws the graph with the API\'s nodes through a share link, and the slider replays the history', async () => {
    const id = await visualize({ repository_url: repo });
    const v = await finished(id);
    const share = (await api.post(`/v1/visualize/${id}/share`, {})).body;
    const { page, finish } = await open(share.url);
    expect(await page.evaluate(() => (globalThis as any).vizViewer.nodeCount)).toBe(v.data.nodes.length);
    expect(await paintedPixels(page)).toBeGreaterThan(500);
    const now = await page.locator('#cy').screenshot();
    await page.locator('#time').fill('0');
    const shown = await page.evaluate(() => (globalThis as any).vizViewer.visibleNodes);
    // At the first commit: the root, src, the three files of "Initial app" and Alice.
    expect(shown).toBe(6);
    expect(await page.locator('#when').textContent()).toContain('2025-01-06');
    const then = await page.locator('#cy').screenshot();
    expect(Buffer.compare(now, then)).not.toBe(0);
    await page.locator('#time').fill('1000');
    expect(await page.evaluate(() => (globalThis as any).vizViewer.visibleNodes)).toBe(v.data.nodes.length);
    // Tapping a file shows its details.
    const box = await page.evaluate(() => {
      const cy = (globalThis as any).vizViewer.cy;
      const p = cy.getElementById('f:src/app.ts').renderedPosition();
      return { x: p.x, y: p.y };
    });
    const cyBox = (await page.locator('#cy').boundingBox())!;
    await page.mouse.click(cyBox.x + box.x, cyBox.y + box.y);
    expect(await page.locator('#info').textContent()).toContain('churn 9 in 4 commits');
    await finish('share');
  }, 120_000);

  it('labels the largest nodes at the default zoom, draws each folder as a box around its contents, and has a legend entry for every colour', async () => {
    const id = await visualize({ repository_url: repo, options: { include_contributors: true } });
    const v = await finished(id);
    const share = (await api.post(`/v1/visualize/${id}/share`, {})).body;
    const { page, finish } = await open(share.url);
    // The largest files (by churn) and the contributor with the most commits, from the API's data.
    const nodes: any[] = v.data.nodes;
    const largest = [
      ...nodes.filter((n) => n.type === 'file').sort((a, b) => b.churn - a.churn).slice(0, 3),
      ...nodes.filter((n) => n.type === 'contributor').sort((a, b) => b.commits - a.commits).slice(0, 1),
    ];
    expect(largest.map((n) => n.id)).toContain('f:src/app.ts');
    const labels = await page.evaluate((ids: string[]) => {
      const cy = (globalThis as any).vizViewer.cy;
      const { w, h } = { w: cy.width(), h: cy.height() };
      return ids.map((nodeId) => {
        const n = cy.getElementById(nodeId);
        const box = n.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true });
        return {
          id: nodeId,
          label: n.pstyle('label').strValue,
          visible: n.visible(),
          // Cytoscape draws no label smaller on screen than min-zoomed-font-size.
          screenPx: n.pstyle('font-size').pfValue * cy.zoom(),
          minPx: n.pstyle('min-zoomed-font-size').pfValue,
          inside: box.w > 0 && box.x1 >= 0 && box.y1 >= 0 && box.x2 <= w && box.y2 <= h,
        };
      });
    }, largest.map((n) => n.id));
    for (const [i, l] of labels.entries()) {
      expect(l, l.id).toMatchObject({ label: largest[i].name, visible: true, inside: true });
      expect(l.screenPx, l.id).toBeGreaterThanOrEqual(Math.max(11, l.minPx));
    }
    // Each folder is a box around its files and subdirectories; contributors stand outside the tree.
    const boxes = await page.evaluate(() => {
      const cy = (globalThis as any).vizViewer.cy;
      return Object.fromEntries(cy.nodes().map((n: any) => [n.id(), n.boundingBox({ includeLabels: false, includeOverlays: false })]));
    });
    const within = (c: any, p: any) => c.x1 >= p.x1 && c.x2 <= p.x2 && c.y1 >= p.y1 && c.y2 <= p.y2;
    const root = nodes.find((n) => n.type === 'directory' && !n.parent);
    for (const n of nodes) {
      if (n.type === 'contributor') expect(within(boxes[n.id], boxes[root.id]), n.id).toBe(false);
      else if (n.parent) expect(within(boxes[n.id], boxes[n.parent]), `${n.id} in ${n.parent}`).toBe(true);
    }
    expect(within(boxes['f:src/app.ts'], boxes['d:lib'])).toBe(false);

    // Every colour drawn (nodes and links) has its legend entry, and the legend has no others.
    const colours = await page.evaluate(() => {
      const g = globalThis as any;
      const norm = (c: string) => c.replace(/\s+/g, '');
      const cy = g.vizViewer.cy;
      const swatches = (list: string) => [...g.document.querySelectorAll(`${list} .swatch`)].map((s: any) => norm(g.getComputedStyle(s).backgroundColor));
      return {
        nodes: [...new Set<string>(cy.nodes().map((n: any) => norm(n.style('background-color'))))],
        edges: [...new Set<string>(cy.edges().map((e: any) => norm(e.style('line-color'))))],
        edgeTypes: [...new Set<string>(cy.edges().map((e: any) => e.classes().find((c: string) => c === 'authored' || c === 'co_changed')))],
        nodeLegend: swatches('#legend-nodes'),
        edgeLegend: swatches('#legend-edges'),
        legendVisible: g.document.querySelector('#legend').checkVisibility(),
      };
    });
    expect(colours.legendVisible).toBe(true);
    expect(colours.nodes.length).toBeGreaterThanOrEqual(4); // directory, contributor, two languages at least
    expect([...colours.nodeLegend].sort()).toEqual([...colours.nodes].sort());
    expect(colours.edgeTypes.sort()).toEqual(['authored', 'co_changed']);
    expect(colours.edgeLegend).toHaveLength(2);
    for (const c of colours.edges) expect(colours.edgeLegend).toContain(c);
    expect(await page.locator('#legend-nodes').textContent()).toContain('TypeScript');
    // The legend's switch shows a kind of link: contributors' links are off until asked for.
    const authoredShown = () => page.evaluate(() => (globalThis as any).vizViewer.cy.edges('.authored').filter((e: any) => e.visible()).length);
    expect(await authoredShown()).toBe(0);
    await page.getByLabel('authored (contributor → file)').check();
    // Polled: under a loaded CI the count read at once after the click was once still 0 (it passed
    // in every run alone); Cytoscape may restyle the edges on a later frame.
    await expect.poll(authoredShown).toBe(v.data.edges.filter((e: any) => e.type === 'authored').length);
    await finish('labels-and-legend');
  }, 120_000);

  it('shows an error state, without the graph, legend or history slider, for an unknown, expired, revoked or failed visualization', async () => {
    const id = await visualize({ repository_url: repo });
    await finished(id);
    const expired = (await api.post(`/v1/visualize/${id}/share`, { expires_in_days: 1 })).body;
    await sys.services.db.visualizationShare.update({ where: { id: expired.share_id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const revoked = (await api.post(`/v1/visualize/${id}/share`, {})).body;
    await graphql(sys.url, key, 'mutation($id: ID!) { revokeShare(id: $id) { id } }', { id: revoked.share_id });
    const failedId = await visualize({ repository_url: repo, branch: 'no-such-branch' });
    expect((await finished(failedId)).status).toBe('failed');
    const cases = [
      { name: 'unknown', url: `${sys.url}/share/shr_01935f2e-0000-7000-8000-000000000000`, title: 'Visualization not found', status: 404 },
      { name: 'expired', url: expired.url, title: 'This share link no longer works', text: 'expired', status: 410 },
      { name: 'revoked', url: revoked.url, title: 'This share link no longer works', text: 'revoked', status: 410 },
      { name: 'failed', url: `${sys.url}/viz/${failedId}#key=${key}`, title: 'The analysis failed', text: 'no-such-branch', status: 200 },
    ];
    for (const c of cases) {
      // The data request's 404 or 410 is the answer the page shows; nothing else may go wrong.
      const { page, finish } = await watchedPage([new RegExp(`Failed to load resource: the server responded with a status of ${c.status}`)]);
      await page.goto(c.url);
      await page.waitForFunction(() => (globalThis as any).vizViewer?.error, null, { timeout: 30_000 });
      expect(await page.getByRole('alert').locator('h2').textContent(), c.name).toBe(c.title);
      if (c.text) expect(await page.locator('#error-text').textContent(), c.name).toContain(c.text);
      for (const hidden of ['#time', '#play', '#controls', '#legend', '#cy', '#key-form']) expect(await page.locator(hidden).isVisible(), `${c.name} ${hidden}`).toBe(false);
      await finish(`error-${c.name}`);
    }
  }, 120_000);

  it('serves /viz/{id} with a key from the address fragment and /embed/{share_id}; the page itself holds no data', async () => {
    const id = await visualize({ repository_url: repo });
    const v = await finished(id);
    const viz = await open(`${sys.url}/viz/${id}#key=${key}`);
    expect(await viz.page.evaluate(() => (globalThis as any).vizViewer.nodeCount)).toBe(v.data.nodes.length);
    expect(viz.page.url()).not.toContain(key); // taken out of the address bar
    await viz.finish('keyed');
    const share = (await api.post(`/v1/visualize/${id}/share`, {})).body;
    const embed = await open(`${sys.url}/embed/${share.share_id}`);
    expect(await paintedPixels(embed.page)).toBeGreaterThan(500);
    await embed.finish('embed');
    const html = await fetch(`${sys.url}/viz/${id}`);
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Only a share link's embed may be framed by other sites; the keyed viewer never is.
    expect(html.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    expect((await fetch(`${sys.url}/embed/${share.share_id}`)).headers.get('content-security-policy')).toContain('frame-ancestors *');
    expect((await fetch(`${sys.url}/embed/${id}`)).headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    expect((await fetch(`${sys.url}/share/${share.share_id}`)).headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    const asset = await fetch(`${sys.url}/viz-assets/cytoscape.min.js`);
    expect(asset.status).toBe(200);
    expect((await fetch(`${sys.url}/viz-assets/nope.js`)).status).toBe(404);
  }, 120_000);

  it('embeds on another site with the embed_code of GET /v1/visualize/{id}; the keyed viewer is refused there', async () => {
    const id = await visualize({ repository_url: repo });
    const v = await finished(id);
    await api.post(`/v1/visualize/${id}/share`, { expires_in_days: 7 });
    const embedCode: string = (await api.get(`/v1/visualize/${id}`)).body.embed_code;
    expect(embedCode).toMatch(/\/embed\/shr_/);
    partnerPages.set('/embedded', embedCode);
    const embedded = await watchedPage();
    await embedded.page.goto(`${partnerOrigin}/embedded`);
    const frame = await waitFor(async () => embedded.page.frames().find((f) => f.url().startsWith(`${sys.url}/embed/shr_`)), 10_000, 100);
    await frame.waitForFunction(() => (globalThis as any).vizViewer?.ready === true, null, { timeout: 30_000 });
    expect(await frame.evaluate(() => (globalThis as any).vizViewer.nodeCount)).toBe(v.data.nodes.length);
    expect(await paintedPixels(frame)).toBeGreaterThan(500);
    expect(new URL(embedded.page.url()).origin).not.toBe(new URL(sys.url).origin);
    await embedded.finish('embed-third-party');

    // The viewer without a share link (it asks for a key) is framed by the gateway's own pages only.
    for (const path of [`/viz/${id}`, `/embed/${id}`]) {
      partnerPages.set('/keyed', `<iframe src="${sys.url}${path}" width="600" height="400"></iframe>`);
      const refused = await browser.newPage();
      const blocked = refused.waitForEvent('console', { predicate: (m) => m.type() === 'error' && m.text().includes('frame-ancestors'), timeout: 15_000 });
      await refused.goto(`${partnerOrigin}/keyed`);
      expect((await blocked).text(), path).toMatch(new RegExp(`Framing '${sys.url}/?' violates .*frame-ancestors 'self'`));
      for (const f of refused.frames().filter((f) => f !== refused.mainFrame())) {
        expect(await f.evaluate(() => typeof (globalThis as any).vizViewer).catch(() => 'not reachable'), path).not.toBe('object');
      }
      await refused.close();
    }
  }, 120_000);
});
