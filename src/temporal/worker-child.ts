/**
 * The worker of `npm start`, run as a child process (src/worker.ts, what `npm run worker` runs) so
 * that CPU-heavy activities (reviews, indexing, visualization parsing) never hold up the event
 * loop that serves HTTP. The child reaches the same PostgreSQL and Temporal, reports over an IPC
 * channel when it polls, runs at a lower CPU priority (nice 10), logs to the same output
 * (component "worker"), is restarted if it dies,
 * and stops when the gateway stops (or, should the gateway be killed, when the channel closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../config.js';
import type { Logger } from '../logger.js';

const WORKER_ENTRY = fileURLToPath(new URL('../worker.ts', import.meta.url));
const RESTART_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];
/** The worker's niceness (0 is the gateway's, 19 the lowest priority). */
const WORKER_NICE = 10;

/** The message the worker process sends its parent once every worker polls. */
export interface WorkerReadyMessage {
  type: 'worker-ready';
  queues: string[];
}

export interface WorkerChild {
  /** The task queues the worker polls. */
  queues: string[];
  /** The current worker process's id. */
  pid(): number | undefined;
  /** SIGTERM to the worker (it drains its activities); resolves when it has exited with 0, rejects otherwise. */
  shutdown(): Promise<void>;
}

/**
 * Starts the worker process against the given database and Temporal; resolves once it polls,
 * rejects with its exit code when it ends before that (its own message is already on stderr).
 */
export async function startWorkerChild(
  target: { databaseUrl: string; temporalAddress: string },
  logger: Logger,
  /** Settings for the worker beyond this process's environment (benchmarks set their queues this way). */
  env: Record<string, string> = {},
): Promise<WorkerChild> {
  const log = logger.child({ component: 'worker-supervisor' });
  let child: ChildProcess;
  let stopping = false;
  let failures = 0;

  const launch = () =>
    new Promise<WorkerReadyMessage>((resolve, reject) => {
      child = spawn(process.execPath, [...process.execArgv, WORKER_ENTRY], {
        env: childEnv({ ...env, DATABASE_URL: target.databaseUrl, TEMPORAL_ADDRESS: target.temporalAddress }),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      try {
        // Below the gateway's priority: when cores are scarce, HTTP answers come before analysis.
        setPriority(child.pid!, WORKER_NICE);
      } catch (err) {
        log.warn({ err }, 'could not lower the worker process priority');
      }
      let ready = false;
      child.on('message', (m: WorkerReadyMessage) => {
        if (m?.type !== 'worker-ready') return;
        ready = true;
        failures = 0;
        resolve(m);
      });
      child.once('exit', (code, signal) => {
        if (!ready) return reject(new Error(`the worker process exited during start-up (${signal ?? `code ${code}`})`));
        if (stopping) return;
        log.error({ code, signal }, 'the worker process ended');
        restart();
      });
    });
  // Backs off while restarts keep failing; a start that reaches polling resets the count.
  const restart = () => {
    const delay = RESTART_DELAYS_MS[Math.min(failures++, RESTART_DELAYS_MS.length - 1)];
    log.warn({ restartInMs: delay }, 'restarting the worker process');
    setTimeout(() => {
      if (!stopping) launch().then(() => log.warn({ pid: child.pid }, 'the worker process restarted and polls'), restart);
    }, delay).unref();
  };

  const first = await launch();
  log.info({ pid: child!.pid, queues: first.queues }, 'worker process polling');
  return {
    queues: first.queues,
    pid: () => child.pid,
    async shutdown() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`the worker process did not shut down cleanly (exit code ${code})`);
    },
  };
}
