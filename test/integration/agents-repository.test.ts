/**
 * Agents on a repository: the spec's execute and orchestrate examples (context.repository and
 * branch, no files), context.paths, project_id, and every way a source can be refused. The
 * network is out of reach in tests, so the https example is checked up to its 202 and the
 * analysis runs over local git repositories under REPOSITORY_ROOT.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient, waitFor } from '../helpers/client.js';
import { vulnerableJs } from '../helpers/fixtures.js';
import { buildRepository } from '../helpers/git-fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let owner: { userId: string; apiKey: string };
let stranger: { userId: string; apiKey: string };
let repoRoot: string;
let repo: string;
const api = () => restClient(sys.url, owner.apiKey);

const issuesTs = readFileSync(new URL('../fixtures/review/issues.ts', import.meta.url), 'utf8');
const author = { name: 'Ada', email: 'ada@example.com' };

/** The spec's execute example, exactly as written. */
const specExecuteExample = {
  task: 'Review this code for security vulnerabilities',
  context: {
    files: [{ path: 'src/auth.rs', content: 'fn authenticate(password: &str) { ... }' }],
    repository: 'https://github.com/user/repo',
    branch: 'main',
  },
  agent_type: 'security_expert',
  max_tokens: 4000,
  temperature: 0.7,
};

/** The spec's orchestrate example, exactly as written. */
const specOrchestrateExample = {
  goal: 'Implement user authentication with JWT, write tests, and security review',
  strategy: 'parallel',
  agents: ['code_expert', 'test_gen', 'security_expert'],
  context: { language: 'rust', framework: 'axum' },
};

async function finished(taskId: string) {
  return waitFor(async () => {
    const res = await api().get(`/v1/agents/tasks/${taskId}`);
    return ['completed', 'failed', 'cancelled'].includes(res.body.status) ? res.body : undefined;
  }, 60_000);
}

const located = (task: any) => task.result.findings.map((f: any) => `${f.rule_id}@${f.file}:${f.line}`);

/** A 422 naming `field`, with no task stored. */
async function refused(body: Record<string, unknown>, field: string, path = '/v1/agents/execute') {
  const before = await sys.services.db.agentTask.count();
  const res = await api().post(path, body);
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  expect(res.body.error.code).toBe('validation_error');
  expect(res.body.error.details.map((d: any) => d.field)).toContain(field);
  expect(await sys.services.db.agentTask.count()).toBe(before);
  return res.body.error;
}

beforeAll(async () => {
  repoRoot = mkdtempSync(join(tmpdir(), 'codex-agent-repos-'));
  repo = join(repoRoot, 'shop');
  buildRepository(repo, [
    {
      date: '2025-01-01T10:00:00Z',
      author,
      message: 'first',
      write: {
        [vulnerableJs.path]: vulnerableJs.content,
        'src/auth.rs': 'fn authenticate(password: &str) { let q = format!("SELECT * FROM users WHERE p = {}", password); }\n',
        'lib/issues.ts': issuesTs,
        'docs/README.md': '# Shop\n',
      },
    },
    { date: '2025-01-02T10:00:00Z', author, message: 'feature', branch: 'feature', write: { 'src/feature.ts': issuesTs } },
  ]);
  mkdirSync(join(repoRoot, 'not-a-repo'));
  sys = await startTestSystem({ env: { REPOSITORY_ROOT: repoRoot } });
  owner = await sys.createUser('Owner');
  stranger = await sys.createUser('Stranger');
});
afterAll(async () => {
  await sys?.close();
  rmSync(repoRoot, { recursive: true, force: true });
});

describe("the spec's execute example (context.repository and branch)", () => {
  it('accepts the exact body with its https GitHub URL (202), keeping repository and branch for the agent', async () => {
    const res = await api().post('/v1/agents/execute', specExecuteExample);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const stored = await sys.services.db.agentTask.findUniqueOrThrow({ where: { id: res.body.task_id } });
    expect(stored.input).toMatchObject({ context: { repository: 'https://github.com/user/repo', branch: 'main', files: specExecuteExample.context.files } });
    await api().delete(`/v1/agents/tasks/${res.body.task_id}`); // the network is out of reach here
  });

  it('analyses the repository (the same body over a local repository): findings at paths and lines from its root; inline files stand in for the clone\'s', async () => {
    const res = await api().post('/v1/agents/execute', { ...specExecuteExample, context: { ...specExecuteExample.context, repository: repo } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const task = await finished(res.body.task_id);
    expect(task.status, JSON.stringify(task.error)).toBe('completed');
    const files = task.result.findings.map((f: any) => f.file);
    expect(files).toContain(vulnerableJs.path);
    expect(task.result.findings.find((f: any) => f.file === vulnerableJs.path).line).toBe(3);
    // The committed src/auth.rs builds SQL from input; the inline one (the example's) does not.
    expect(files).not.toContain('src/auth.rs');
    const events = await sys.services.db.event.findMany({ where: { streamId: res.body.task_id } });
    expect(events.map((e: any) => e.data.message)).toContainEqual(expect.stringMatching(/^Cloned branch main of the repository: 4 files to analyse/));
  });

  it("runs the brief form (code_expert, repository, branch) and narrows it with context.paths", async () => {
    const res = await api().post('/v1/agents/execute', { task: 'Review the code', agent_type: 'code_expert', context: { repository: repo, branch: 'feature', paths: ['src/feature.ts', 'docs'] } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const task = await finished(res.body.task_id);
    expect(task.status, JSON.stringify(task.error)).toBe('completed');
    const found = located(task);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((f: string) => f.includes('@src/feature.ts:'))).toBe(true); // lib/issues.ts has the same issues, outside paths
    expect(found).toContain('swallowed-error@src/feature.ts:6');
  });

  it('fails the task with the reason when the branch does not exist (nothing retried)', async () => {
    const res = await api().post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', context: { repository: repo, branch: 'no-such-branch' } });
    expect(res.status).toBe(202);
    const task = await finished(res.body.task_id);
    expect(task.status).toBe('failed');
    expect(task.error.message).toMatch(/could not be cloned: .*no-such-branch/);
  });

  it('fails the task when context.paths matches nothing in the repository', async () => {
    const res = await api().post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', context: { repository: repo, paths: ['nowhere'] } });
    expect(res.status).toBe(202);
    const task = await finished(res.body.task_id);
    expect(task.status).toBe('failed');
    expect(task.error.message).toBe('No text file of the source lies under context.paths (nowhere).');
  });
});

describe('refused sources answer 422 and store nothing', () => {
  const body = (context: Record<string, unknown>) => ({ task: 'Review', agent_type: 'code_expert', context });
  it.each([
    ['a private-network address', 'https://10.0.0.7/team/repo.git', /private|loopback|not allowed/i],
    ['localhost', 'https://localhost/repo.git', /private|loopback|not allowed/i],
    ['a git option', '--upload-pack=touch /tmp/pwned', /must not start with "-"/],
    ['a transport helper', 'ext::sh -c touch% /tmp/pwned', /transport helpers|spaces/],
    ['plain http', 'http://example.com/repo.git', /https/],
    ['a local path outside REPOSITORY_ROOT', '/etc', /REPOSITORY_ROOT/],
    ['a local path escaping a directory with ..', '/tmp/../etc', /REPOSITORY_ROOT/],
  ])('context.repository: %s', async (_what, repository, message) => {
    const error = await refused(body({ repository }), 'context.repository');
    expect(error.details.find((d: any) => d.field === 'context.repository').message).toMatch(message);
  });

  it.each([['../secrets'], ['/etc/passwd'], ['src/../../x'], ['./src']])('context.paths outside the repository: %s', async (path) => {
    await refused(body({ repository: repo, paths: [path] }), 'context.paths.0');
  });

  it('an option-like branch', async () => {
    await refused(body({ repository: repo, branch: '--upload-pack=x' }), 'context.branch');
  });

  it('no source at all, naming the three ways to give one', async () => {
    const error = await refused({ task: 'Review code', agent_type: 'code_expert' }, 'context.files');
    expect(error.message).toMatch(/context\.repository/);
    expect(error.message).toMatch(/project_id/);
  });

  it("the spec's orchestrate example as written (no files, no repository), saying what to add", async () => {
    const error = await refused(specOrchestrateExample, 'context.files', '/v1/agents/orchestrate');
    expect(error.message).toMatch(/context\.repository/);
  });

  it('project_id together with files or a repository', async () => {
    await refused({ ...body({ repository: repo }), project_id: 'prj_x' }, 'project_id');
  });
});

describe("the spec's orchestrate example over a repository", () => {
  it('runs every agent on the cloned files and aggregates their results', async () => {
    const res = await api().post('/v1/agents/orchestrate', { ...specOrchestrateExample, context: { ...specOrchestrateExample.context, repository: repo, branch: 'main' } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const o = await waitFor(async () => {
      const b = (await api().get(`/v1/agents/orchestrations/${res.body.orchestration_id}`)).body;
      return b.status !== 'in_progress' ? b : undefined;
    }, 90_000);
    const failed = o.agents.find((a: any) => a.status !== 'completed');
    expect(failed && (await api().get(`/v1/agents/tasks/${failed.task_id}`)).body.error).toBeUndefined();
    expect(o.status).toBe('completed');
    expect(o.aggregated_result.security_issues).toBeGreaterThan(0);
    expect(o.aggregated_result.code_issues).toBeGreaterThan(0);
    const security = (await api().get(`/v1/agents/tasks/${o.agents[2].task_id}`)).body;
    expect(security.result.findings.map((f: any) => f.file)).toContain(vulnerableJs.path);
    const code = (await api().get(`/v1/agents/tasks/${o.agents[0].task_id}`)).body;
    expect(located(code)).toContain('swallowed-error@lib/issues.ts:6');
  });
});

describe('project_id', () => {
  let projectId: string;
  beforeAll(async () => {
    const created = await api().post('/v1/projects', { name: 'Indexed', files: [vulnerableJs, { path: 'lib/issues.ts', content: issuesTs }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    projectId = created.body.id;
    await waitFor(async () => ((await api().get(`/v1/projects/${projectId}`)).body.index?.status === 'ready' ? true : undefined), 60_000);
  });

  it("analyses the project's indexed files, at their lines", async () => {
    const res = await api().post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', project_id: projectId, context: { paths: ['lib'] } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const task = await finished(res.body.task_id);
    expect(task.status, JSON.stringify(task.error)).toBe('completed');
    expect(located(task)).toContain('swallowed-error@lib/issues.ts:6');
    expect(located(task).every((f: string) => f.includes('@lib/issues.ts:'))).toBe(true);
  });

  it("answers 404 for another tenant's project, and stores nothing", async () => {
    const before = await sys.services.db.agentTask.count();
    const res = await restClient(sys.url, stranger.apiKey).post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', project_id: projectId });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('resource_not_found');
    expect(await sys.services.db.agentTask.count()).toBe(before);
  });
});
