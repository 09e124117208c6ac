import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb, type Db } from '../../src/db/client.js';
import { startEmbeddedDatabase } from '../../src/runtime.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { startEmbeddedPostgres } from '../../src/embedded/postgres.js';
import { findTemporalCli } from '../../src/embedded/temporal.js';
import { hashApiKey } from '../../src/services/auth/api-keys.js';
import { bootstrapLocalUser } from '../../src/services/auth/bootstrap.js';

/** The user a stored, unrevoked key belongs to. */
async function keyOwner(db: Db, key: string): Promise<string | undefined> {
  const row = await db.apiKey.findUnique({ where: { secretHash: hashApiKey(key) } });
  return row && !row.revokedAt ? row.userId : undefined;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'codex-infra-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function emptyDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: inject('databaseUrl') });
  await admin.connect();
  const name = `${inject('dbPrefix')}fempty${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return Object.assign(new URL(inject('databaseUrl')), { pathname: `/${name}` }).toString();
}

describe('migrations without the native engine', () => {
  it('applies every migration to an empty PostgreSQL once, and nothing the second time', async () => {
    const url = await emptyDatabase();
    const first = await applyMigrations(url);
    expect(first.length).toBeGreaterThan(0);
    expect(first[0]).toMatch(/^\d{14}_init$/);
    expect(await applyMigrations(url)).toEqual([]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name');
    await client.end();
    expect(rows.map((r) => r.migration_name)).toEqual(first);
    expect(rows.every((r) => r.finished_at)).toBe(true);
  });

  it('writes no migration when the schema matches the last one', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/db/new-migration.ts', 'nothing_changed'], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('nothing to write');
  });

  it('refuses a migration name that is not lower-case words', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/db/new-migration.ts', 'Bad Name'], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Usage: npm run db:migration');
  });
});

describe('embedded PostgreSQL server', () => {
  /** A folder the server's user can enter (mkdtemp makes mode 700 ones). */
  const openDir = () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    return dir;
  };

  it('keeps its data across a restart, behind a password only its owner can read', async () => {
    const dataDir = join(openDir(), 'postgres');
    let server = await startEmbeddedPostgres({ dataDir, database: 'codex' });
    expect(server.clusterDir).toBe(dataDir);
    expect(statSync(`${dataDir}.password`).mode & 0o777).toBe(0o600);
    await applyMigrations(server.url);
    let db = createDb(server.url, 2);
    const created = await bootstrapLocalUser(db, undefined);
    expect(created?.createdSecret).toMatch(/^cdx_sk_/);
    await db.$disconnect();
    await server.stop();

    server = await startEmbeddedPostgres({ dataDir, database: 'codex' });
    expect(await applyMigrations(server.url)).toEqual([]);
    db = createDb(server.url, 2);
    expect(await keyOwner(db, created!.createdSecret!)).toBe(created!.userId);
    expect(await bootstrapLocalUser(db, undefined)).toBeNull(); // no second user, no second key printed
    await db.$disconnect();

    // Any other password is refused, and the server listens on loopback only.
    const wrong = new pg.Client({ connectionString: Object.assign(new URL(server.url), { password: 'postgres' }).toString() });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);
    const check = new pg.Client({ connectionString: server.url });
    await check.connect();
    const { rows } = await check.query("SELECT current_setting('listen_addresses') AS listen, current_setting('password_encryption') AS enc");
    await check.end();
    expect(rows[0]).toEqual({ listen: '127.0.0.1', enc: 'scram-sha-256' });
    await server.stop();
  });

  it('answers many connections at once, each with its own rows', async () => {
    const server = await startEmbeddedPostgres({ dataDir: null });
    const pool = new pg.Pool({ connectionString: server.url, max: 10 });
    pool.on('error', () => {}); // an idle connection closing as the server stops
    try {
      // Interleaved extended-protocol statements with different parameter counts on one pool: the
      // single-connection engine this replaced answered some of them with another query's rows.
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          i % 2 ? pool.query('SELECT $1::int AS i, pg_sleep(0.002)', [i]) : pool.query('SELECT $1::int AS i, $2::text AS s', [i, `row${i}`]),
        ),
      );
      results.forEach((r, i) => expect(r.rows).toEqual([i % 2 ? { i, pg_sleep: '' } : { i, s: `row${i}` }]));
    } finally {
      await pool.end();
      await server.stop();
    }
    expect(existsSync(server.clusterDir)).toBe(false); // a throwaway cluster is removed at stop
  });

  it('runs a transaction that had to wait over 2 s for a pooled connection, as a plain query waits', async () => {
    // Under load the pool is busy for seconds at a time. Prisma's default gave up on starting a
    // transaction after 2 s (P2028), so a cancel answered 500 while the reads beside it waited.
    const server = await startEmbeddedPostgres({ dataDir: null });
    const db = createDb(server.url, 1);
    try {
      await db.$queryRaw`SELECT 1 AS one`;
      const busy = db.$queryRaw<Array<{ slept: string }>>`SELECT pg_sleep(3)::text AS slept`.then((rows) => rows.length);
      await new Promise((r) => setTimeout(r, 100)); // the only connection is now busy for 3 s
      const plain = db.$queryRaw<Array<{ one: number }>>`SELECT 1 AS one`.then((rows) => rows[0].one);
      const inTransaction = db.$transaction(async (tx) => (await tx.$queryRaw<Array<{ two: number }>>`SELECT 2 AS two`)[0].two);
      expect(await Promise.all([busy, plain, inTransaction])).toEqual([1, 1, 2]);
    } finally {
      await db.$disconnect();
      await server.stop();
    }
  });

  it('refuses to start over a PGlite folder of an earlier version, naming the import command', async () => {
    const dataDir = openDir();
    mkdirSync(join(dataDir, 'pglite'));
    const config = loadConfig({ DATA_DIR: dataDir });
    await expect(startEmbeddedDatabase(config, () => {})).rejects.toThrow(/npm run db:import-pglite/);
    expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
  });
});

describe('bootstrap', () => {
  it('uses CODEX_BOOTSTRAP_API_KEY as the first key, and adds it later if it is new', async () => {
    const url = await emptyDatabase();
    await applyMigrations(url);
    const db = createDb(url, 2);
    const key = `cdx_sk_${'a1'.repeat(16)}`;
    const first = await bootstrapLocalUser(db, key);
    expect(first).toMatchObject({ createdSecret: null });
    expect(await keyOwner(db, key)).toBe(first!.userId);
    const later = `cdx_sk_${'b2'.repeat(16)}`;
    expect(await bootstrapLocalUser(db, later)).toBeNull();
    expect(await keyOwner(db, later)).toBe(first!.userId);
    const stored = await db.apiKey.findMany();
    expect(stored.map((k) => k.secretHash)).not.toContain(key);
    expect(JSON.stringify(stored)).not.toContain(key.slice(7));
    await db.$disconnect();
  });
});

describe('Temporal CLI discovery', () => {
  it('names the missing file when TEMPORAL_CLI_PATH is wrong', async () => {
    await expect(findTemporalCli({ explicitPath: '/nonexistent/temporal', cacheDir: tempDir(), log: () => {} })).rejects.toThrow(
      'TEMPORAL_CLI_PATH points to /nonexistent/temporal, which does not exist.',
    );
  });
});
