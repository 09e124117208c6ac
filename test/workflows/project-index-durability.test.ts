/**
 * Kill -9 the worker in the middle of an index run, start another: the run completes, the files
 * the first worker had written are skipped by hash on the retry (not written twice), and the
 * index holds every file, chunk and symbol exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let sys: TestSystem;
const children: ChildProcess[] = [];

/** A worker in its own process, exactly as `npm run worker` runs it. */
function spawnWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts', '--queues', 'cpu'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: sys.config.DATABASE_URL,
      TEMPORAL_ADDRESS: sys.config.TEMPORAL_ADDRESS,
      TASK_QUEUE_PREFIX: sys.config.TASK_QUEUE_PREFIX,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('worker polling')) resolve(child);
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => reject(new Error(`worker exited (${code}): ${out.slice(-2000)}`)));
  });
}

beforeAll(async () => {
  // The heartbeat timeout goes into the workflow's input: a killed worker's run moves on after 5 s.
  sys = await startTestSystem({ worker: false, env: { ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '5' } });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sys?.close();
});

describe('worker crash during indexing', () => {
  it('completes the run on another worker, resuming from what was written', { timeout: 120_000 }, async () => {
    const api = restClient(sys.url, (await sys.createUser()).apiKey);
    const files = Array.from({ length: 2000 }, (_, i) => ({
      path: `src/m${i}.ts`,
      content: `export function durableHandler${i}(input: string) {\n  return input.length + ${i};\n}\n`,
    }));
    const first = await spawnWorker();
    const created = (await api.post('/v1/projects', { name: 'Durable', files })).body;
    const id = created.id;
    await waitFor(async () => ((await sys.services.db.projectFile.count({ where: { projectId: id } })) >= 100 ? true : undefined), 60_000, 20);
    first.kill('SIGKILL');
    const atKill = await sys.services.db.projectFile.count({ where: { projectId: id } });
    expect(atKill).toBeLessThan(files.length);

    await spawnWorker();
    const done = await waitFor(async () => {
      const p = (await api.get(`/v1/projects/${id}`)).body;
      return p.index.status !== 'indexing' ? p : undefined;
    }, 90_000, 200);
    expect(done.index).toMatchObject({ status: 'ready', files: 2000, chunks: 2000, symbols: 2000 });
    // The retry found the files the killed worker had committed unchanged.
    expect(done.index.last_run.files_unchanged).toBeGreaterThanOrEqual(atKill);
    expect(done.index.last_run.files_indexed + done.index.last_run.files_unchanged).toBe(2000);
    const dupes = await sys.services.db.$queryRaw<unknown[]>`SELECT name FROM project_symbols WHERE project_id = ${id} GROUP BY name HAVING COUNT(*) > 1`;
    expect(dupes).toEqual([]);
    expect(await sys.services.temporal.workflow.getHandle(created.index.run_id).result()).toBe('completed');
    const events = await sys.services.db.event.findMany({ where: { streamId: id }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.type === 'completed')).toHaveLength(1);
    expect(events.at(-1)!.type).toBe('completed');
  });
});
