/**
 * The reviews API end to end: a real gateway, PostgreSQL, Temporal and worker. The fixture
 * repository (test/fixtures/reviews/repo) marks every expected finding with `expect: <rule>` on
 * its line (or `expect: <rule>@<line>`); reviews must report exactly those.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type AjvDraft04 from 'ajv-draft-04';
import type AjvFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULE_CATALOG, SCORE_WEIGHTS } from '../../src/agents/reviewer.js';
import { appendEvents } from '../../src/events/event-store.js';
import { runReview } from '../../src/services/reviews/run-review.js';
import { graphql, remainingIn, restClient, subscribeGraphql, waitFor, type HttpResult } from '../helpers/client.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { joinTeam } from '../helpers/fixtures.js';

// The reviewer pauses this long before each file, so a review of the fixture (7 files) runs
// about a second: the stream demonstrably delivers findings while the review is still running
// (the first finding is in the second file, five more files follow it).
const FILE_DELAY_MS = 150;
const MAX_INPUT_BYTES = 200_000;

const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
/** A fixture repository's files, sorted by path. */
function fixture(name: string) {
  const root = fileURLToPath(new URL(`../fixtures/reviews/${name}/`, import.meta.url));
  return walk(root)
    .map((p) => ({ path: relative(root, p), content: readFileSync(p, 'utf8') }))
    .sort((a, b) => a.path.localeCompare(b.path));
}
const repo = fixture('repo');
const fileOf = (path: string) => repo.find((f) => f.path === path)!;

function expected(files: Array<{ path: string; content: string }>) {
  return files
    .flatMap((file) =>
      file.content.split('\n').flatMap((text, i) => {
        const m = /expect: ([a-z-]+)(?:@(\d+))?/.exec(text);
        return m ? [`${file.path}:${m[2] ? Number(m[2]) : i + 1}:${m[1]}`] : [];
      }),
    )
    .sort();
}
const got = (issues: any[]) => issues.map((i) => `${i.path}:${i.start_line}:${i.rule_id}`).sort();

let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;
let otherKey: string;
let other: ReturnType<typeof restClient>;

beforeAll(async () => {
  sys = await startTestSystem({ env: { REVIEW_FILE_DELAY_MS: String(FILE_DELAY_MS), REVIEW_MAX_INPUT_BYTES: String(MAX_INPUT_BYTES) } });
  key = (await sys.createUser('Reviewer')).apiKey;
  api = restClient(sys.url, key);
  otherKey = (await sys.createUser('Other tenant')).apiKey;
  other = restClient(sys.url, otherKey);
});
afterAll(() => sys?.close());

const patch = (path: string, body: unknown) => api.request('PATCH', path, body);

describe('POST /v1/reviews (JSON)', () => {
  let review: any;
  beforeAll(async () => {
    const res = await api.post('/v1/reviews', { files: repo, title: 'fixture repo', metadata: { ci: 'build-7' } });
    expect(res.status).toBe(201);
    review = res.body;
  });

  it('reviews a repository snapshot: exactly the expected findings, ranked by severity, with a summary and the documented score', () => {
    expect(review).toMatchObject({ object: 'review', status: 'completed', mode: 'snapshot', files_reviewed: repo.length, title: 'fixture repo', metadata: { ci: 'build-7' } });
    expect(expected(repo).length).toBe(10);
    expect(got(review.issues)).toEqual(expected(repo));
    expect(review.issue_count).toBe(10);
    // Every category is represented, each issue carries the rule's category and confidence.
    expect(new Set(review.issues.map((i: any) => i.category))).toEqual(new Set(['bug', 'security', 'performance', 'style', 'maintainability']));
    for (const issue of review.issues) {
      expect(issue.category).toBe(RULE_CATALOG[issue.rule_id].category);
      expect(issue.confidence).toBe(RULE_CATALOG[issue.rule_id].confidence);
      expect(issue.end_line).toBeGreaterThanOrEqual(issue.start_line);
      expect(issue.suggested_fix.length).toBeGreaterThan(10);
      expect(issue.status).toBe('open');
      expect(issue.id).toMatch(/^fnd_[0-9a-f]{32}$/);
    }
    expect(review.issues.find((i: any) => i.rule_id === 'duplicated-block')).toMatchObject({ path: 'src/totals.js', start_line: 3, end_line: 9 });
    const rank = { critical: 0, high: 1, medium: 2, low: 3 } as Record<string, number>;
    const ranks = review.issues.map((i: any) => rank[i.severity]);
    expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    const penalty = review.issues.reduce((n: number, i: any) => n + SCORE_WEIGHTS[i.severity as 'low'] * i.confidence, 0);
    expect(review.score).toBe(Math.max(0, Math.round(100 - penalty)));
    expect(review.summary).toContain('found 10 issues');
    expect(review.summary).toContain(`Score ${review.score}/100`);
  });

  it('reviews a second fixture repository (Python and TypeScript service): exactly its expected findings', async () => {
    const service = fixture('service');
    const res = await api.post('/v1/reviews', { files: service });
    expect(res.status).toBe(201);
    expect(expected(service)).toHaveLength(6);
    expect(got(res.body.issues)).toEqual(expected(service));
    expect(res.body.issues.find((i: any) => i.rule_id === 'high-complexity')).toMatchObject({ start_line: 19, end_line: 28, category: 'maintainability' });
  });

  it('reviews a single file', async () => {
    const res = await api.post('/v1/reviews', { file: fileOf('src/users.js') });
    expect(res.status).toBe(201);
    expect(res.body.mode).toBe('file');
    expect(got(res.body.issues)).toEqual(expected([fileOf('src/users.js')]));
  });

  it("with a project: compares with its related indexed files (a copied block is reported) and skips its ignored paths", async () => {
    const shared = [
      'export function totalWithTax(items: Array<{ price: number; qty: number }>, rate: number) {',
      '  let subtotal = 0;',
      '  for (const item of items) {',
      '    subtotal += item.price * item.qty;',
      '  }',
      '  const tax = Math.round(subtotal * rate * 100) / 100;',
      '  return { subtotal, tax, total: subtotal + tax };',
      '}',
    ];
    const project = await api.post('/v1/projects', {
      name: 'billing',
      languages: ['typescript'],
      ignored_paths: ['generated/**'],
      files: [
        { path: 'src/billing/totals.ts', content: `// Order totals.\n${shared.join('\n')}\n` },
        { path: 'src/mail/templates.ts', content: 'export const greeting = (name: string) => `Hello ${name}`;\n' },
      ],
    });
    expect(project.status).toBe(201);
    await waitFor(async () => ((await api.get(`/v1/projects/${project.body.id}`)).body.index.status === 'ready' ? true : undefined), 60_000, 100);
    const copied = { path: 'src/cart/checkout.ts', content: `import { charge } from './pay.js';\n\n${shared.join('\n')}\n` };
    const generated = { path: 'generated/client.ts', content: 'try { run(); } catch (e) {}\n' };
    const res = await api.post('/v1/reviews', { files: [copied, generated], project_id: project.body.id });
    expect(res.status).toBe(201);
    // Ranked by relevance: the file the block was copied from first.
    expect(res.body.context_files[0]).toMatchObject({ path: 'src/billing/totals.ts', start_line: 1 });
    expect(res.body.ignored_files).toEqual(['generated/client.ts']);
    expect(res.body.files_reviewed).toBe(1);
    expect(res.body.issues.map((i: any) => `${i.path}:${i.start_line}:${i.rule_id}`)).toEqual(['src/cart/checkout.ts:3:duplicated-block']);
    expect(res.body.issues[0].message).toContain('src/billing/totals.ts:2');
    // Without the project the same files have no copy to find, and the ignored file is reviewed.
    const alone = await api.post('/v1/reviews', { files: [copied, generated] });
    expect(alone.body.issues.map((i: any) => `${i.path}:${i.rule_id}`)).toEqual(['generated/client.ts:swallowed-error']);
    expect(alone.body).toMatchObject({ context_files: [], ignored_files: [], files_reviewed: 2 });
  });

  it('reports nothing for clean code', async () => {
    const res = await api.post('/v1/reviews', { files: [fileOf('src/clean.ts'), fileOf('README.md')] });
    expect(res.body).toMatchObject({ status: 'completed', issues: [], score: 100 });
  });

  it('min_confidence drops less confident findings; categories limits what is checked', async () => {
    const res = await api.post('/v1/reviews', { files: repo, min_confidence: 0.85 });
    expect(res.body.issues.length).toBeGreaterThan(0);
    expect(got(res.body.issues)).toEqual(expected(repo).filter((e) => RULE_CATALOG[e.split(':')[2]].confidence >= 0.85));
    const security = await api.post('/v1/reviews', { files: repo, categories: ['security'] });
    expect(got(security.body.issues)).toEqual(expected(repo).filter((e) => RULE_CATALOG[e.split(':')[2]].category === 'security'));
    expect(security.body.categories).toEqual(['security']);
  });

  it('GET filters issues by confidence, category, severity and status', async () => {
    const res = await api.get(`/v1/reviews/${review.id}?min_confidence=0.9&category=security,bug`);
    expect(res.status).toBe(200);
    expect(res.body.issues.length).toBeGreaterThan(0);
    for (const i of res.body.issues) {
      expect(i.confidence).toBeGreaterThanOrEqual(0.9);
      expect(['security', 'bug']).toContain(i.category);
    }
    const critical = await api.get(`/v1/reviews/${review.id}?severity=critical`);
    expect(critical.body.issues.map((i: any) => i.rule_id).sort()).toEqual(['command-injection', 'sql-injection']);
  });

  it('exports SARIF 2.1.0 that validates against the official schema', async () => {
    const res = await api.get(`/v1/reviews/${review.id}?format=sarif`);
    expect(res.status).toBe(200);
    // The SARIF 2.1.0 JSON schema (OASIS, rtm.5) as shipped by Microsoft's @microsoft/jest-sarif package.
    const require = createRequire(import.meta.url);
    // CommonJS packages: their module.exports is the class / function.
    const Ajv = require('ajv-draft-04') as typeof AjvDraft04.default;
    const addFormats = require('ajv-formats') as typeof AjvFormats.default;
    const schema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
    // The schema's patterns are ECMAScript regular expressions without the u flag (one is invalid with it).
    const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const valid = validate(res.body);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(res.body.version).toBe('2.1.0');
    const results = res.body.runs[0].results;
    expect(results).toHaveLength(10);
    const sql = results.find((r: any) => r.ruleId === 'sql-injection');
    expect(sql).toMatchObject({ level: 'error', locations: [{ physicalLocation: { artifactLocation: { uri: 'src/users.js' }, region: { startLine: 7 } } }] });
    expect(sql.partialFingerprints['codexFindingId/v1']).toBe(review.issues.find((i: any) => i.rule_id === 'sql-injection').id);
    // Filters apply to the export too.
    const onlySecurity = await api.get(`/v1/reviews/${review.id}?format=sarif&category=security`);
    expect(onlySecurity.body.runs[0].results.every((r: any) => r.properties.category === 'security')).toBe(true);
  });
});

describe('diff mode', () => {
  const diff = [
    'diff --git a/src/users.js b/src/users.js',
    '--- a/src/users.js',
    '+++ b/src/users.js',
    '@@ -5,6 +5,8 @@',
    ' ',
    " router.get('/user', (req, res) => {",
    '   db.query("SELECT * FROM users WHERE id = " + req.query.id);',
    '+  var name = req.query.name;',
    '+  if (name == "root") eval(req.body.code);',
    ' });',
    ' ',
    ' function isAdmin(user) {',
    'diff --git a/old.js b/old.js',
    'deleted file mode 100644',
    '--- a/old.js',
    '+++ /dev/null',
    '@@ -1 +0,0 @@',
    '-var gone = 1;',
    '',
  ].join('\n');

  it('reports only issues on added or changed lines, at their new line numbers', async () => {
    const res = await api.post('/v1/reviews', { diff });
    expect(res.status).toBe(201);
    expect(res.body.mode).toBe('diff');
    // The SQL injection on the context line (new line 7) is not part of the change.
    expect(got(res.body.issues)).toEqual(['src/users.js:8:no-var', 'src/users.js:9:code-eval', 'src/users.js:9:loose-equality']);
    expect(res.body.files_reviewed).toBe(1);
  });
});

describe('bad input: a clear error, and nothing created', () => {
  const countReviews = async () => sys.services.db.review.count();

  it.each([
    ['a malformed diff', { diff: '--- a/x.ts\n+++ b/x.ts\n@@ -1,2 +1,3 @@\n const a = 1;\n*junk\n' }, 'diff', /not a valid unified diff/],
    ['text that is not a diff', { diff: 'hello, please review my code' }, 'diff', /no file changes/],
    ['two inputs at once', { diff: '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n', file: { path: 'a.js', content: '' } }, 'file', /exactly one of/],
    ['no input', { title: 'nothing' }, 'diff', /exactly one of/],
    ['an unknown category', { file: { path: 'a.js', content: 'x' }, categories: ['security', 'typos'] }, 'categories.1', /bug, security, performance, style, maintainability/],
    ['a confidence over 1', { file: { path: 'a.js', content: 'x' }, min_confidence: 1.5 }, 'min_confidence', /between 0 and 1/],
    ['a path outside the repository', { files: [{ path: '../etc/passwd', content: 'x' }] }, 'files.0.path', /relative path/],
    ['a repeated path', { files: [{ path: 'a.js', content: 'x' }, { path: 'a.js', content: 'y' }] }, 'files.1.path', /repeats a.js/],
    ['an unknown field', { file: { path: 'a.js', content: 'x' }, severity: 'high' }, 'severity', /not a known body field/],
    ['a hunk two billion lines into a file', { diff: '--- a/x\n+++ b/x\n@@ -0,0 +2000000000,1 @@\n+x\n' }, 'diff', /at most 2,000,000 lines in all/],
    ['binary content (a NUL character)', { file: { path: 'logo.png', content: 'PNG\u0000\u0001' } }, 'file.content', /no NUL characters.*leave binary files out/],
    ['a lone surrogate in a title', { file: { path: 'a.js', content: 'x' }, title: 'bad \ud800 title' }, 'title', /lone UTF-16 surrogates/],
  ])('%s → 422 naming the field', async (_name, body, field, message) => {
    const before = await countReviews();
    const res = await api.post('/v1/reviews', body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_error');
    const detail = res.body.error.details.find((d: any) => d.field === field);
    expect(detail, JSON.stringify(res.body.error.details)).toBeDefined();
    expect(detail.message).toMatch(message);
    expect(res.body.error.request_id).toMatch(/^req_/);
    expect(await countReviews()).toBe(before);
  });

  it('a snapshot over the size limit → 413 payload_too_large saying the limit and what to do', async () => {
    const before = await countReviews();
    const files = Array.from({ length: 30 }, (_, i) => ({ path: `big/f${i}.js`, content: 'x'.repeat(10_000) }));
    const res = await api.post('/v1/reviews', { files });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect(res.body.error.message).toMatch(/at most 0\.2 MB.*Split the snapshot/);
    expect(await countReviews()).toBe(before);
  });

  it('page size over 50, an unknown status or category filter, a bad format → 422', async () => {
    const cases: Array<[string, string]> = [
      ['/v1/reviews?limit=51', 'limit'],
      ['/v1/reviews?status=done', 'status'],
      ['/v1/reviews/rev_00000000-0000-7000-8000-000000000000?category=typo', 'category.0'],
      ['/v1/reviews/rev_00000000-0000-7000-8000-000000000000?format=xml', 'format'],
      ['/v1/reviews/rev_00000000-0000-7000-8000-000000000000?min_confidence=high', 'min_confidence'],
    ];
    for (const [path, field] of cases) {
      const res = await api.get(path);
      expect(res.status, path).toBe(422);
      expect(res.body.error.details.map((d: any) => d.field), path).toContain(field);
    }
    const gql = await graphql(sys.url, key, '{ reviews(first: 51) { edges { node { id } } } }');
    expect(gql.body.errors![0].extensions.code).toBe('VALIDATION_ERROR');
  });

  it('a bad Last-Event-ID → 422 before anything is created', async () => {
    const before = await countReviews();
    const res = await api.post('/v1/reviews', { file: fileOf('src/users.js') }, { accept: 'text/event-stream', 'last-event-id': 'yesterday' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0].field).toBe('last-event-id');
    expect(await countReviews()).toBe(before);
  });
});

describe('PATCH and approve', () => {
  let review: any;
  beforeAll(async () => {
    review = (await api.post('/v1/reviews', { files: repo })).body;
  });

  it('updates metadata and issue statuses without touching findings or the score', async () => {
    const sql = review.issues.find((i: any) => i.rule_id === 'sql-injection');
    const style = review.issues.find((i: any) => i.rule_id === 'no-var');
    const res = await patch(`/v1/reviews/${review.id}`, {
      title: 'Release 1.2',
      metadata: { pr: '42' },
      issues: [
        { id: style.id, status: 'dismissed', note: 'legacy file, rewrite planned' },
        { id: sql.id, status: 'resolved' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ title: 'Release 1.2', metadata: { pr: '42' }, score: review.score, summary: review.summary, issue_count: review.issue_count });
    const byId = new Map(res.body.issues.map((i: any) => [i.id, i]));
    expect(byId.get(style.id)).toEqual({ ...style, status: 'dismissed', note: 'legacy file, rewrite planned' });
    expect(byId.get(sql.id)).toEqual({ ...sql, status: 'resolved' });
    const open = await api.get(`/v1/reviews/${review.id}?status=open`);
    expect(open.body.issues).toHaveLength(review.issues.length - 2);
    // Dismissed issues are suppressed in SARIF, not removed.
    const sarif = (await api.get(`/v1/reviews/${review.id}?format=sarif`)).body;
    expect(sarif.runs[0].results.find((r: any) => r.partialFingerprints['codexFindingId/v1'] === style.id).suppressions[0]).toMatchObject({
      kind: 'external',
      justification: 'legacy file, rewrite planned',
    });
  });

  it('refuses unknown issue ids and statuses (422) and changes nothing', async () => {
    const first = review.issues[0];
    const res = await patch(`/v1/reviews/${review.id}`, { issues: [{ id: first.id, status: 'dismissed' }, { id: 'fnd_nope', status: 'dismissed' }] });
    expect(res.status).toBe(422);
    expect(res.body.error.details).toEqual([{ field: 'issues.1.id', message: `is not an issue of review ${review.id} (fnd_nope)` }]);
    const bad = await patch(`/v1/reviews/${review.id}`, { issues: [{ id: first.id, status: 'ignored' }] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details[0].field).toBe('issues.0.status');
    expect(bad.body.error.details[0].message).toMatch(/open, dismissed, resolved/);
    const empty = await patch(`/v1/reviews/${review.id}`, {});
    expect(empty.status).toBe(422);
    const now = (await api.get(`/v1/reviews/${review.id}`)).body;
    expect(now.issues.find((i: any) => i.id === first.id).status).toBe(first.status);
  });

  it('approve records who and when; again by the same user answers the same approval', async () => {
    const res = await api.post(`/v1/reviews/${review.id}/approve`, undefined);
    expect(res.status).toBe(200);
    const me = (await api.get('/v1/auth/me')).body;
    expect(res.body.approved_by).toBe(me.id);
    expect(Date.parse(res.body.approved_at)).not.toBeNaN();
    const again = await api.post(`/v1/reviews/${review.id}/approve`, undefined);
    expect(again.status).toBe(200);
    expect(again.body.approved_at).toBe(res.body.approved_at);
  });

  it('a review still running cannot be approved (409 review_not_completed)', async () => {
    const files = Array.from({ length: 20 }, (_, i) => ({ path: `slow/f${i}.js`, content: 'var x = 1;\n' }));
    const created = await graphql(sys.url, key, 'mutation($files: [FileInput!]) { createReview(input: { files: $files }) { review { id status } } }', { files });
    const id = created.body.data.createReview.review.id;
    const res = await api.post(`/v1/reviews/${id}/approve`, undefined);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('review_not_completed');
  });
});

describe('tenant isolation', () => {
  it("another user's review answers 404 everywhere and is not listed", async () => {
    const review = (await api.post('/v1/reviews', { file: fileOf('src/users.js') })).body;
    for (const res of [
      await other.get(`/v1/reviews/${review.id}`),
      await other.get(`/v1/reviews/${review.id}?format=sarif`),
      await other.request('PATCH', `/v1/reviews/${review.id}`, { title: 'mine now' }),
      await other.post(`/v1/reviews/${review.id}/approve`, undefined),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_not_found');
    }
    const stream = await openSse(`${sys.url}/v1/reviews/${review.id}`, { apiKey: otherKey });
    expect(stream.res.status).toBe(404);
    const list = await other.get('/v1/reviews');
    expect(list.body.data.map((r: any) => r.id)).not.toContain(review.id);
    const gql = await graphql(sys.url, otherKey, 'query($id: ID!) { review(id: $id) { id } }', { id: review.id });
    expect(gql.body.errors![0].extensions.code).toBe('RESOURCE_NOT_FOUND');
    expect((await api.get(`/v1/reviews/${review.id}`)).body.title).toBeNull();
  });

  it("a project of another user answers 404; one's own project is accepted and filters the list", async () => {
    const owner = (await sys.services.db.apiKey.findFirstOrThrow({ where: { user: { name: 'Reviewer' } } })).userId;
    const stranger = (await sys.services.db.apiKey.findFirstOrThrow({ where: { user: { name: 'Other tenant' } } })).userId;
    const mine = await sys.services.db.project.create({ data: { id: 'prj_0193a000-0000-7000-8000-000000000001', ownerId: owner, name: 'mine' } });
    const theirs = await sys.services.db.project.create({ data: { id: 'prj_0193a000-0000-7000-8000-000000000002', ownerId: stranger, name: 'theirs' } });
    const refused = await api.post('/v1/reviews', { file: fileOf('src/users.js'), project_id: theirs.id });
    expect(refused.status).toBe(404);
    expect(refused.body.error.message).toContain(theirs.id);
    const ok = await api.post('/v1/reviews', { file: fileOf('src/users.js'), project_id: mine.id });
    expect(ok.status).toBe(201);
    expect(ok.body.project_id).toBe(mine.id);
    const list = await api.get(`/v1/reviews?project_id=${mine.id}`);
    expect(list.body.data.map((r: any) => r.id)).toEqual([ok.body.id]);
  });
});

describe('listing', () => {
  it('pages newest first with cursors, at most 50, without issues', async () => {
    const all = (await api.get('/v1/reviews?limit=50')).body.data;
    expect(all.length).toBeGreaterThan(3);
    expect(all[0].issues).toBeUndefined();
    const first = await api.get('/v1/reviews?limit=2');
    expect(first.body).toMatchObject({ object: 'list', has_more: true });
    expect(first.body.data.map((r: any) => r.id)).toEqual(all.slice(0, 2).map((r: any) => r.id));
    const second = await api.get(`/v1/reviews?limit=2&starting_after=${first.body.next_cursor}`);
    expect(second.body.data.map((r: any) => r.id)).toEqual(all.slice(2, 4).map((r: any) => r.id));
  });
});

describe('streaming (SSE)', () => {
  const issueEvents = (events: SseEvent[]) => events.filter((e) => e.event === 'issue');

  it('streams each finding as it is found, before the review has finished, then the summary', async () => {
    const stream = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key, body: { files: repo } });
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get('x-request-id')).toMatch(/^req_/);
    const opening = (await stream.next())!;
    expect(opening).toMatchObject({ event: 'review', id: undefined });
    expect(['queued', 'running']).toContain(opening.data.status);
    const first = (await stream.next())!;
    expect(first.event).toBe('issue');
    // The reviewer is slowed per file: when the first finding arrives, the review is still running.
    const during = await api.get(`/v1/reviews/${opening.data.id}`);
    expect(during.body.status).toBe('running');
    expect(during.body.score).toBeNull();
    const rest = await stream.all();
    const events = [first, ...rest];
    expect(events.at(-1)).toMatchObject({ event: 'summary', data: { status: 'completed', issue_count: 10 } });
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => Number(first.id) + i));
    const done = (await api.get(`/v1/reviews/${opening.data.id}`)).body;
    expect(issueEvents(events).map((e) => e.data.id).sort()).toEqual(done.issues.map((i: any) => i.id).sort());
    expect(events.at(-1)!.data.score).toBe(done.score);
  });

  it('resumes after a cut with Last-Event-ID: nothing lost, nothing repeated (POST with the same key, or GET)', async () => {
    const body = { files: repo, title: 'resume me' };
    const idempotency = { 'idempotency-key': `resume-${Date.now()}` };
    const cut = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key, body, headers: idempotency });
    const opening = (await cut.next())!;
    const seen: SseEvent[] = [];
    while (seen.length < 3) seen.push((await cut.next())!);
    cut.close();
    const lastId = seen.at(-1)!.id!;

    const resumed = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key, body, headers: { ...idempotency, 'last-event-id': lastId } });
    expect(resumed.res.headers.get('idempotent-replayed')).toBe('true');
    const reopening = (await resumed.next())!;
    expect(reopening.data.id).toBe(opening.data.id);
    const after = await resumed.all();
    expect(Number(after[0].id)).toBe(Number(lastId) + 1);
    const joined = [...seen, ...after];
    expect(new Set(joined.map((e) => e.id)).size).toBe(joined.length);
    expect(joined.at(-1)!.event).toBe('summary');

    // A full replay after the end (GET, the EventSource way) is identical: stable ids and order.
    const replay = await openSse(`${sys.url}/v1/reviews/${opening.data.id}`, { apiKey: key });
    const replayed = (await replay.all()).slice(1);
    expect(replayed).toEqual(joined);
    const tail = await openSse(`${sys.url}/v1/reviews/${opening.data.id}`, { apiKey: key, headers: { 'last-event-id': String(joined.at(-2)!.id) } });
    expect((await tail.all()).slice(1)).toEqual([joined.at(-1)]);
    // Reconnecting after the summary (what EventSource does when the stream closes) ends at once with nothing new.
    const again = await openSse(`${sys.url}/v1/reviews/${opening.data.id}`, { apiKey: key, headers: { 'last-event-id': String(joined.at(-1)!.id) } });
    expect((await again.all()).slice(1)).toEqual([]);
  });

  it('Last-Event-ID on a POST that creates a new review (no Idempotency-Key) does not skip its events', async () => {
    const stream = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key, body: { file: fileOf('src/users.js') }, headers: { 'last-event-id': '3' } });
    const events = (await stream.all()).slice(1);
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.event).toBe('summary');
  });

  it('a retried analysis writes the same findings and events again: no duplicates', async () => {
    const review = (await api.post('/v1/reviews', { files: repo })).body;
    const before = await sys.services.db.event.count({ where: { streamId: review.id } });
    // What a second attempt of the activity does after a crash: run over the same review again.
    await sys.services.db.review.update({ where: { id: review.id }, data: { status: 'running' } });
    await runReview(sys.services, review.id, { fileDelayMs: 0 });
    expect(await sys.services.db.reviewIssue.count({ where: { reviewId: review.id } })).toBe(review.issue_count);
    expect(await sys.services.db.event.count({ where: { streamId: review.id } })).toBe(before);
    expect((await api.get(`/v1/reviews/${review.id}`)).body.issues).toEqual(review.issues);
    // The batch append recognises keys it already stored (and appends nothing, publishes nothing).
    const again = await appendEvents(sys.services.db, sys.services.bus, review.id, review.issues.slice(0, 3).map((i: any) => ({ type: 'issue', key: i.id, data: {} })));
    expect(again).toEqual([]);
  });
});

describe('GraphQL', () => {
  const EVENTS = `subscription($id: ID!, $since: Int) {
    reviewEvents(id: $id, since: $since) { seq type status score summary issue { id path startLine ruleId category confidence } }
  }`;

  it('createReview, then reviewEvents (resumable with since) sharing the SSE sequence; sarif field', async () => {
    const created = await graphql(
      sys.url,
      key,
      `mutation($input: CreateReviewInput!) { createReview(input: $input, idempotencyKey: "gql-1") { replayed review { id status } } }`,
      { input: { files: repo.map(({ path, content }) => ({ path, content })), categories: ['security', 'bug'] } },
    );
    expect(created.body.errors).toBeUndefined();
    const id = created.body.data.createReview.review.id;
    const cut = await subscribeGraphql(sys.wsUrl, key, EVENTS, { id }, (d) => d.reviewEvents.seq >= 2);
    expect(cut.errors).toEqual([]);
    // Resume after the last event this client saw (findings can arrive in batches).
    const seen = [...cut.results];
    const resumed = await subscribeGraphql(sys.wsUrl, key, EVENTS, { id, since: seen.at(-1).reviewEvents.seq });
    const events = [...seen, ...resumed.results].map((r) => r.reviewEvents);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: 'completed', status: 'completed' });
    expect(events.slice(0, -1).every((e) => e.type === 'issue' && ['security', 'bug'].includes(e.issue.category))).toBe(true);
    const sse = (await (await openSse(`${sys.url}/v1/reviews/${id}`, { apiKey: key })).all()).slice(1);
    expect(sse.map((e) => Number(e.id))).toEqual(events.map((e) => e.seq));
    expect(sse.filter((e) => e.event === 'issue').map((e) => e.data.id)).toEqual(events.filter((e) => e.type === 'issue').map((e) => e.issue.id));

    const q = await graphql(sys.url, key, 'query($id: ID!) { review(id: $id) { score issueCount sarif(minConfidence: 0.9) issues(minConfidence: 0.9) { id } } }', { id });
    const sarif = JSON.parse(q.body.data.review.sarif);
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results.map((r: any) => r.properties.id)).toEqual(q.body.data.review.issues.map((i: any) => i.id));
    const node = await graphql(sys.url, key, 'query($id: ID!) { node(id: $id) { ... on Review { id mode } } }', { id });
    expect(node.body.data.node).toEqual({ id, mode: 'snapshot' });
  });

  it("reviewEvents for another tenant's review: RESOURCE_NOT_FOUND", async () => {
    const review = (await api.post('/v1/reviews', { file: fileOf('src/users.js') })).body;
    const { results, errors } = await subscribeGraphql(sys.wsUrl, otherKey, EVENTS, { id: review.id });
    expect(results).toEqual([]);
    expect(errors[0].extensions.code).toBe('RESOURCE_NOT_FOUND');
  });
});

describe('OpenAPI', () => {
  it('documents the review routes, the score formula and the event stream', async () => {
    const doc = (await api.get('/v1/openapi.json')).body;
    const post = doc.paths['/v1/reviews'].post;
    expect(post.operationId).toBe('createReview');
    expect(post.description).toContain('score = max(0, round(100 − Σ weight(severity) × confidence))');
    expect(Object.keys(post.responses['201'].content)).toEqual(['application/json', 'text/event-stream']);
    expect(doc.paths['/v1/reviews'].get.parameters.find((p: any) => p.name === 'limit').schema.maximum).toBe(50);
    expect(doc.paths['/v1/reviews/{review_id}'].patch.operationId).toBe('updateReview');
    expect(doc.paths['/v1/reviews/{review_id}/approve'].post.responses['409'].description).toContain('review_already_approved');
  });
});

describe('team reviews', () => {
  it('members see and approve a team review once; a viewer cannot change it (403); outsiders get 404', async () => {
    const team = (await api.post('/v1/teams', { name: 'Review team' })).body;
    const memberKey = (await sys.createUser('Team member')).apiKey;
    const viewerKey = (await sys.createUser('Team viewer')).apiKey;
    const member = restClient(sys.url, memberKey);
    const viewer = restClient(sys.url, viewerKey);
    const memberId = (await member.get('/v1/auth/me')).body.id;
    const viewerId = (await viewer.get('/v1/auth/me')).body.id;
    await joinTeam(sys.url, key, team.id, { userId: memberId, apiKey: memberKey }, 'member');
    await joinTeam(sys.url, key, team.id, { userId: viewerId, apiKey: viewerKey }, 'viewer');

    const review = (await api.post('/v1/reviews', { file: fileOf('src/users.js'), team_id: team.id })).body;
    expect(review.team_id).toBe(team.id);
    expect((await viewer.get(`/v1/reviews/${review.id}`)).status).toBe(200);
    expect((await viewer.get(`/v1/reviews?team_id=${team.id}`)).body.data.map((r: any) => r.id)).toContain(review.id);
    const denied = await viewer.request('PATCH', `/v1/reviews/${review.id}`, { title: 'viewer edit' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('permission_denied');
    expect((await other.get(`/v1/reviews/${review.id}`)).status).toBe(404);

    const approved = await member.post(`/v1/reviews/${review.id}/approve`, undefined);
    expect(approved.status).toBe(200);
    expect(approved.body.approved_by).toBe(memberId);
    const second = await api.post(`/v1/reviews/${review.id}/approve`, undefined);
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: 'review_already_approved', details: { approved_by: memberId } });
  });
});

describe('failure', () => {
  it('a review whose input cannot be read ends failed at once, saying why; the stream ends with an error event', async () => {
    const me = (await api.get('/v1/auth/me')).body.id;
    // A stored input the reviewer cannot read (the API never stores one: this stands for a corrupt row).
    const id = 'rev_0193a000-0000-7000-8000-00000000f00d';
    await sys.services.db.review.create({ data: { id, ownerId: me, mode: 'diff', input: { diff: 'not a diff' }, categories: ['bug'] } });
    await sys.services.temporal.workflow.start('reviewWorkflow', { workflowId: id, taskQueue: sys.config.taskQueues.cpu, args: [{ reviewId: id }] });
    const events = await (await openSse(`${sys.url}/v1/reviews/${id}`, { apiKey: key })).all();
    expect(events.at(-1)).toMatchObject({ event: 'error', data: { status: 'failed', error: { code: 'agent_error' } } });
    const res = await api.get(`/v1/reviews/${id}`);
    expect(res.body).toMatchObject({ status: 'failed', score: null, error: { code: 'agent_error', message: expect.stringContaining('diff contains no file changes') } });
    const handle = sys.services.temporal.workflow.getHandle(id);
    expect(await handle.result()).toBe('failed');
    // Not retried: one attempt of runReview, then failReview.
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runReview')).toHaveLength(1);
    expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes?.attempt === 2)).toHaveLength(0);
  });
});

describe('scopes', () => {
  it('a publishable key may submit and read reviews (editor diagnostics) but not change or approve them (403)', async () => {
    const created = await api.post('/v1/keys', { name: 'editor plugin', kind: 'publishable' });
    expect(created.status).toBe(201);
    const editor = restClient(sys.url, created.body.secret);
    const review = await editor.post('/v1/reviews', { file: fileOf('src/users.js') });
    expect(review.status).toBe(201);
    expect((await editor.get(`/v1/reviews/${review.body.id}?format=sarif`)).status).toBe(200);
    for (const res of [await editor.request('PATCH', `/v1/reviews/${review.body.id}`, { title: 'x' }), await editor.post(`/v1/reviews/${review.body.id}/approve`, undefined)]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('permission_denied');
    }
  });

  it("a publishable key reads the reviews it created, not the account's others, and gets no project context unless allowed", async () => {
    const created = await api.post('/v1/keys', { name: 'diagnostics', kind: 'publishable' });
    expect(created.body.read_resources).toEqual(['generations']);
    const editor = restClient(sys.url, created.body.secret);
    const mine = await editor.post('/v1/reviews', { file: fileOf('src/users.js') });
    expect(mine.status).toBe(201);
    const theirs = await api.post('/v1/reviews', { file: fileOf('src/users.js') });
    expect(theirs.status).toBe(201);
    expect((await editor.get(`/v1/reviews/${mine.body.id}`)).status).toBe(200);
    expect((await editor.get(`/v1/reviews/${theirs.body.id}`)).status).toBe(404);
    expect((await editor.get('/v1/reviews')).body.data.map((r: any) => r.id)).toEqual([mine.body.id]);
    const allowed = restClient(sys.url, (await api.post('/v1/keys', { name: 'all reviews', kind: 'publishable', read_resources: ['reviews'] })).body.secret);
    expect((await allowed.get(`/v1/reviews/${theirs.body.id}`)).status).toBe(200);
    const project = await api.post('/v1/projects', { name: 'Context', files: [{ path: 'src/users.js', content: 'export const users = [];\n' }] });
    const withContext = await editor.post('/v1/reviews', { file: fileOf('src/users.js'), project_id: project.body.id });
    expect(withContext.status).toBe(403);
    expect(withContext.body.error.message).toContain('project_search');
  });
});

describe('credits', () => {
  it('a diff or one file costs 1 credit, a snapshot 5 (REST and GraphQL alike)', async () => {
    const left = (res: HttpResult) => remainingIn(res, 'hour');
    const a = await api.post('/v1/reviews', { file: fileOf('src/clean.ts') });
    const b = await api.post('/v1/reviews', { file: fileOf('src/clean.ts') });
    expect(left(a) - left(b)).toBe(1);
    const c = await api.post('/v1/reviews', { files: [fileOf('src/clean.ts'), fileOf('README.md')] });
    expect(left(b) - left(c)).toBe(5);
    const gql = await graphql(sys.url, key, 'mutation($files: [FileInput!]) { createReview(input: { files: $files }) { review { id } } }', {
      files: [{ path: 'a.ts', content: 'export const a = 1;\n' }],
    });
    expect(gql.body.errors).toBeUndefined();
    expect((gql.body as any).extensions.cost.requested).toBe(5);
  });
});
