/**
 * Projects and their semantic index on the real stack (PostgreSQL, Temporal, in-process worker):
 * CRUD over REST and GraphQL, pagination, tenant isolation, every bad input (refused with its
 * code and nothing written), indexing a snapshot and a git repository, incremental re-indexing by
 * content hash, full-text search by identifier parts, index events, and deletion cancelling a run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoutes } from '../../src/rest/v1/projects.js';
import { relevantFiles } from '../../src/services/projects/search.js';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { joinTeam } from '../helpers/fixtures.js';

let sys: TestSystem;
let key: string;
let userId: string;
let api: ReturnType<typeof restClient>;
let repoRoot: string;

const SNAPSHOT_MAX = 1_000_000;
const FILE_MAX = 200_000;

beforeAll(async () => {
  repoRoot = mkdtempSync(join(tmpdir(), 'codex-repos-'));
  sys = await startTestSystem({
    env: { PROJECT_SNAPSHOT_MAX_BYTES: String(SNAPSHOT_MAX), PROJECT_FILE_MAX_BYTES: String(FILE_MAX), REPOSITORY_ROOT: repoRoot },
  });
  ({ apiKey: key, userId } = await sys.createUser('Indexer'));
  api = restClient(sys.url, key);
});
afterAll(async () => {
  await sys?.close();
  rmSync(repoRoot, { recursive: true, force: true });
});

const patch = (path: string, body: unknown, client = api) => client.request('PATCH', path, body);

const userTs = {
  path: 'src/users/parse.ts',
  content: [
    "import { z } from 'zod';",
    '',
    'export interface UserRecord { id: string; email: string }',
    '',
    '/** Parses a user from JSON. */',
    'export function parseUser(raw: string): UserRecord {',
    '  return JSON.parse(raw) as UserRecord;',
    '}',
    '',
    'export class UserRepository {',
    '  findByEmail(email: string) { return null; }',
    '  private cacheKey(id: string) { return id; }',
    '}',
    '',
    'const helper = (x: number) => x * 2;',
    'export { helper };',
  ].join('\n'),
};
const billingPy = {
  path: 'billing/invoices.py',
  content: [
    'import json',
    '',
    'def load_config(path, *, strict=False):',
    '    with open(path) as f:',
    '        return json.load(f)',
    '',
    'class InvoiceService(object):',
    '    async def send_invoice(self, invoice_id):',
    '        return invoice_id',
    '',
    'def _private_helper():',
    '    pass',
  ].join('\n'),
};
const serverGo = { path: 'cmd/server/main.go', content: 'package main\n\nfunc StartHttpServer(port int) error {\n\treturn nil\n}\n' };
const readme = { path: 'README.md', content: '# Shop\n\nThe shop parses users and sends invoices.\n' };

async function indexed(id: string, client = api) {
  return waitFor(async () => {
    const p = (await client.get(`/v1/projects/${id}`)).body;
    return p.index.status !== 'indexing' ? p : undefined;
  }, 60_000, 100);
}

describe('CRUD', () => {
  it('creates, reads, changes, lists and deletes a project over REST', async () => {
    const created = await api.post('/v1/projects', {
      name: '  Shop backend ',
      description: 'Orders and invoices',
      languages: ['TypeScript', 'python'],
      style: { indent: 2, quotes: 'single', semicolons: true },
      ignored_paths: ['dist/**', '**/*.min.js'],
      default_agents: ['code_expert', 'security_expert'],
    });
    expect(created.status).toBe(201);
    const p = created.body;
    expect(p).toMatchObject({
      id: expect.stringMatching(/^prj_/),
      object: 'project',
      name: 'Shop backend',
      description: 'Orders and invoices',
      languages: ['typescript', 'python'],
      style: { indent: 2, quotes: 'single', semicolons: true },
      ignored_paths: ['dist/**', '**/*.min.js'],
      default_agents: ['code_expert', 'security_expert'],
      repository_url: null,
      team_id: null,
      index: { status: 'idle', run_id: null, indexed_at: null, files: 0, chunks: 0, symbols: 0, last_run: null },
    });
    expect((await api.get(`/v1/projects/${p.id}`)).body).toEqual(p);

    const changed = await patch(`/v1/projects/${p.id}`, { name: 'Shop', languages: ['go'], style: { indent: 4 } });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ name: 'Shop', languages: ['go'], style: { indent: 4 }, description: 'Orders and invoices', ignored_paths: ['dist/**', '**/*.min.js'] });
    expect(new Date(changed.body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(p.updated_at).getTime());

    const listed = await api.get('/v1/projects?limit=100');
    expect(listed.body.data.map((x: any) => x.id)).toContain(p.id);

    const deleted = await api.delete(`/v1/projects/${p.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: p.id, object: 'project', deleted: true });
    expect((await api.get(`/v1/projects/${p.id}`)).status).toBe(404);
    expect((await api.delete(`/v1/projects/${p.id}`)).status).toBe(404);
  });

  it('has the same operations in GraphQL', async () => {
    const created = await graphql(sys.url, key, `mutation($input: CreateProjectInput!) { createProject(input: $input) { replayed project { id name languages style ignoredPaths index { status files } } } }`, {
      input: { name: 'GraphQL project', languages: ['rust'], style: { lineLength: 100 }, ignoredPaths: ['target/**'] },
    });
    expect(created.body.errors).toBeUndefined();
    const p = created.body.data.createProject.project;
    expect(p).toMatchObject({ name: 'GraphQL project', languages: ['rust'], style: { lineLength: 100 }, ignoredPaths: ['target/**'], index: { status: 'IDLE', files: 0 } });
    const updated = await graphql(sys.url, key, `mutation($id: ID!) { updateProject(id: $id, input: { description: "Rust crate", style: { lineLength: 80, edition: "2021" } }) { project { description style name } } }`, { id: p.id });
    expect(updated.body.data.updateProject.project).toEqual({ description: 'Rust crate', style: { lineLength: 80, edition: '2021' }, name: 'GraphQL project' });
    const node = await graphql(sys.url, key, `query($id: ID!) { node(id: $id) { ... on Project { id name } } }`, { id: p.id });
    expect(node.body.data.node).toEqual({ id: p.id, name: 'GraphQL project' });
    const list = await graphql(sys.url, key, `{ projects(first: 100) { edges { node { id } } } }`);
    expect(list.body.data.projects.edges.map((e: any) => e.node.id)).toContain(p.id);
    const del = await graphql(sys.url, key, `mutation($id: ID!) { deleteProject(id: $id) { deletedProjectId } }`, { id: p.id });
    expect(del.body.data.deleteProject.deletedProjectId).toBe(p.id);
    const gone = await graphql(sys.url, key, `query($id: ID!) { project(id: $id) { id } }`, { id: p.id });
    expect(gone.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
  });

  it('replays a create with the same Idempotency-Key and refuses a different body with it', async () => {
    const headers = { 'idempotency-key': `prj-${Date.now()}` };
    const first = await api.post('/v1/projects', { name: 'Once' }, headers);
    const again = await api.post('/v1/projects', { name: 'Once' }, headers);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await api.post('/v1/projects', { name: 'Twice' }, headers);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
  });
});

describe('pagination', () => {
  it('pages forwards and backwards with cursors, newest first', async () => {
    const pager = await sys.createUser('Pager');
    const client = restClient(sys.url, pager.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.post('/v1/projects', { name: `p${i}` })).body.id);
    const newest = [...ids].reverse();
    const page1 = (await client.get('/v1/projects?limit=2')).body;
    expect(page1.data.map((p: any) => p.id)).toEqual(newest.slice(0, 2));
    expect(page1).toMatchObject({ object: 'list', has_more: true, next_cursor: newest[1], url: '/v1/projects' });
    const page2 = (await client.get(`/v1/projects?limit=2&starting_after=${page1.next_cursor}`)).body;
    expect(page2.data.map((p: any) => p.id)).toEqual(newest.slice(2, 4));
    const page3 = (await client.get(`/v1/projects?limit=2&starting_after=${page2.next_cursor}`)).body;
    expect(page3.data.map((p: any) => p.id)).toEqual(newest.slice(4));
    expect(page3.has_more).toBe(false);
    const back = (await client.get(`/v1/projects?limit=2&ending_before=${page3.data[0].id}`)).body;
    expect(back.data.map((p: any) => p.id)).toEqual(newest.slice(2, 4));
    expect(back.has_more).toBe(true);
  });

  it.each([['limit=101', 'limit'], ['limit=0', 'limit'], ['starting_after=task_01935f2e-0000-7000-8000-000000000000', 'after']])('refuses %s', async (query, field) => {
    const res = await api.get(`/v1/projects?${query}`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: any) => d.field).join(' ')).toContain(field);
  });
});

describe('team projects', () => {
  it('are shared with the team: members change them, viewers read them, outsiders get 404', async () => {
    const [owner, viewer, outsider] = await Promise.all(['Tess', 'Vera', 'Otto'].map((n) => sys.createUser(n)));
    const ownerApi = restClient(sys.url, owner.apiKey);
    const team = (await ownerApi.post('/v1/teams', { name: 'Shop team' })).body;
    await joinTeam(sys.url, owner.apiKey, team.id, viewer, 'viewer');
    const created = await ownerApi.post('/v1/projects', { name: 'Shared', team_id: team.id, files: [readme] });
    expect(created.status).toBe(201);
    expect(created.body.team_id).toBe(team.id);
    const p = await indexed(created.body.id, ownerApi);
    const viewerApi = restClient(sys.url, viewer.apiKey);
    expect((await viewerApi.get(`/v1/projects/${p.id}`)).body.name).toBe('Shared');
    expect((await viewerApi.get(`/v1/projects?team_id=${team.id}`)).body.data.map((x: any) => x.id)).toEqual([p.id]);
    expect((await viewerApi.get(`/v1/projects/${p.id}/search?q=invoices`)).body.files[0].path).toBe('README.md');
    const denied = await patch(`/v1/projects/${p.id}`, { name: 'Mine' }, viewerApi);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('permission_denied');
    expect((await viewerApi.delete(`/v1/projects/${p.id}`)).status).toBe(403);
    expect((await viewerApi.post('/v1/projects', { name: 'x', team_id: team.id })).status).toBe(403);
    const outsiderApi = restClient(sys.url, outsider.apiKey);
    expect((await outsiderApi.get(`/v1/projects/${p.id}`)).status).toBe(404);
    expect((await outsiderApi.get(`/v1/projects?team_id=${team.id}`)).status).toBe(404);
    expect((await outsiderApi.post('/v1/projects', { name: 'x', team_id: team.id })).status).toBe(404);
    expect((await ownerApi.get(`/v1/projects/${p.id}`)).body.name).toBe('Shared');
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['an empty name', { name: '   ' }, 'name'],
    ['a missing name', { description: 'x' }, 'name'],
    ['an unknown language', { name: 'x', languages: ['klingon'] }, 'languages.0'],
    ['a repeated language', { name: 'x', languages: ['go', 'go'] }, 'languages'],
    ['an unknown default agent', { name: 'x', default_agents: ['poet'] }, 'default_agents.0'],
    ['style that is not an object', { name: 'x', style: ['indent'] }, 'style'],
    ['a nested style option', { name: 'x', style: { indent: { size: 2 } } }, 'style.indent'],
    ['a binary file', { name: 'x', files: [{ path: 'logo.png', content: 'PNG\u0000\u0001' }] }, 'files.0.content'],
    ['an empty ignored path', { name: 'x', ignored_paths: [''] }, 'ignored_paths.0'],
    ['an extglob ignored path (no linear-time form)', { name: 'x', ignored_paths: ['dist/**', 'src/!(vendor)/**'] }, 'ignored_paths.1'],
    ['an ignored path over 500 characters', { name: 'x', ignored_paths: [`${'a/'.repeat(250)}b`] }, 'ignored_paths.0'],
    ['ignored paths of more than 10,000 characters in all', { name: 'x', ignored_paths: Array.from({ length: 30 }, (_, i) => `${i}/${'x'.repeat(400)}`) }, 'ignored_paths'],
    ['more than 200 ignored paths', { name: 'x', ignored_paths: Array.from({ length: 201 }, (_, i) => `gen${i}/**`) }, 'ignored_paths'],
    ['an http repository URL', { name: 'x', repository_url: 'http://github.com/a/b.git' }, 'repository_url'],
    ['an ext:: repository URL', { name: 'x', repository_url: 'ext::sh -c touch% /tmp/pwned' }, 'repository_url'],
    ['an option-looking repository URL', { name: 'x', repository_url: '--upload-pack=touch /tmp/pwned' }, 'repository_url'],
    ['an ssh repository URL', { name: 'x', repository_url: 'git@github.com:a/b.git' }, 'repository_url'],
    ['a file:// URL outside the root', { name: 'x', repository_url: 'file:///etc' }, 'repository_url'],
    ['a local path escaping the root', { name: 'x', repository_url: '/tmp/../etc' }, 'repository_url'],
    ['a loopback repository host', { name: 'x', repository_url: 'https://127.0.0.1/a/b.git' }, 'repository_url'],
    ['a private repository host', { name: 'x', repository_url: 'https://10.1.2.3/a/b.git' }, 'repository_url'],
    ['a link-local repository host', { name: 'x', repository_url: 'https://[fe80::1]/a/b.git' }, 'repository_url'],
    ['localhost', { name: 'x', repository_url: 'https://localhost/a/b.git' }, 'repository_url'],
    ['credentials in the URL', { name: 'x', repository_url: 'https://user:secret@github.com/a/b.git' }, 'repository_url'],
    ['a file path with ..', { name: 'x', files: [{ path: '../etc/passwd', content: 'x' }] }, 'files.0.path'],
    ['an absolute file path', { name: 'x', files: [{ path: '/etc/passwd', content: 'x' }] }, 'files.0.path'],
    ['an empty snapshot', { name: 'x', files: [] }, 'files'],
    ['a repeated path', { name: 'x', files: [{ path: 'a.ts', content: '1' }, { path: 'a.ts', content: '2' }] }, 'files.1.path'],
    ['a file over the file limit', { name: 'x', files: [{ path: 'big.ts', content: 'x'.repeat(FILE_MAX + 1) }] }, 'files.0.content'],
  ];

  it.each(cases)('refuses %s (422 naming the field)', async (_what, body, field) => {
    const before = await sys.services.db.project.count();
    const res = await api.post('/v1/projects', body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    expect(res.body.error.message).toMatch(/must|is |repeats/);
    expect(await sys.services.db.project.count()).toBe(before);
  });

  it('refuses a snapshot over PROJECT_SNAPSHOT_MAX_BYTES with 413, saying the limit', async () => {
    const before = await sys.services.db.project.count();
    const files = Array.from({ length: 6 }, (_, i) => ({ path: `gen/part${i}.ts`, content: `// ${'x'.repeat(FILE_MAX - 100)}\n` }));
    const res = await api.post('/v1/projects', { name: 'Too big', files });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(res.body.error.message).toContain(`${SNAPSHOT_MAX} bytes`);
    expect(res.body.error.message).toContain('PROJECT_SNAPSHOT_MAX_BYTES');
    expect(await sys.services.db.project.count()).toBe(before);
    expect(await sys.services.db.projectSnapshot.count()).toBe(0);
  });

  it('refuses bad changes and bad re-index requests, leaving the project as it was', async () => {
    const p = (await api.post('/v1/projects', { name: 'Stable', languages: ['go'] })).body;
    for (const [body, field] of [
      [{ name: '' }, 'name'],
      [{ languages: ['cobolx'] }, 'languages.0'],
      [{ repository_url: 'ftp://example.com/x' }, 'repository_url'],
    ] as const) {
      const res = await patch(`/v1/projects/${p.id}`, body);
      expect(res.status).toBe(422);
      expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
    }
    expect((await patch(`/v1/projects/${p.id}`, { unknown_field: 1 })).status).toBe(422);
    // No repository and no files: nothing to index.
    const noSource = await api.post(`/v1/projects/${p.id}/index`, {});
    expect(noSource.status).toBe(422);
    expect(noSource.body.error.details[0]).toMatchObject({ field: 'files' });
    expect(noSource.body.error.message).toContain('repository URL');
    const after = (await api.get(`/v1/projects/${p.id}`)).body;
    expect(after).toMatchObject({ name: 'Stable', languages: ['go'], repository_url: null, index: { status: 'idle', run_id: null } });
    const search = await api.get(`/v1/projects/${p.id}/search?q=%20%2B%2B%20`);
    expect(search.status).toBe(422);
    expect(search.body.error.details[0].field).toBe('query');
    expect((await api.get(`/v1/projects/${p.id}/search?q=x&limit=51`)).status).toBe(422);
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another account's project everywhere", async () => {
    const p = (await api.post('/v1/projects', { name: 'Secret', files: [userTs] })).body;
    await indexed(p.id);
    const other = await sys.createUser('Snoop');
    const them = restClient(sys.url, other.apiKey);
    for (const res of [
      await them.get(`/v1/projects/${p.id}`),
      await patch(`/v1/projects/${p.id}`, { name: 'mine now' }, them),
      await them.post(`/v1/projects/${p.id}/index`, { files: [userTs] }),
      await them.get(`/v1/projects/${p.id}/search?q=parseUser`),
      await them.delete(`/v1/projects/${p.id}`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    expect((await them.get('/v1/projects')).body.data).toEqual([]);
    const gql = await graphql(sys.url, other.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id: p.id });
    expect(gql.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    const sub = await subscribeGraphql(sys.wsUrl, other.apiKey, `subscription($id: ID!) { projectIndexEvents(id: $id) { seq } }`, { id: p.id });
    expect(sub.errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    await expect(relevantFiles(sys.services, { userId: other.userId, teamId: null } as any, p.id, 'parse user')).rejects.toMatchObject({ code: 'resource_not_found' });
    expect((await api.get(`/v1/projects/${p.id}`)).body.name).toBe('Secret');
  });
});

describe('the semantic index', () => {
  let projectId: string;

  it('indexes an uploaded snapshot: symbols from the TypeScript compiler API and Python ast, chunks for the rest', async () => {
    const created = await api.post('/v1/projects', { name: 'Shop', languages: ['typescript', 'python', 'go'], ignored_paths: ['vendor/**'], files: [userTs, billingPy, serverGo, readme, { path: 'vendor/lib.ts', content: 'export function vendored() {}' }] });
    expect(created.status).toBe(201);
    expect(created.body.index).toMatchObject({ status: 'indexing', run_id: expect.stringMatching(/^idx_/) });
    projectId = created.body.id;
    const p = await indexed(projectId);
    expect(p.index).toMatchObject({ status: 'ready', files: 4, indexed_at: expect.any(String) });
    expect(p.index.last_run).toMatchObject({ source: 'snapshot', files_seen: 4, files_indexed: 4, files_unchanged: 0, files_removed: 0, error: null });
    const symbols = await sys.services.db.projectSymbol.findMany({ where: { projectId }, orderBy: [{ path: 'asc' }, { line: 'asc' }] });
    const summary = symbols.map((s) => `${s.path}:${s.line} ${s.kind} ${s.name}${s.exported ? ' exported' : ''}`);
    expect(summary).toEqual([
      'billing/invoices.py:3 function load_config exported',
      'billing/invoices.py:7 class InvoiceService exported',
      'billing/invoices.py:8 method send_invoice exported',
      'billing/invoices.py:11 function _private_helper',
      'src/users/parse.ts:3 interface UserRecord exported',
      'src/users/parse.ts:6 function parseUser exported',
      'src/users/parse.ts:10 class UserRepository exported',
      'src/users/parse.ts:11 method findByEmail exported',
      'src/users/parse.ts:12 method cacheKey',
      'src/users/parse.ts:15 function helper exported',
    ]);
    expect(symbols.find((s) => s.name === 'load_config')!.signature).toBe('def load_config(path, strict)');
    expect(symbols.find((s) => s.name === 'parseUser')!.signature).toBe('export function parseUser(raw: string): UserRecord');
    expect(p.index.symbols).toBe(symbols.length);
  });

  it('indexes a project whose ignored path backtracks in a JavaScript RegExp, answering health checks meanwhile', { timeout: 60_000 }, async () => {
    // picomatch's expression for this pattern takes about 45 s on each 50-character name that does not match.
    const pattern = '*a*a*a*a*a*a*a*a*a*a*b';
    const kept = ['a'.repeat(50), `${'ab'.repeat(10)}${'a'.repeat(30)}`, `docs/${'a'.repeat(49)}b`];
    const skipped = [`${'a'.repeat(49)}b`, `${'xa'.repeat(10)}${'c'.repeat(29)}b`];
    const files = [...kept, ...skipped].map((path, i) => ({ path, content: `export const value${i} = ${i};` }));
    const created = await api.post('/v1/projects', { name: 'Pathological', ignored_paths: [pattern], files });
    expect(created.status).toBe(201);
    const health: number[] = [];
    let done = false;
    const checks = (async () => {
      while (!done) health.push((await api.get('/v1/health')).status);
    })();
    const p = await indexed(created.body.id);
    done = true;
    await checks;
    expect(p.index).toMatchObject({ status: 'ready', files: kept.length });
    expect(p.index.last_run).toMatchObject({ files_seen: kept.length, files_indexed: kept.length, error: null });
    const stored = await sys.services.db.projectFile.findMany({ where: { projectId: created.body.id }, select: { path: true }, orderBy: { path: 'asc' } });
    expect(stored.map((f) => f.path)).toEqual([...kept].sort());
    expect(health.length).toBeGreaterThan(0);
    expect(new Set(health)).toEqual(new Set([200]));
  });

  it('finds symbols by name, by camelCase and snake_case parts, ranked', async () => {
    for (const q of ['parseUser', 'parse user', 'parse_user', 'PARSEUSER']) {
      const res = await api.get(`/v1/projects/${projectId}/search?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
      expect(res.body.symbols[0], q).toMatchObject({ name: 'parseUser', kind: 'function', path: 'src/users/parse.ts', line: 6, exported: true });
      expect(res.body.files[0].path, q).toBe('src/users/parse.ts');
      expect(res.body.files[0].snippet).toContain('parseUser');
    }
    const py = (await api.get(`/v1/projects/${projectId}/search?q=load%20config`)).body;
    expect(py.symbols[0]).toMatchObject({ name: 'load_config', path: 'billing/invoices.py', line: 3 });
    const send = (await api.get(`/v1/projects/${projectId}/search?q=sendInvoice`)).body;
    expect(send.symbols.map((s: any) => s.name)).toEqual(['send_invoice']);
    const go = (await api.get(`/v1/projects/${projectId}/search?q=http%20server`)).body;
    expect(go.files[0].path).toBe('cmd/server/main.go');
    expect(go.symbols).toEqual([]); // Go is chunked only
    const none = (await api.get(`/v1/projects/${projectId}/search?q=kubernetes`)).body;
    expect(none).toMatchObject({ files: [], symbols: [] });
    const ignored = (await api.get(`/v1/projects/${projectId}/search?q=vendored`)).body;
    expect(ignored.files).toEqual([]);
    const gql = await graphql(sys.url, key, `query($id: ID!) { project(id: $id) { search(query: "user repository", limit: 3) { symbols { name kind } files { path score } } } }`, { id: projectId });
    expect(gql.body.data.project.search.symbols[0]).toEqual({ name: 'UserRepository', kind: 'class' });
    expect(gql.body.data.project.search.files[0].score).toBeGreaterThan(0);
  });

  it('gives generations and reviews the most relevant files for a prompt (relevantFiles)', async () => {
    const principal = { userId, teamId: null } as any;
    const files = await relevantFiles(sys.services, principal, projectId, 'Add validation of the email to the function that parses a user', 2);
    expect(files[0]).toMatchObject({ path: 'src/users/parse.ts', score: expect.any(Number), snippet: expect.stringContaining('parseUser') });
    expect(files.length).toBeLessThanOrEqual(2);
    expect(await relevantFiles(sys.services, principal, projectId, 'the of and', 5)).toEqual([]);
  });

  it('re-indexes incrementally: unchanged files are skipped by hash, changed and new ones indexed, removed ones dropped', async () => {
    const before = new Map((await sys.services.db.projectFile.findMany({ where: { projectId } })).map((f) => [f.path, f]));
    const changedTs = { ...userTs, content: userTs.content.replace('export function parseUser', 'export function parseUserStrict') };
    const added = { path: 'src/orders/checkout.ts', content: 'export async function checkoutCart(cartId: string) {\n  return cartId;\n}\n' };
    const res = await api.post(`/v1/projects/${projectId}/index`, { files: [changedTs, billingPy, readme, added] });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ run_id: expect.stringMatching(/^idx_/), status: 'indexing', project: { id: projectId, index: { status: 'indexing' } } });
    const p = await indexed(projectId);
    expect(p.index.status).toBe('ready');
    expect(p.index.run_id).toBe(res.body.run_id);
    expect(p.index.last_run).toMatchObject({ files_seen: 4, files_indexed: 2, files_unchanged: 2, files_removed: 1 });
    const after = new Map((await sys.services.db.projectFile.findMany({ where: { projectId } })).map((f) => [f.path, f]));
    expect([...after.keys()].sort()).toEqual(['README.md', 'billing/invoices.py', 'src/orders/checkout.ts', 'src/users/parse.ts']);
    // Unchanged files kept their rows (not rewritten); the changed one was replaced.
    expect(after.get('billing/invoices.py')!.id).toBe(before.get('billing/invoices.py')!.id);
    expect(after.get('README.md')!.indexedAt).toEqual(before.get('README.md')!.indexedAt);
    expect(after.get('src/users/parse.ts')!.id).not.toBe(before.get('src/users/parse.ts')!.id);
    expect(await sys.services.db.projectChunk.count({ where: { projectId, path: 'cmd/server/main.go' } })).toBe(0);
    const strict = (await api.get(`/v1/projects/${projectId}/search?q=parseUserStrict`)).body;
    expect(strict.symbols[0]).toMatchObject({ name: 'parseUserStrict' });
    expect((await api.get(`/v1/projects/${projectId}/search?q=checkout%20cart`)).body.symbols[0]).toMatchObject({ name: 'checkoutCart', path: 'src/orders/checkout.ts' });
    expect((await api.get(`/v1/projects/${projectId}/search?q=StartHttpServer`)).body.files).toEqual([]);

    // The same snapshot again: everything unchanged, nothing rewritten.
    await api.post(`/v1/projects/${projectId}/index`, { files: [changedTs, billingPy, readme, added] });
    const again = await indexed(projectId);
    expect(again.index.last_run).toMatchObject({ files_seen: 4, files_indexed: 0, files_unchanged: 4, files_removed: 0 });
  });

  it('streams index events in order, resumable with since, ending with the run', async () => {
    const SUB = `subscription($id: ID!, $since: Int) { projectIndexEvents(id: $id, since: $since) { seq type runId status progress message stats { filesIndexed filesUnchanged } } }`;
    const run = (await api.post(`/v1/projects/${projectId}/index`, { files: [userTs, billingPy] })).body.run_id;
    const first = await sys.services.db.$queryRaw<Array<{ seq: number }>>`SELECT seq FROM events WHERE stream_id = ${projectId} AND key = ${`${run}:queued`}`;
    const since = Number(first[0].seq) - 1;
    const all = await subscribeGraphql(sys.wsUrl, key, SUB, { id: projectId, since });
    expect(all.errors).toEqual([]);
    const events = all.results.map((r) => r.projectIndexEvents);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => since + 1 + i));
    expect(events.every((e) => e.runId === run)).toBe(true);
    expect(events[0]).toMatchObject({ type: 'progress', status: 'queued', progress: 0 });
    expect(events.at(-1)).toMatchObject({ type: 'completed', status: 'completed', progress: 100, stats: { filesIndexed: 1, filesUnchanged: 1 } });
    const progress = events.map((e) => e.progress);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    const resumed = await subscribeGraphql(sys.wsUrl, key, SUB, { id: projectId, since: since + 2 });
    expect(resumed.results.map((r) => r.projectIndexEvents.seq)).toEqual(events.slice(2).map((e) => e.seq));

    // The same events over REST, for polling: after since, with last_seq to continue from.
    const polled = (await api.get(`/v1/projects/${projectId}/index/events?since=${since}`)).body;
    expect(polled.data.map((e: any) => [e.seq, e.type, e.run_id])).toEqual(events.map((e) => [e.seq, e.type, run]));
    expect(polled.data.at(-1).stats).toMatchObject({ files_indexed: 1, files_unchanged: 1 });
    expect(polled.last_seq).toBe(events.at(-1).seq);
    const page = (await api.get(`/v1/projects/${projectId}/index/events?since=${since}&limit=1`)).body;
    expect(page.data.map((e: any) => e.seq)).toEqual([since + 1]);
    expect((await api.get(`/v1/projects/${projectId}/index/events?since=${polled.last_seq}`)).body).toMatchObject({ data: [], last_seq: polled.last_seq });
    for (const q of ['since=-1', 'limit=501', 'since=abc']) expect((await api.get(`/v1/projects/${projectId}/index/events?${q}`)).status).toBe(422);
  });
});

describe('repositories', () => {
  function git(cwd: string, ...args: string[]) {
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, stdio: 'pipe' });
  }

  it('clones a repository under REPOSITORY_ROOT, indexes it, and re-indexes only what a new commit changed', async () => {
    const repo = join(repoRoot, 'shop');
    mkdirSync(join(repo, 'src'), { recursive: true });
    mkdirSync(join(repo, 'dist'), { recursive: true });
    writeFileSync(join(repo, 'src', 'cart.ts'), 'export function addToCart(item: string) {\n  return [item];\n}\n');
    writeFileSync(join(repo, 'src', 'tax.py'), 'def compute_vat(amount):\n    return amount * 0.2\n');
    writeFileSync(join(repo, 'dist', 'bundle.js'), 'function addToCartCompiled(){}\n');
    writeFileSync(join(repo, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1]));
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'first');

    const created = await api.post('/v1/projects', { name: 'Repo', repository_url: repo, ignored_paths: ['dist/**'] });
    expect(created.status).toBe(201);
    const p = await indexed(created.body.id);
    expect(p.index).toMatchObject({ status: 'ready', files: 2 });
    expect(p.index.last_run).toMatchObject({ source: 'repository', files_indexed: 2 });
    const found = (await api.get(`/v1/projects/${p.id}/search?q=compute%20vat`)).body;
    expect(found.symbols[0]).toMatchObject({ name: 'compute_vat', path: 'src/tax.py' });

    writeFileSync(join(repo, 'src', 'tax.py'), 'def compute_vat(amount, rate=0.2):\n    return amount * rate\n');
    git(repo, 'commit', '-qam', 'second');
    const res = await api.post(`/v1/projects/${p.id}/index`, { branch: 'main' });
    expect(res.status).toBe(202);
    const again = await indexed(p.id);
    expect(again.index.last_run).toMatchObject({ source: 'repository', files_seen: 2, files_indexed: 1, files_unchanged: 1 });
    expect((await api.get(`/v1/projects/${p.id}/search?q=compute_vat`)).body.symbols[0].signature).toBe('def compute_vat(amount, rate)');
  });

  it('reports a repository that cannot be cloned as a failed run, with the reason', async () => {
    const empty = join(repoRoot, 'not-a-repo');
    mkdirSync(empty, { recursive: true });
    const created = await api.post('/v1/projects', { name: 'Broken', repository_url: `file://${empty}` });
    expect(created.status).toBe(201);
    const p = await indexed(created.body.id);
    expect(p.index.status).toBe('failed');
    expect(p.index.last_run.error).toMatch(/could not be cloned/);
    const badBranch = await api.post(`/v1/projects/${p.id}/index`, { branch: '--upload-pack=x' });
    expect(badBranch.status).toBe(422);
    expect(badBranch.body.error.details[0].field).toBe('branch');
    expect((await api.get(`/v1/projects/${p.id}`)).body.index).toMatchObject({ status: 'failed', run_id: p.index.run_id });
  });
});

describe('a run that no longer runs', () => {
  it('does not block the next run (an operator terminated its workflow)', async () => {
    const files = Array.from({ length: 2000 }, (_, i) => ({ path: `src/t${i}.ts`, content: `export const t${i} = ${i};\n` }));
    const created = (await api.post('/v1/projects', { name: 'Stuck', files })).body;
    await sys.services.temporal.workflow.getHandle(created.index.run_id).terminate('operator');
    expect((await api.get(`/v1/projects/${created.id}`)).body.index.status).toBe('indexing');
    const res = await api.post(`/v1/projects/${created.id}/index`, { files: [readme] });
    expect(res.status).toBe(202);
    const p = await indexed(created.id);
    expect(p.index).toMatchObject({ status: 'ready', run_id: res.body.run_id, files: 1 });
  });
});

describe('deletion', () => {
  it('cancels a running index run, refuses a second run meanwhile, and removes the index', async () => {
    const files = Array.from({ length: 3000 }, (_, i) => ({ path: `src/gen/module${i}.ts`, content: `export function generatedHandler${i}(input: string) {\n  return input.length + ${i};\n}\n`.repeat(3) }));
    const created = await api.post('/v1/projects', { name: 'Big', files });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const runId = created.body.index.run_id;
    const busy = await api.post(`/v1/projects/${id}/index`, { files: files.slice(0, 1) });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('index_in_progress');
    await waitFor(async () => ((await sys.services.db.projectFile.count({ where: { projectId: id } })) > 0 ? true : undefined), 30_000, 20);
    let opened!: () => void;
    const open = new Promise<void>((r) => (opened = r));
    const watching = subscribeGraphql(sys.wsUrl, key, `subscription($id: ID!) { projectIndexEvents(id: $id) { type status message } }`, { id }, (_data, all) => {
      if (all.length === 1) opened();
      return false;
    });
    await open; // subscribed (its first event arrived) while the project exists
    const deleted = await api.delete(`/v1/projects/${id}`);
    expect(deleted.status).toBe(200);
    const outcome = await sys.services.temporal.workflow.getHandle(runId).result();
    expect(outcome).toBe('cancelled');
    for (const table of ['projectFile', 'projectChunk', 'projectSymbol', 'projectSnapshot'] as const) {
      expect(await (sys.services.db[table] as any).count({ where: { projectId: id } }), table).toBe(0);
    }
    // A live subscriber sees the run end, rather than waiting forever.
    const watched = await watching;
    expect(watched.errors).toEqual([]);
    expect(watched.results.at(-1).projectIndexEvents).toEqual({ type: 'cancelled', status: 'cancelled', message: 'Index run cancelled: the project was deleted' });
    expect((await api.get(`/v1/projects/${id}`)).status).toBe(404);
  });
});

describe('contract', () => {
  const schemaOf = (operationId: string) => projectRoutes.find((r) => r.operationId === operationId)!.response;

  it('answers in the shapes the OpenAPI document declares, and documents every route with its errors', async () => {
    const created = await api.post('/v1/projects', { name: 'Contract', style: { tabs: false }, files: [userTs] });
    schemaOf('createProject').parse(created.body);
    const id = created.body.id;
    const p = await indexed(id);
    schemaOf('getProject').parse(p);
    schemaOf('listProjects').parse((await api.get('/v1/projects?limit=3')).body);
    schemaOf('searchProject').parse((await api.get(`/v1/projects/${id}/search?q=parseUser`)).body);
    schemaOf('listProjectIndexEvents').parse((await api.get(`/v1/projects/${id}/index/events`)).body);
    schemaOf('updateProject').parse((await patch(`/v1/projects/${id}`, { description: 'd' })).body);
    const key = { 'idempotency-key': `idx-${id}` };
    const run = await api.post(`/v1/projects/${id}/index`, { files: [userTs, readme] }, key);
    schemaOf('indexProject').parse(run.body);
    // Same key, same body: the same run, not a second one (even while it is still running).
    const replay = await api.post(`/v1/projects/${id}/index`, { files: [userTs, readme] }, key);
    expect(replay.status).toBe(202);
    expect(replay.body.run_id).toBe(run.body.run_id);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await api.post(`/v1/projects/${id}/index`, { files: [readme] }, key)).body.error.code).toBe('idempotency_conflict');
    await indexed(id);
    schemaOf('deleteProject').parse((await api.delete(`/v1/projects/${id}`)).body);

    const doc = (await api.get('/v1/openapi.json')).body;
    for (const route of projectRoutes) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      expect(op?.operationId, `${route.method} ${route.path}`).toBe(route.operationId);
      expect(op.responses[String(route.successStatus)]).toBeDefined();
    }
    expect(Object.keys(doc.paths['/v1/projects/{project_id}/index'].post.responses)).toEqual(expect.arrayContaining(['202', '409', '413', '422', '404']));
  });

  it('re-indexes through GraphQL too', async () => {
    const created = await graphql(sys.url, key, `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id index { status runId } } } }`, { input: { name: 'GQL index', files: [serverGo] } });
    const id = created.body.data.createProject.project.id;
    expect(created.body.data.createProject.project.index.status).toBe('INDEXING');
    await indexed(id);
    const res = await graphql(sys.url, key, `mutation($id: ID!, $files: [FileInput!]) { indexProject(id: $id, files: $files) { runId project { index { status runId } } } }`, { id, files: [serverGo, billingPy] });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.indexProject.project.index).toEqual({ status: 'INDEXING', runId: res.body.data.indexProject.runId });
    const done = await indexed(id);
    expect(done.index.last_run).toMatchObject({ files_indexed: 1, files_unchanged: 1 });
    const q = await graphql(sys.url, key, `query($id: ID!) { project(id: $id) { index { files symbols lastRun { filesUnchanged } } search(query: "InvoiceService") { symbols { name kind } } } }`, { id });
    expect(q.body.data.project).toEqual({ index: { files: 2, symbols: 4, lastRun: { filesUnchanged: 1 } }, search: { symbols: [{ name: 'InvoiceService', kind: 'class' }] } });
  });
});
