/**
 * The Temporal dev server for the embedded default and for tests: found on PATH, at
 * TEMPORAL_CLI_PATH or in the cache, or built once from source with Go (no release downloads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { childEnv, searchPath } from '../config.js';
import { devServerSearchAttributeFlags } from '../temporal/search-attributes.js';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function onPath(name: string): string | null {
  for (const dir of searchPath().split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/**
 * Finds the `temporal` CLI, or builds it with Go into `<cacheDir>/bin` (a few minutes, once).
 * Throws a message naming every way to provide it when none works.
 */
export async function findTemporalCli(options: { explicitPath?: string; cacheDir: string; log: (line: string) => void }): Promise<string> {
  if (options.explicitPath) {
    if (!existsSync(options.explicitPath)) throw new Error(`TEMPORAL_CLI_PATH points to ${options.explicitPath}, which does not exist.`);
    return options.explicitPath;
  }
  const cached = join(options.cacheDir, 'bin', 'temporal');
  const found = onPath('temporal') ?? (existsSync(cached) ? cached : null);
  if (found) return found;
  const go = onPath('go');
  if (!go) {
    throw new Error(
      'The Temporal dev server is needed and no `temporal` CLI was found. Either install the Temporal CLI on PATH, ' +
        'set TEMPORAL_CLI_PATH to it, install Go (1.22+) so it can be built once automatically, ' +
        'or set TEMPORAL_ADDRESS to use a running Temporal server.',
    );
  }
  options.log(`Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) with Go into ${cached}: once, a few minutes…`);
  await mkdir(join(options.cacheDir, 'bin'), { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], {
      env: childEnv({ GOBIN: join(options.cacheDir, 'bin') }),
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${code}).`))));
  });
  return cached;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  /** The server's process (tests kill it to play a crash). */
  pid: number;
  stop: () => Promise<void>;
}

/** Kills a dev server left running by a previous start that died without cleaning up. */
async function reapStale(pidFile: string) {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (!pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline.includes('start-dev')) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await delay(100);
  }
  await rm(pidFile, { force: true });
}

/** The lines of a failed start's output that say why (a Go panic's stack says nothing by its last lines). */
function startupFailure(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.trim());
  const reason = lines.filter((l) => /panic|error|fatal|in use|denied/i.test(l) && !/^\s|\.go:\d+/.test(l)).slice(0, 3);
  return (reason.length ? reason : lines.slice(-3)).join(' | ') || 'no output';
}

/** Starts `temporal server start-dev` and resolves once it answers gRPC. */
export async function startTemporalDevServer(options: {
  cli: string;
  port: number;
  uiPort: number | null;
  /** SQLite file for persistence; null keeps everything in memory (tests). */
  dbFile: string | null;
  namespace: string;
  pidFile?: string;
}): Promise<DevServer> {
  if (options.pidFile) await reapStale(options.pidFile);
  if (options.dbFile) await mkdir(join(options.dbFile, '..'), { recursive: true });
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--log-level', 'error', '--namespace', options.namespace, ...devServerSearchAttributeFlags()];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  const child: ChildProcess = spawn(options.cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  if (options.pidFile && child.pid) await writeFile(options.pidFile, String(child.pid));
  const address = `127.0.0.1:${options.port}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    }
    if (options.pidFile) await rm(options.pidFile, { force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`The Temporal dev server exited during start-up: ${startupFailure(stderr)}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`The Temporal dev server did not answer on ${address} within 60 s.`);
      }
      await delay(250);
    }
  }
  return { address, uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : null, pid: child.pid!, stop };
}
