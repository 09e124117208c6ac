/**
 * The Temporal server itself (not the dev server), with PostgreSQL persistence and SQL visibility:
 * built once from source with Go into the cache, its schemas applied with its own `sql` tool.
 * For tests that need a production-shaped engine and for operators who want to see the recipe run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { childEnv, searchPath } from '../config.js';
import { freePort, freePortBelowEphemeral } from './postgres.js';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_PACKAGES = ['go.temporal.io/server/cmd/server', 'go.temporal.io/server/cmd/tools/sql'];

/** Where the server and its schema tool are. */
export interface TemporalServerBinaries {
  server: string;
  sql: string;
  /** The go.temporal.io/server module in the Go module cache: its schemas and sample configs. */
  moduleDir: string;
}

export interface TemporalServer {
  /** host:port of the frontend's gRPC API. */
  address: string;
  /** The server's process (tests kill it to play a crash). */
  pid: number;
  stop: () => Promise<void>;
}

function onPath(name: string): string | null {
  for (const dir of searchPath().split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

/** Runs a program to completion; rejects with the tail of its output when it fails. */
function run(program: string, args: string[], env: NodeJS.ProcessEnv = childEnv({})): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${program} ${args.join(' ')} failed (exit ${code}): ${output.trim().split('\n').slice(-5).join(' | ')}`)),
    );
  });
}

/**
 * Finds the Temporal server and its `sql` schema tool in `<cacheDir>/bin`, or builds both there
 * with Go (about two minutes when the modules are cached; once). Never builds into the repository.
 */
export async function findOrBuildTemporalServer(options: { cacheDir: string; log: (line: string) => void }): Promise<TemporalServerBinaries> {
  const go = onPath('go');
  if (!go) throw new Error('The Temporal server is built from source with Go, and no `go` is on PATH: install Go (1.24+).');
  const bin = join(options.cacheDir, 'bin');
  const server = join(bin, 'server');
  const sql = join(bin, 'sql');
  // Both binaries are built together, so a version marker tells a stale pair from the right one.
  const marker = join(bin, '.temporal-server-version');
  const built = existsSync(server) && existsSync(sql) && (await readFile(marker, 'utf8').catch(() => '')) === TEMPORAL_SERVER_VERSION;
  if (!built) {
    const modules = SERVER_PACKAGES.map((pkg) => `${pkg}@${TEMPORAL_SERVER_VERSION}`);
    options.log(`Building the Temporal server (${modules.join(', ')}) with Go into ${bin}: once, a few minutes…`);
    await mkdir(bin, { recursive: true });
    await run(go, ['install', ...modules], childEnv({ GOBIN: bin }));
    await writeFile(marker, TEMPORAL_SERVER_VERSION);
  }
  const modCache = (await run(go, ['env', 'GOMODCACHE'])).trim();
  const moduleDir = join(modCache, `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`);
  if (!existsSync(join(moduleDir, 'schema'))) {
    // The binaries may outlive a cleaned module cache; this brings the module's files back.
    await run(go, ['mod', 'download', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`]);
  }
  return { server, sql, moduleDir };
}

/**
 * Creates a database with its schema at the newest version, or brings an existing one up to date:
 * `create-database` and `setup-schema` only for a new database, then `update-schema` always.
 */
async function applySchema(options: { sql: string; admin: URL; database: string; versionedDir: string; exists: boolean }) {
  const { admin } = options;
  const base = [
    '--plugin', 'postgres12',
    '--ep', admin.hostname,
    '-p', admin.port || '5432',
    '-u', decodeURIComponent(admin.username),
    '-pw', decodeURIComponent(admin.password),
    '--db', options.database,
  ];
  if (!options.exists) {
    await run(options.sql, [...base, 'create-database']);
    await run(options.sql, [...base, 'setup-schema', '-v', '0.0']);
  }
  await run(options.sql, [...base, 'update-schema', '-d', options.versionedDir]);
}


/**
 * Distinct free ports: the services must not share one. Membership ports are stored in a
 * SMALLINT column (cluster_membership.rpc_port), so those must be below 32768, under the range
 * the OS hands out for port 0.
 */
async function freePorts(count: number, taken: number[], options: { below32768?: boolean } = {}): Promise<number[]> {
  const ports = new Set<number>(taken);
  const result: number[] = [];
  while (result.length < count) {
    const port = options.below32768 ? await freePortBelowEphemeral() : await freePort();
    if (ports.has(port)) continue;
    ports.add(port);
    result.push(port);
  }
  return result;
}

/** The module's development-postgres12.yaml, pointed at this PostgreSQL and these ports. */
async function writeConfig(options: { moduleDir: string; root: string; admin: URL; databases: [string, string]; port: number }) {
  const configDir = join(options.root, 'config');
  await mkdir(configDir, { recursive: true });
  await cp(join(options.moduleDir, 'config/dynamicconfig'), join(configDir, 'dynamicconfig'), { recursive: true });
  const doc = parseDocument(await readFile(join(options.moduleDir, 'config/development-postgres12.yaml'), 'utf8'));
  const { admin } = options;
  const [frontendHttp, metrics, history, matching, worker] = await freePorts(5, [options.port]);
  const membership = await freePorts(4, [options.port, frontendHttp, metrics, history, matching, worker], { below32768: true });
  for (const [store, database] of [['postgres-default', options.databases[0]], ['postgres-visibility', options.databases[1]]] as const) {
    const sql = ['persistence', 'datastores', store, 'sql'];
    doc.setIn([...sql, 'databaseName'], database);
    doc.setIn([...sql, 'connectAddr'], `${admin.hostname}:${admin.port || '5432'}`);
    doc.setIn([...sql, 'user'], decodeURIComponent(admin.username));
    doc.setIn([...sql, 'password'], decodeURIComponent(admin.password));
  }
  doc.setIn(['log', 'level'], 'warn');
  // pprof would listen on a fixed port; nothing here needs it.
  doc.deleteIn(['global', 'pprof']);
  doc.setIn(['global', 'metrics', 'prometheus', 'listenAddress'], `127.0.0.1:${metrics}`);
  const grpc = { frontend: options.port, history, matching, worker };
  for (const [i, service] of (['frontend', 'history', 'matching', 'worker'] as const).entries()) {
    doc.setIn(['services', service, 'rpc', 'grpcPort'], grpc[service]);
    doc.setIn(['services', service, 'rpc', 'membershipPort'], membership[i]);
  }
  doc.setIn(['services', 'frontend', 'rpc', 'httpPort'], frontendHttp);
  doc.setIn(['clusterMetadata', 'clusterInformation', 'active', 'rpcAddress'], `127.0.0.1:${options.port}`);
  doc.setIn(['dynamicConfigClient', 'filepath'], join(configDir, 'dynamicconfig/development-sql.yaml'));
  // `--env development` reads config/development.yaml.
  await writeFile(join(configDir, 'development.yaml'), doc.toString());
}

/**
 * Starts the Temporal server on a PostgreSQL server (`postgresUrl`: a URL of a role that may
 * create databases), its frontend on `port`: applies the schemas to `<database>` and
 * `<database>_visibility`, writes a config, starts it, waits until it answers and registers the
 * `default` namespace.
 */
export async function startTemporalServer(options: {
  postgresUrl: string;
  port: number;
  log: (line: string) => void;
  cacheDir: string;
  /** Name of the persistence database; visibility gets `<database>_visibility`. */
  database?: string;
}): Promise<TemporalServer> {
  const binaries = await findOrBuildTemporalServer({ cacheDir: options.cacheDir, log: options.log });
  const admin = new URL(options.postgresUrl);
  const database = options.database ?? 'temporal';
  const databases: [string, string] = [database, `${database}_visibility`];

  const client = new pg.Client({ connectionString: options.postgresUrl });
  await client.connect();
  const existing = await client
    .query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [databases])
    .finally(() => client.end());
  const exists = (name: string) => existing.rows.some((row) => row.datname === name);
  const schemaDir = join(binaries.moduleDir, 'schema/postgresql/v12');
  await applySchema({ sql: binaries.sql, admin, database: databases[0], versionedDir: join(schemaDir, 'temporal/versioned'), exists: exists(databases[0]) });
  await applySchema({ sql: binaries.sql, admin, database: databases[1], versionedDir: join(schemaDir, 'visibility/versioned'), exists: exists(databases[1]) });

  const root = await mkdtemp(join(tmpdir(), 'temporal-server-'));
  await writeConfig({ moduleDir: binaries.moduleDir, root, admin, databases, port: options.port });
  const child: ChildProcess = spawn(binaries.server, ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], {
    cwd: root,
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const address = `127.0.0.1:${options.port}`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
    }
    await rm(root, { recursive: true, force: true });
  };

  const deadline = Date.now() + 120_000;
  try {
    const connection = await waitUntilAnswers(address, deadline, () => (exited ? output : null), () => output);
    try {
      await registerDefaultNamespace(connection, deadline);
    } finally {
      await connection.close();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { address, pid: child.pid!, stop };
}

/** Connects once the frontend answers `getSystemInfo`; fails early when the server has exited. */
async function waitUntilAnswers(address: string, deadline: number, exitedWith: () => string | null, output: () => string): Promise<Connection> {
  const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ') || 'no output';
  for (;;) {
    const exitOutput = exitedWith();
    if (exitOutput !== null) throw new Error(`The Temporal server exited during start-up: ${tail(exitOutput)}`);
    const connection = await Connection.connect({ address, connectTimeout: 1000 }).catch(() => null);
    try {
      if (connection) {
        await connection.workflowService.getSystemInfo({});
        return connection;
      }
    } catch {
      await connection!.close().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error(`The Temporal server did not answer on ${address} within 120 s: ${tail(output())}`);
    await delay(500);
  }
}

/** Registers `default`; an existing one is fine (a database kept from an earlier start). */
async function registerDefaultNamespace(connection: Connection, deadline: number) {
  const ALREADY_EXISTS = 6;
  for (;;) {
    try {
      await connection.workflowService.registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: msToTs('1 day') });
      return;
    } catch (error) {
      if ((error as { code?: number }).code === ALREADY_EXISTS) return;
      // The frontend answers before every service has joined the ring; retry until the deadline.
      if (Date.now() > deadline) throw error;
      await delay(500);
    }
  }
}
