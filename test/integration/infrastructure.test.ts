import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDb, type Db } from '../../src/db/client.js';
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

describe('embedded PostgreSQL (PGlite)', () => {
  it('keeps its data across a restart', async () => {
    const dataDir = tempDir();
    let pglite = await startEmbeddedPostgres({ dataDir });
    await applyMigrations(pglite.url);
    let db = createDb(pglite.url, 2);
    const created = await bootstrapLocalUser(db, undefined);
    expect(created?.createdSecret).toMatch(/^cdx_sk_/);
    await db.$disconnect();
    await pglite.stop();

    pglite = await startEmbeddedPostgres({ dataDir });
    expect(await applyMigrations(pglite.url)).toEqual([]);
    db = createDb(pglite.url, 2);
    expect(await keyOwner(db, created!.createdSecret!)).toBe(created!.userId);
    expect(await bootstrapLocalUser(db, undefined)).toBeNull(); // no second user, no second key printed
    await db.$disconnect();
    await pglite.stop();
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
