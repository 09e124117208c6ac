/**
 * The OpenAPI document generates a working TypeScript SDK: openapi-typescript turns the running
 * gateway's /v1/openapi.json into types, a flow file written against them with openapi-fetch is
 * type-checked with `tsc --strict`, then run against the same gateway: create a key, execute and
 * poll a task, page through tasks, create and approve a review, create a webhook and send its test
 * event (to a receiver on 127.0.0.2, the private address this system's allowance admits), start a
 * visualization. A type error in the flow or a wrong answer fails the test.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient, waitFor } from '../helpers/client.js';
import { buildRepository } from '../helpers/git-fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../..');

let sys: TestSystem;
let apiKey: string;
let dir: string;
let reposRoot: string;
let receiver: Server;
const received: Array<{ path: string; body: string }> = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', body });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.2', r));
  reposRoot = mkdtempSync(join(tmpdir(), 'sdk-repos-'));
  buildRepository(join(reposRoot, 'demo'), [
    { date: '2025-01-06T10:00:00Z', author: { name: 'Ada', email: 'ada@example.com' }, message: 'Initial', write: { 'README.md': '# Demo\n', 'src/a.ts': 'export const a = 1;\n' } },
    { date: '2025-01-07T10:00:00Z', author: { name: 'Ada', email: 'ada@example.com' }, message: 'More', write: { 'src/b.ts': 'export const b = 2;\n' } },
  ]);
  sys = await startTestSystem({
    env: {
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
      WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789',
      REPOSITORY_ROOT: reposRoot,
      VISUALIZATION_WORK_DIR: mkdtempSync(join(tmpdir(), 'sdk-viz-')),
    },
  });
  apiKey = (await sys.createUser('SDK user')).apiKey;
  dir = mkdtempSync(join(tmpdir(), 'sdk-ts-'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
}, 180_000);
afterAll(async () => {
  await sys?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (reposRoot) rmSync(reposRoot, { recursive: true, force: true });
});

/** The flow, written as an SDK user would: every call and field typed by the generated `paths`. */
const FLOW = `
import createClient from 'openapi-fetch';
import type { paths, components } from './api.js';

type Task = components['schemas']['Task'];
const baseUrl = process.env.BASE_URL!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const client = (key: string) => createClient<paths, 'application/json'>({ baseUrl, headers: { Authorization: \`Bearer \${key}\` } });

function must<T>(r: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (r.data === undefined) throw new Error(\`\${what}: \${r.response.status} \${JSON.stringify(r.error)}\`);
  return r.data;
}

async function main() {
  const out: Record<string, unknown> = {};
  const owner = client(process.env.API_KEY!);

  const key = must(await owner.POST('/v1/keys', { body: { name: 'sdk flow' } }), 'create key');
  if (!key.secret) throw new Error('no secret on a new key');
  out.key = key.id;
  const api = client(key.secret);

  const files = [{ path: 'src/a.js', content: 'db.query("SELECT * FROM t WHERE id = " + req.query.id);\\n' }];
  const started = must(await api.POST('/v1/agents/execute', {
    body: { task: 'Review this code for security vulnerabilities', agent_type: 'security_expert', context: { files } },
  }), 'execute');
  let task: Task | undefined;
  for (let i = 0; i < 240; i++) {
    const got = must(await api.GET('/v1/agents/tasks/{task_id}', { params: { path: { task_id: started.task_id } } }), 'get task');
    if (got.status !== 'queued' && got.status !== 'running') { task = got; break; }
    await sleep(250);
  }
  out.task = task?.status;
  must(await api.POST('/v1/agents/execute', { body: { task: 'Second', agent_type: 'security_expert', context: { files } } }), 'execute 2');

  const seen: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const list = must(await api.GET('/v1/agents/tasks', { params: { query: { limit: 1, ...(after ? { starting_after: after } : {}) } } }), 'list tasks');
    seen.push(...list.data.map((t: Task) => t.task_id));
    if (!list.has_more || !list.next_cursor) break;
    after = list.next_cursor;
  }
  out.pages = seen;

  const review = must(await api.POST('/v1/reviews', { body: { file: { path: 'src/users.js', content: 'eval(req.query.code);\\n' } } }), 'create review');
  const approved = must(await api.POST('/v1/reviews/{review_id}/approve', { params: { path: { review_id: review.id } } }), 'approve');
  out.review = { status: review.status, approved_at: approved.approved_at };

  const project = must(await api.POST('/v1/projects', { body: { name: 'SDK project' } }), 'create project');
  const hook = must(await api.POST('/v1/webhooks', { body: { project_id: project.id, url: process.env.HOOK_URL!, events: ['*'] } }), 'create webhook');
  const test = must(await api.POST('/v1/webhooks/{webhook_id}/test', { params: { path: { webhook_id: hook.id } } }), 'test webhook');
  out.webhook = { id: hook.id, secret: hook.secret.startsWith('whsec_'), test };

  const viz = must(await api.POST('/v1/visualize/repository', { body: { repository_url: process.env.REPO_PATH! } }), 'visualize');
  out.visualization = viz.visualization_id;

  const missing = await api.GET('/v1/agents/tasks/{task_id}', { params: { path: { task_id: 'task_doesnotexist' } } });
  out.missing = { status: missing.response.status, code: missing.error?.error.code };
  console.log(JSON.stringify(out));
}
main().catch((err) => { console.error(err); process.exit(1); });
`;

describe('a TypeScript SDK generated by openapi-typescript + openapi-fetch', () => {
  it('type-checks strictly and runs the flow against the gateway', async () => {
    const doc = (await restClient(sys.url).get('/v1/openapi.json')).body;
    writeFileSync(join(dir, 'api.ts'), astToString(await openapiTS(doc)));
    writeFileSync(join(dir, 'flow.ts'), FLOW);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true, types: ['node'] }, files: ['flow.ts', 'api.ts'] }),
    );
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsc = await run(join(repoRoot, 'node_modules/.bin/tsc'), ['-p', dir], { cwd: dir }).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
    expect(tsc.stdout, 'tsc --strict on the flow file').toBe('');

    const flow = await run(join(repoRoot, 'node_modules/.bin/tsx'), ['flow.ts'], {
      cwd: dir,
      env: { ...process.env, BASE_URL: sys.url, API_KEY: apiKey, HOOK_URL: `http://127.0.0.2:${(receiver.address() as AddressInfo).port}/sdk`, REPO_PATH: join(reposRoot, 'demo') },
    });
    const out = JSON.parse(flow.stdout.trim().split('\n').at(-1)!);
    expect(out.key).toMatch(/^key_/);
    expect(out.task).toBe('completed');
    expect(out.pages).toHaveLength(2);
    expect(new Set(out.pages).size).toBe(2);
    expect(out.review.status).toBe('completed');
    expect(Date.parse(out.review.approved_at)).not.toBeNaN();
    expect(out.webhook.secret).toBe(true);
    expect(out.visualization).toMatch(/^viz_/);
    expect(out.missing).toEqual({ status: 404, code: 'resource_not_found' });
    const ping = await waitFor(async () => received.find((r) => r.path === '/sdk' && JSON.parse(r.body).type === 'webhook.ping'), 30_000, 100);
    expect(JSON.parse(ping.body).data.webhook_id).toBe(out.webhook.id);
  }, 240_000);
});
