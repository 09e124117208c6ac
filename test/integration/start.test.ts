/**
 * `npm start` as a newcomer runs it: embedded PostgreSQL and Temporal, a printed key, a task
 * over REST; SIGTERM stops everything (no process left behind); a second start finds it all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePortBelowEphemeral } from '../../src/embedded/postgres.js';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody, vulnerableJs } from '../helpers/fixtures.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'codex-start-'));
// mkdtemp makes it mode 700; the PostgreSQL server (run as `postgres` when root) must reach it.
chmodSync(dataDir, 0o755);
const running: ChildProcess[] = [];
afterAll(() => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(ports: { http: number; temporal: number }) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH,
      DATA_DIR: dataDir,
      PORT: String(ports.http),
      EMBEDDED_TEMPORAL_PORT: String(ports.temporal),
      EMBEDDED_TEMPORAL_UI_PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  // The gateway and its worker process each load the whole program: slow on a loaded machine.
  await waitFor(async () => (output.includes('Ready.') ? true : child.exitCode !== null ? Promise.reject(new Error(output)) : undefined), 150_000, 200).catch((err: Error) => {
    throw new Error(`${err.message}; output so far:\n${output}`);
  });
  return { child, output: () => output };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('npm start', () => {
  it('starts on embedded defaults, serves a task, stops cleanly and restarts with its data', { timeout: 480_000 }, async () => {
    // Below the ephemeral range: the restart reuses them, and no outgoing connection may take one meanwhile.
    const ports = { http: await freePortBelowEphemeral(), temporal: await freePortBelowEphemeral() };
    const first = await start(ports);
    const key = /API key \(shown once, store it now\): (cdx_sk_\S+)/.exec(first.output())?.[1];
    expect(key).toBeDefined();
    expect(first.output()).toContain(`GraphQL          http://127.0.0.1:${ports.http}/graphql`);
    const api = restClient(`http://127.0.0.1:${ports.http}`, key);
    const { task_id } = (await api.post('/v1/agents/execute', executeBody([vulnerableJs]))).body;
    const done = await waitFor(async () => {
      const res = await api.get(`/v1/agents/tasks/${task_id}`);
      return res.body.status === 'completed' ? res.body : undefined;
    });
    expect(done.result.findings[0]).toMatchObject({ rule_id: 'sql-injection', line: 3 });

    // The worker is a child process of the gateway (CPU-heavy activities never block HTTP there).
    const workerPid = Number(/Worker queues .*\(worker process (\d+)\)/.exec(first.output())?.[1]);
    expect(workerPid).toBeGreaterThan(0);
    expect(workerPid).not.toBe(first.child.pid);
    expect(existsSync(`/proc/${workerPid}`)).toBe(true);

    // A worker that dies is restarted; the gateway answered all along.
    process.kill(workerPid, 'SIGKILL');
    const restarted = await waitFor(async () => /"pid":(\d+),"msg":"the worker process restarted and polls"/.exec(first.output())?.[1], 150_000, 200);
    const newWorkerPid = Number(restarted);
    expect(newWorkerPid).not.toBe(workerPid);
    const later = (await api.post('/v1/agents/execute', executeBody([vulnerableJs]))).body;
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${later.task_id}`)).body.status === 'completed' ? true : undefined));
    const pid = Number(readFileSync(join(dataDir, 'temporal.pid'), 'utf8'));
    const postgresPid = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    // The client above holds keep-alive connections: shutdown still ends cleanly, exit code 0.
    expect(await stop(first.child)).toBe(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false); // the dev server went with it
    expect(existsSync(`/proc/${newWorkerPid}`)).toBe(false); // and the worker (a worker exit other than 0 fails the gateway's)
    expect(existsSync(`/proc/${postgresPid}`)).toBe(false); // and the PostgreSQL server
    expect(existsSync(join(dataDir, 'temporal.pid'))).toBe(false);

    const second = await start(ports);
    expect(second.output()).not.toContain('API key (shown once');
    const again = await api.get(`/v1/agents/tasks/${task_id}`);
    expect(again.body).toMatchObject({ task_id, status: 'completed' });
    expect(again.body.result).toEqual(done.result);
    expect(await stop(second.child)).toBe(0);
  });
});
