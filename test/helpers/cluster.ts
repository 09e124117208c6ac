/**
 * The production shape as separate processes for tests: gateways (`npm start` with RUN_WORKER=false)
 * and workers (`npm run worker`) started with one environment, each process's output kept so a
 * failure can show it, every process killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/embedded/postgres.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Gateway {
  url: string;
  wsUrl: string;
  child: ChildProcess;
}

export class Cluster {
  readonly gateways: Gateway[] = [];
  readonly workers: ChildProcess[] = [];
  private children = new Set<ChildProcess>();
  private outputs = new WeakMap<ChildProcess, string>();

  constructor(readonly env: Record<string, string>) {}

  /** Starts a gateway and resolves once it printed `Ready.`. */
  async startGateway(): Promise<Gateway> {
    const port = await freePort();
    const child = await this.launch(['src/main.ts'], { PORT: String(port), RUN_WORKER: 'false' }, 'Ready.');
    const gateway = { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}`, child };
    this.gateways.push(gateway);
    return gateway;
  }

  /** Starts a worker on the cpu queue and resolves once it polls (an info-level log line). */
  async startWorker(): Promise<ChildProcess> {
    const child = await this.launch(['src/worker.ts', '--queues', 'cpu'], { LOG_LEVEL: 'info' }, 'worker polling');
    this.workers.push(child);
    return child;
  }

  /** SIGKILLs every worker (whichever was running a piece of work is gone) and starts `count` new ones. */
  async replaceWorkers(count = 1): Promise<void> {
    for (const worker of this.workers.splice(0)) worker.kill('SIGKILL');
    await Promise.all(Array.from({ length: count }, () => this.startWorker()));
  }

  /** The processes that exited since they started, with the end of their output (none, when all is well). */
  exited(): string[] {
    return [...this.gateways.map((g) => g.child), ...this.workers].filter((c) => c.exitCode !== null || c.signalCode !== null).map((c) => `${c.spawnargs.slice(-3).join(' ')} exited (${c.exitCode ?? c.signalCode}):\n${this.output(c).slice(-3000)}`);
  }

  output(child: ChildProcess): string {
    return this.outputs.get(child) ?? '';
  }

  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }

  private launch(args: string[], extra: Record<string, string>, ready: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, env: { ...this.env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    let out = '';
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      this.outputs.set(child, out);
    };
    return new Promise((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        keep(d);
        if (out.includes(ready)) resolve(child);
      });
      child.stderr.on('data', keep);
      child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) before it was ready:\n${out.slice(-3000)}`)));
    });
  }
}

/** Resolves with a process's exit code once it exited. */
export const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
