/**
 * Storage limits per plan: snapshots, indexed files, generations, visualizations and tasks are
 * refused with 402 storage_limit_exceeded (naming the limit and how to make room) once the
 * account's storage would pass its limit, nothing is written, and GET /v1/usage reports it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLANS } from '../../src/services/limits/plans.js';
import { restClient, waitFor } from '../helpers/client.js';
import { buildRepository } from '../helpers/git-fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let user: { userId: string; apiKey: string };
let repoRoot: string;
const api = () => restClient(sys.url, user.apiKey);
const file = (path: string, bytes: number) => ({ path, content: `${'x'.repeat(bytes - 1)}\n` });

/** The operator's per-account storage limit (what `npm run admin -- limits set --storage-bytes` stores). */
const setLimit = (bytes: number) => sys.services.db.accountLimits.upsert({ where: { userId: user.userId }, create: { userId: user.userId, storageBytes: BigInt(bytes) }, update: { storageBytes: BigInt(bytes) } });
const usage = async () => (await api().get('/v1/usage')).body.storage as { used_bytes: number; limit_bytes: number };
const counts = async () => {
  const db = sys.services.db;
  return {
    projects: await db.project.count(),
    snapshots: await db.projectSnapshot.count(),
    files: await db.projectFile.count(),
    generations: await db.generation.count(),
    visualizations: await db.visualization.count(),
    tasks: await db.agentTask.count(),
  };
};

/** 402 storage_limit_exceeded, with the limit named and nothing written. */
async function refusedForStorage(request: () => Promise<{ status: number; body: any }>) {
  const before = await counts();
  const res = await request();
  expect(res.status, JSON.stringify(res.body)).toBe(402);
  expect(res.body.error.code).toBe('storage_limit_exceeded');
  expect(res.body.error.message).toMatch(/Storage limit reached: .* Delete projects, generations, visualizations or tasks you no longer need, or upgrade the plan\./);
  expect(res.body.error.details).toMatchObject({ limit: 'storage', current_tier: 'team', storage_limit_bytes: expect.any(Number), storage_used_bytes: expect.any(Number), upgrade_url: expect.any(String) });
  expect(await counts()).toEqual(before);
  return res.body.error;
}

async function indexed(id: string) {
  return waitFor(async () => {
    const p = (await api().get(`/v1/projects/${id}`)).body;
    return p.index?.status === 'ready' || p.index?.status === 'failed' ? p : undefined;
  }, 60_000);
}

beforeAll(async () => {
  repoRoot = mkdtempSync(join(tmpdir(), 'codex-storage-repos-'));
  buildRepository(join(repoRoot, 'big'), [{ date: '2025-01-01T10:00:00Z', author: { name: 'A', email: 'a@example.com' }, message: 'first', write: { 'src/big.ts': 'x'.repeat(8000) } }]);
  sys = await startTestSystem({ env: { REPOSITORY_ROOT: repoRoot, MODEL_BASE_URL: 'http://127.0.0.1:9/v1' } });
  user = await sys.createUser('Small', { tier: 'team' }); // team: polling fits its request windows
});
afterAll(async () => {
  await sys?.close();
  rmSync(repoRoot, { recursive: true, force: true });
});

describe('storage limits', () => {
  it("reports the plan's storage limit in /v1/usage (100 GB on team)", async () => {
    expect(await usage()).toEqual({ used_bytes: 0, limit_bytes: PLANS.team.storageBytes });
  });

  it('refuses a snapshot that would pass the limit, then accepts one that fits and counts it', async () => {
    await setLimit(3000);
    const error = await refusedForStorage(() => api().post('/v1/projects', { name: 'Too big', files: [file('a.ts', 2000), file('b.ts', 2000)] }));
    expect(error.details.storage_limit_bytes).toBe(3000);
    const created = await api().post('/v1/projects', { name: 'Fits', files: [file('a.ts', 1000)] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await indexed(created.body.id)).index.status).toBe('ready');
    const used = await usage();
    expect(used.limit_bytes).toBe(3000);
    expect(used.used_bytes).toBeGreaterThanOrEqual(1000); // the indexed file
    // A re-index with a larger snapshot is refused too.
    await refusedForStorage(() => api().post(`/v1/projects/${created.body.id}/index`, { files: [file('a.ts', 1000), file('c.ts', 2500)] }));
  });

  it('refuses generations, visualizations and tasks once storage is full', async () => {
    await setLimit((await usage()).used_bytes);
    await refusedForStorage(() => api().post('/v1/generations', { prompt: 'Write a function that adds two numbers' }));
    await refusedForStorage(() => api().post('/v1/visualize/repository', { repository_url: join(repoRoot, 'big') }));
    await refusedForStorage(() => api().post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', context: { files: [file('x.ts', 100)] } }));
    // Room again: the same requests go through.
    await setLimit(PLANS.team.storageBytes);
    expect((await api().post('/v1/agents/execute', { task: 'Review', agent_type: 'code_expert', context: { files: [file('x.ts', 100)] } })).status).toBe(202);
  });

  it('fails an index run whose repository files would pass the limit, writing no file', async () => {
    await setLimit((await usage()).used_bytes + 100);
    const created = await api().post('/v1/projects', { name: 'Repo', repository_url: join(repoRoot, 'big') });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const p = await indexed(created.body.id);
    expect(p.index.status).toBe('failed');
    expect(p.index.last_run.error).toMatch(/Storage limit reached: indexing 1 files of the repository needs 8000 bytes/);
    expect(await sys.services.db.projectFile.count({ where: { projectId: created.body.id } })).toBe(0);
  });
});
