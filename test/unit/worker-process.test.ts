import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run worker` as a real process, with only the given environment (and PATH). */
function runWorker(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/worker.ts', ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'warn', ...env }, timeout: 120_000 },
      (_err, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr: stderr.trim() }),
    );
  });
}

// Port 1 on the loopback: nothing listens there, so every connection is refused at once.
const unreachable = { DATABASE_URL: 'postgresql://codex:s3cret-pw@127.0.0.1:1/codex', TEMPORAL_ADDRESS: '127.0.0.1:1' };

describe('worker process start-up', () => {
  let gpuWithoutModel: Run;
  let noDatabase: Run;
  // Each start loads the whole worker (seconds of CPU): both run at once, the tests read the results.
  beforeAll(async () => {
    [gpuWithoutModel, noDatabase] = await Promise.all([
      runWorker(['--queues', 'gpu'], unreachable),
      runWorker(['--queues', 'cpu'], { ...unreachable, STARTUP_RETRY_SECONDS: '2' }),
    ]);
  }, 150_000);

  it('refuses to run the gpu queue alone without MODEL_BASE_URL, before connecting anywhere', () => {
    expect(gpuWithoutModel.status).toBe(1);
    expect(gpuWithoutModel.stderr).toBe('A gpu worker needs MODEL_BASE_URL: the OpenAI-compatible API its model agents call (e.g. http://vllm:8000/v1).');
    expect(gpuWithoutModel.stdout).toBe('');
  });

  it('retries an unreachable PostgreSQL, then exits with one line that names it without its password', () => {
    expect(noDatabase.status).toBe(1);
    expect(noDatabase.stderr).toMatch(/^PostgreSQL at 127\.0\.0\.1:1\/codex is unreachable after \d attempts in \d s \(STARTUP_RETRY_SECONDS=2\): connect ECONNREFUSED 127\.0\.0\.1:1$/);
    const retries = noDatabase.stdout.trim().split('\n').map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const r of retries) expect(r).toMatchObject({ level: 40, msg: expect.stringMatching(/^PostgreSQL at 127\.0\.0\.1:1\/codex is not reachable yet \(attempt \d: connect ECONNREFUSED 127\.0\.0\.1:1\); retrying in /) });
    expect(noDatabase.stdout + noDatabase.stderr).not.toContain('s3cret-pw');
  });
});
