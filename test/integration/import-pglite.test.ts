import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/db/client.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { startEmbeddedDatabase } from '../../src/runtime.js';
import { hashApiKey } from '../../src/services/auth/api-keys.js';
import { newId } from '../../src/ids.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const migrationsDir = join(root, 'prisma/migrations');
const migrations = readdirSync(migrationsDir, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
/** The old database stops one migration short, so the import must apply the last one over its rows. */
const oldMigrations = migrations.slice(0, -1);

const dirs: string[] = [];
/** A folder the server's user can enter (it runs as `postgres` when the tests run as root). */
const openDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'codex-import-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs `npm run db:import-pglite`'s script on `dataDir`, as a user would. */
function runImport(dataDir: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/db/import-pglite.ts'],
      { cwd: root, env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', EMBEDDED_POSTGRES_PORT: '' }, timeout: 150_000 },
      (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Opens a copy of the template folder, runs `sql` on it, and closes it (as the earlier version left it). */
async function oldFolder(dataDir: string, sql?: string): Promise<string> {
  const dir = join(dataDir, 'pglite');
  cpSync(template, dir, { recursive: true });
  if (sql) {
    const db = await PGlite.create(dir, { extensions: { pg_trgm } });
    await db.exec(sql);
    await db.close();
  }
  return dir;
}

const user = { id: newId('user'), email: 'ada@example.com', name: 'Ada Lovelace', createdAt: '2026-01-02T03:04:05.678Z' };
const secret = `cdx_sk_${'Zx9'.repeat(12)}`;
const keyId = newId('apiKey');
const taskId = newId('task');
const projectId = newId('project');
const input = { context: { files: [{ path: 'app.py', content: 'import os\nos.system("rm -rf " + d)  # «naïve»\n' }] }, options: { temperature: 0.2 } };
const result = { findings: [{ rule_id: 'command-injection', severity: 'critical', line: 2 }], summary: 'Found 1 critical severity issue' };
let template: string;

// A PGlite folder as an earlier version left it: migrated (except the newest migration) the way
// `prisma migrate deploy` records it, holding a user, an API key and a finished task with its events.
beforeAll(async () => {
  template = join(openDir(), 'pglite');
  const db = await PGlite.create(template, { extensions: { pg_trgm } });
  await db.exec(`CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
  for (const name of oldMigrations) {
    const sql = readFileSync(join(migrationsDir, name, 'migration.sql'), 'utf8');
    await db.exec(sql);
    await db.query(`INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES (gen_random_uuid(), $1, now(), $2, 1)`, [
      createHash('sha256').update(sql).digest('hex'),
      name,
    ]);
  }
  await db.query(`INSERT INTO users (id, email, name, tier, created_at) VALUES ($1, $2, $3, 'pro', $4)`, [user.id, user.email, user.name, user.createdAt]);
  await db.query(
    `INSERT INTO api_keys (id, user_id, name, kind, display_prefix, secret_hash, allowed_cidrs, created_at)
     VALUES ($1, $2, 'laptop', 'secret', $3, $4, ARRAY['10.0.0.0/8', '2001:db8::/32'], $5)`,
    [keyId, user.id, secret.slice(0, 12), hashApiKey(secret), user.createdAt],
  );
  await db.query(
    `INSERT INTO agent_tasks (id, owner_id, agent_type, prompt, input, status, progress, result, error, prompt_tokens, completion_tokens,
       cost_usd, timeout_seconds, estimated_duration_seconds, created_at, started_at, completed_at)
     VALUES ($1, $2, 'security_expert', 'Review this code', $3, 'completed', 100, $4, 'null'::jsonb, 1234, 56, 0.000123456789, 600, 1,
       '2026-01-02T03:05:00.001Z', '2026-01-02T03:05:00.5Z', '2026-01-02T03:05:01.999Z')`,
    [taskId, user.id, JSON.stringify(input), JSON.stringify(result)],
  );
  await db.query(`INSERT INTO event_streams (id, last_seq) VALUES ($1, 3)`, [taskId]);
  for (const [seq, type] of [[1, 'progress'], [2, 'result'], [3, 'discarded']] as const) {
    await db.query(`INSERT INTO events (stream_id, seq, type, key, data) VALUES ($1, $2, $3, $4, $5)`, [taskId, seq, type, `k${seq}`, JSON.stringify({ seq, progress: seq * 50 })]);
  }
  // The sequence stood at 3: a new event must not reuse that id.
  await db.query(`DELETE FROM events WHERE seq = 3`);
  // An indexed project: its chunk's search vector is a generated column.
  await db.query(`INSERT INTO projects (id, owner_id, name, languages, style, index_status, index_files, index_chunks) VALUES ($1, $2, 'shop', ARRAY['python'], '{"indent": 4}', 'ready', 1, 1)`, [projectId, user.id]);
  await db.query(`INSERT INTO project_files (id, project_id, path, language, content_hash, size_bytes, line_count) VALUES ('f1', $1, 'app.py', 'python', 'abc', 64, 2)`, [projectId]);
  await db.query(`INSERT INTO project_chunks (id, project_id, file_id, path, start_line, end_line, content, terms) VALUES ('c1', $1, 'f1', 'app.py', 1, 2, 'os.system(cmd)', 'os system cmd')`, [projectId]);
  await db.close();
}, 180_000);

describe('npm run db:import-pglite', () => {
  it('copies every row of an earlier version into the embedded PostgreSQL server, applies the newer migration, and runs once', async () => {
    const dataDir = openDir();
    await oldFolder(dataDir);

    const run = await runImport(dataDir);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContain(`Copying tables (schema as of ${oldMigrations.at(-1)}):`);
    expect(lines).toEqual(expect.arrayContaining(['  users: 1 row', '  api_keys: 1 row', '  agent_tasks: 1 row', '  event_streams: 1 row', '  events: 2 rows', '  projects: 1 row', '  project_chunks: 1 row', '  reviews: 0 rows']));
    expect(lines).toContain(`Applied 1 later migration(s) over the copied rows: ${migrations.at(-1)}`);
    const imported = `${join(dataDir, 'pglite')}.imported-${new Date().toISOString().slice(0, 10)}`;
    expect(lines.at(-1)).toBe(
      `Imported 9 rows in ${lines.filter((l) => l.startsWith('  ')).length} tables into the embedded PostgreSQL server. The PGlite folder is now ${imported}: delete it once you are satisfied.`,
    );
    expect(existsSync(join(dataDir, 'pglite'))).toBe(false);
    expect(existsSync(join(imported, 'PG_VERSION'))).toBe(true);

    // `npm start` now starts on the imported data, and the gateway reads it as before.
    const server = await startEmbeddedDatabase(loadConfig({ DATA_DIR: dataDir }), () => {});
    const db = createDb(server.url, 2);
    const client = new pg.Client({ connectionString: server.url });
    try {
      expect(await applyMigrations(server.url)).toEqual([]);
      const key = await db.apiKey.findUnique({ where: { secretHash: hashApiKey(secret) }, include: { user: true } });
      expect(key).toMatchObject({ id: keyId, kind: 'secret', allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'], createdAt: new Date(user.createdAt) });
      expect(key!.user).toMatchObject({ id: user.id, email: user.email, name: user.name, tier: 'pro', createdAt: new Date(user.createdAt) });
      const task = await db.agentTask.findUniqueOrThrow({ where: { id: taskId } });
      expect(task).toMatchObject({
        ownerId: user.id,
        status: 'completed',
        input,
        result,
        promptTokens: 1234,
        costUsd: 0.000123456789,
        startedAt: new Date('2026-01-02T03:05:00.500Z'),
        completedAt: new Date('2026-01-02T03:05:01.999Z'),
      });
      const events = await db.event.findMany({ where: { streamId: taskId }, orderBy: { seq: 'asc' } });
      expect(events.map((e) => [e.id, e.seq, e.type, e.data])).toEqual([
        [1n, 1, 'progress', { seq: 1, progress: 50 }],
        [2n, 2, 'result', { seq: 2, progress: 100 }],
      ]);

      await client.connect();
      // A stored JSON null stays JSON null (not SQL NULL).
      const { rows: json } = await client.query(`SELECT error IS NULL AS sql_null, jsonb_typeof(error) AS type FROM agent_tasks`);
      expect(json).toEqual([{ sql_null: false, type: 'null' }]);
      // Ids continue after the old sequence (3 was handed out and deleted), not after the largest row.
      const { rows: next } = await client.query(`INSERT INTO events (stream_id, seq, type, key, data) VALUES ($1, 4, 'progress', 'k4', '{}') RETURNING id::int`, [taskId]);
      expect(next).toEqual([{ id: 4 }]);
      const { rows: found } = await client.query(`SELECT id FROM project_chunks WHERE search @@ to_tsquery('simple', 'system & cmd')`);
      expect(found).toEqual([{ id: 'c1' }]);
      // The newer migration ran: its column exists with its default.
      const { rows: columns } = await client.query(`SELECT column_default FROM information_schema.columns WHERE table_name = 'reviews' AND column_name = 'context_files'`);
      expect(columns).toEqual([{ column_default: "'[]'::jsonb" }]);
      const { rows: recorded } = await client.query(`SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name`);
      expect(recorded.map((r) => r.migration_name)).toEqual(migrations);
    } finally {
      await client.end().catch(() => {});
      await db.$disconnect();
      await server.stop();
    }

    // A second run never merges into the database the first one made.
    const again = await runImport(dataDir);
    expect(again.status).toBe(2);
    expect(again.stderr.trim()).toBe(
      `The embedded PostgreSQL server already has a database (${join(dataDir, 'postgres')}) and this command never merges into one: move ${join(dataDir, 'postgres')} and ${join(dataDir, 'postgres.password')} away to import into an empty one.`,
    );
  }, 240_000);

  it('refuses with one line when there is no PGlite folder', async () => {
    const dataDir = openDir();
    const run = await runImport(dataDir);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`There is no PGlite folder at ${join(dataDir, 'pglite')}: nothing to import.\n`);
    expect(run.stdout).toBe('');
    expect(readdirSync(dataDir)).toEqual([]);
  }, 120_000);

  it('refuses a database migrated by a newer version before creating anything', async () => {
    const dataDir = openDir();
    await oldFolder(dataDir, `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name) VALUES (gen_random_uuid(), 'x', now(), '29990101000000_from_the_future')`);
    const run = await runImport(dataDir);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('migration 29990101000000_from_the_future is not in prisma/migrations');
    expect(readdirSync(dataDir)).toEqual(['pglite']);
  }, 180_000);

  it('removes the cluster it created when the copy fails, so `npm start` still refuses', async () => {
    const dataDir = openDir();
    // A table this version's schema does not have: its rows would be lost, so nothing is imported.
    await oldFolder(dataDir, `CREATE TABLE legacy_notes (id int PRIMARY KEY, body text); INSERT INTO legacy_notes VALUES (1, 'keep me')`);
    const run = await runImport(dataDir);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`Import failed; the new cluster was removed again and ${join(dataDir, 'pglite')} is as it was: Table legacy_notes of the PGlite database does not exist in this version's schema`);
    expect(existsSync(join(dataDir, 'postgres'))).toBe(false);
    expect(existsSync(join(dataDir, 'postgres.password'))).toBe(false);
    expect(existsSync(join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
    await expect(startEmbeddedDatabase(loadConfig({ DATA_DIR: dataDir }), () => {})).rejects.toThrow(/npm run db:import-pglite/);
  }, 180_000);
});
