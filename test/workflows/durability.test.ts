/**
 * Kill -9 the worker in the middle of a task, start another: the task completes exactly once,
 * its events in order with no gap and no duplicate, and its result covers every file once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeFiles } from '../../src/agents/security-expert.js';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles, vulnerableJs } from '../helpers/fixtures.js';
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
      AGENT_STEP_DELAY_MS: '150',
      ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '2',
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
  sys = await startTestSystem({ worker: false });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await sys?.close();
});

describe('worker crash', () => {
  it('completes the task exactly once after the worker is killed mid-run', { timeout: 90_000 }, async () => {
    const key = (await sys.createUser()).apiKey;
    const api = restClient(sys.url, key);
    const files = [...manyFiles(12), vulnerableJs, ...manyFiles(12).map((f) => ({ ...f, path: `lib/${f.path}` }))];
    const first = await spawnWorker();
    const { task_id } = (await api.post('/v1/agents/execute', executeBody(files))).body;

    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${task_id}`)).body.progress >= 20 ? true : undefined));
    first.kill('SIGKILL');
    const progressAtKill = (await api.get(`/v1/agents/tasks/${task_id}`)).body.progress;
    expect(progressAtKill).toBeLessThan(100);

    await spawnWorker();
    // The new attempt resumes from the last checkpoint, which may be older than the last progress
    // written: it repeats those files, but the task's progress never goes back.
    const progress = [progressAtKill];
    const done = await waitFor(async () => {
      const res = await api.get(`/v1/agents/tasks/${task_id}`);
      progress.push(res.body.progress);
      return res.body.status === 'completed' ? res.body : undefined;
    }, 60_000);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    const expected = analyzeFiles(files).map((f) => [f.ruleId, f.file, f.line]);
    expect(done.result.findings.map((f: any) => [f.rule_id, f.file, f.line])).toEqual(expected);

    const events = await sys.services.db.event.findMany({ where: { streamId: task_id }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const perFile = events.filter((e) => e.key.startsWith('file:')).map((e) => e.key);
    expect(perFile).toEqual(files.map((_, i) => `file:${i}`));
    expect(events.filter((e) => e.type === 'result')).toHaveLength(1);
    expect(events.at(-1)!.type).toBe('result');
    expect(await sys.services.temporal.workflow.getHandle(task_id).result()).toBe('completed');
  });
});
