import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorkerHeartbeat } from '../../src/temporal/worker-heartbeat.js';

const quiet = { warn: () => {} };
const mtime = async (path: string) => (await stat(path).catch(() => null))?.mtimeMs ?? null;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('worker heartbeat file', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is touched while the workers poll, goes stale when they stop, and is removed at shutdown', async () => {
    dir = await mkdtemp(join(tmpdir(), 'heartbeat-'));
    const path = join(dir, 'worker.alive');
    let healthy = true;
    const heartbeat = startWorkerHeartbeat(path, () => healthy, quiet, 40);
    await pause(20);
    const first = await mtime(path);
    expect(first).not.toBeNull();
    await pause(120);
    const second = await mtime(path);
    expect(second!).toBeGreaterThan(first!);

    healthy = false;
    await pause(60);
    const stale = await mtime(path);
    await pause(120);
    expect(await mtime(path)).toBe(stale);

    await heartbeat.stop();
    expect(await mtime(path)).toBeNull();
  });

  it('says once why it cannot write, and never creates the file for a worker that is not polling', async () => {
    dir = await mkdtemp(join(tmpdir(), 'heartbeat-'));
    const warnings: string[] = [];
    const broken = startWorkerHeartbeat(join(dir, 'missing-dir', 'worker.alive'), () => true, { warn: (_obj: unknown, msg?: string) => warnings.push(String(msg)) } as never, 20);
    await pause(100);
    await broken.stop();
    expect(warnings).toEqual(['cannot write the worker heartbeat file']);

    const idle = startWorkerHeartbeat(join(dir, 'idle.alive'), () => false, quiet, 20);
    await pause(60);
    expect(await mtime(join(dir, 'idle.alive'))).toBeNull();
    await idle.stop();
  });
});
