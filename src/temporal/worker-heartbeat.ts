/**
 * A file touched while this worker process polls Temporal. A worker serves no HTTP, so its container
 * healthcheck (docker-compose.yml) reads the file's age instead: stale or missing means unhealthy.
 */
import { rm, writeFile } from 'node:fs/promises';
import type { Logger } from '../logger.js';

/** The file's name under DATA_DIR (docker-compose.yml's worker healthcheck reads /app/.data/<this>). */
export const WORKER_HEARTBEAT_FILE = 'worker.alive';

/** How often the file is touched; the healthcheck allows a few missed beats. */
export const WORKER_HEARTBEAT_MS = 10_000;

/** Touches `path` now and every `intervalMs` while `healthy()` holds; `stop` removes it. */
export function startWorkerHeartbeat(
  path: string,
  healthy: () => boolean,
  logger: Pick<Logger, 'warn'>,
  intervalMs = WORKER_HEARTBEAT_MS,
): { stop(): Promise<void> } {
  let failing = false;
  const beat = async () => {
    if (!healthy()) return;
    try {
      await writeFile(path, `${new Date().toISOString()}\n`);
      failing = false;
    } catch (err) {
      // The healthcheck will report the worker unhealthy; say why once, not every beat.
      if (!failing) logger.warn({ err, path }, 'cannot write the worker heartbeat file');
      failing = true;
    }
  };
  let last = beat();
  const timer = setInterval(() => {
    last = beat();
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await last;
      await rm(path, { force: true });
    },
  };
}
