/**
 * `npm run db:import-pglite`: copies the database an earlier version kept in <DATA_DIR>/pglite
 * (PGlite, PostgreSQL compiled to WebAssembly) into the embedded PostgreSQL server, once.
 *
 * Schema. The target is a cluster this command creates (it never merges into one that exists).
 * It is first migrated only through the last migration the old database had applied (its
 * finished `_prisma_migrations` rows, which must be the first migrations of prisma/migrations),
 * so both sides have the same tables and columns and every row copies as it is. The remaining
 * migrations run afterwards, over the copied rows, exactly as they would have run on the old
 * database in place: a later migration that adds a column with a default, or fills one from
 * existing rows, does so here too. (Migrating PGlite itself first would need its socket server,
 * a single-connection engine behind the schema engine's pool.) A database with a migration this
 * version does not know (a newer version made it) or with a failed one is refused.
 *
 * Rows. Each table is read from PGlite as PostgreSQL's own JSON text (`row_to_json`) through a
 * cursor, in batches, and written with `json_populate_recordset` on the target. Values go from
 * PostgreSQL's text form to PostgreSQL's parser with no JavaScript value in between, so bigint,
 * numeric, float, timestamps, bytea, enums and arrays arrive exactly as they were. json and jsonb
 * values travel as their text inside a JSON string (as a bare JSON value a stored JSON `null`
 * would turn into SQL NULL).
 * Generated columns are left for the target to compute; identity values are kept (OVERRIDING
 * SYSTEM VALUE); every sequence continues from where the old one stood (or from its column's
 * maximum, if higher), so no id is handed out twice.
 *
 * All or nothing. The copy is one transaction on the target with `session_replication_role =
 * replica` (foreign-key triggers off, so tables copy in any order), after emptying whatever the
 * migrations themselves inserted; row counts are compared per table before it commits. On any
 * failure the server is stopped and the cluster and its password file are removed again, so the
 * next `npm start` still refuses instead of starting on an empty database. On success the PGlite
 * folder is renamed to `pglite.imported-<date>`; the user deletes it when satisfied.
 *
 * `@electric-sql/pglite` is imported by this command only: one in-process connection, the one
 * way PGlite is safe to use.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import pg from 'pg';
import type { EmbeddedPostgres } from '../embedded/postgres.js';
import { embeddedDatabasePaths, loadConfigOrExit, startEmbeddedCluster } from '../runtime.js';
import { applyMigrations } from './migrate.js';
import { readMigrationsList } from './schema-engine.js';

/** Rows per read from PGlite and per INSERT on the target. */
const BATCH_ROWS = 1000;

/** A reason not to start, for the operator to act on: one line, exit status 2. */
class Refusal extends Error {}

/**
 * Ctrl-C or SIGTERM. The import stops at its next step and undoes itself through the failure
 * path (a process killed half-way would leave a cluster that `npm start` takes for a finished one).
 */
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (!interrupted) console.error('Stopping: the import is being undone.');
    interrupted = true;
  });
}

function stopIfInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

/** The part of PGlite's and pg's clients this command uses. */
type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

interface Column {
  name: string;
  generated: boolean;
  /** `json` or `jsonb`, else null. */
  json: string | null;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Tables of the public schema with their columns in order, Prisma's own `_prisma_migrations` aside. */
async function readTables(query: Query): Promise<Map<string, Column[]>> {
  const rows = await query<{ table_name: string; column_name: string; generated: boolean; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.is_generated = 'ALWAYS' AS generated, c.data_type
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> '_prisma_migrations'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  const tables = new Map<string, Column[]>();
  for (const r of rows) {
    if (!tables.has(r.table_name)) tables.set(r.table_name, []);
    tables.get(r.table_name)!.push({ name: r.column_name, generated: r.generated, json: ['json', 'jsonb'].includes(r.data_type) ? r.data_type : null });
  }
  return tables;
}

/** The old database's finished migrations, checked against this version's; returns the last one (null: none). */
async function checkMigrations(source: Query, local: string[]): Promise<string | null> {
  const [{ exists }] = await source<{ exists: boolean }>(`SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS exists`);
  if (!exists) return null;
  const rows = await source<{ migration_name: string; finished: boolean; rolled_back: boolean }>(
    `SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back
       FROM _prisma_migrations ORDER BY migration_name`,
  );
  const failed = rows.find((r) => !r.finished && !r.rolled_back);
  if (failed) throw new Refusal(`The PGlite database has a failed migration (${failed.migration_name}); it cannot be imported as it is.`);
  const applied = [...new Set(rows.filter((r) => r.finished && !r.rolled_back).map((r) => r.migration_name))];
  const unknown = applied.find((name) => !local.includes(name));
  if (unknown) {
    throw new Refusal(`The PGlite database was migrated by a newer or different version (migration ${unknown} is not in prisma/migrations): import it with that version.`);
  }
  const gap = local.slice(0, applied.length).find((name) => !applied.includes(name));
  if (gap) throw new Refusal(`The PGlite database lacks migration ${gap} but has later ones; it cannot be imported as it is.`);
  return applied.at(-1) ?? null;
}

/** Copies `table` from the source snapshot into the target (inside the caller's transaction); returns the row count. */
async function copyTable(source: Query, target: pg.Client, table: string, columns: Column[]): Promise<number> {
  const list = columns.map((c) => ident(c.name)).join(', ');
  const read = columns.map((c) => (c.json ? `${ident(c.name)}::text AS ${ident(c.name)}` : ident(c.name))).join(', ');
  const write = columns.map((c) => (c.json ? `(${ident(c.name)} #>> '{}')::${c.json}` : ident(c.name))).join(', ');
  await source(`DECLARE rows_out NO SCROLL CURSOR FOR SELECT row_to_json(r)::text AS json FROM (SELECT ${read} FROM ${ident(table)}) r`);
  let copied = 0;
  for (;;) {
    stopIfInterrupted();
    const batch = await source<{ json: string }>(`FETCH ${BATCH_ROWS} FROM rows_out`);
    if (!batch.length) break;
    await target.query(
      `INSERT INTO ${ident(table)} (${list}) OVERRIDING SYSTEM VALUE SELECT ${write} FROM json_populate_recordset(NULL::${ident(table)}, $1::json)`,
      [`[${batch.map((r) => r.json).join(',')}]`],
    );
    copied += batch.length;
  }
  await source('CLOSE rows_out');
  const [{ count: before }] = await source<{ count: string }>(`SELECT count(*)::text AS count FROM ${ident(table)}`);
  const { rows } = await target.query<{ count: string }>(`SELECT count(*)::text AS count FROM ${ident(table)}`);
  const after = rows[0].count;
  if (String(copied) !== before || after !== before) {
    throw new Error(`${table}: ${before} rows in PGlite, ${copied} read, ${after} in PostgreSQL`);
  }
  return copied;
}

/** Moves every sequence of the target to where the old one stood, or past its column's largest value. */
async function carrySequences(source: Query, target: pg.Client): Promise<void> {
  const old = new Map(
    (await source<{ name: string; last: string | null }>(`SELECT sequencename AS name, last_value::text AS last FROM pg_sequences WHERE schemaname = 'public'`)).map(
      (s) => [s.name, s.last],
    ),
  );
  const { rows } = await target.query<{ name: string; tbl: string | null; col: string | null }>(
    `SELECT s.relname AS name, t.relname AS tbl, a.attname AS col
       FROM pg_class s
       JOIN pg_namespace n ON n.oid = s.relnamespace AND n.nspname = 'public'
       LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class t ON t.oid = d.refobjid
       LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
      WHERE s.relkind = 'S'`,
  );
  for (const s of rows) {
    const highest = s.tbl && s.col ? `(SELECT max(${ident(s.col)}) FROM ${ident(s.tbl)})` : 'NULL';
    await target.query(
      `SELECT setval(seqrelid, v) FROM pg_sequence, greatest($2::bigint, ${highest}) AS v WHERE seqrelid = $1::regclass AND v >= seqmin`,
      [`public.${ident(s.name)}`, old.get(s.name) ?? null],
    );
  }
}

/** Copies every table of `source` into `url` in one transaction; returns rows per table. */
async function copyAll(source: Query, url: string, log: (line: string) => void): Promise<Map<string, number>> {
  const from = await readTables(source);
  const target = new pg.Client({ connectionString: url });
  await target.connect();
  try {
    const to = await readTables(<T,>(sql: string, params?: unknown[]) => target.query(sql, params).then((r) => r.rows as T[]));
    const plan = [...from].map(([table, columns]) => {
      const there = to.get(table);
      if (!there) throw new Error(`Table ${table} of the PGlite database does not exist in this version's schema`);
      const copied: Column[] = [];
      for (const column of columns.filter((c) => !c.generated)) {
        const twin = there.find((t) => t.name === column.name);
        if (!twin) throw new Error(`Column ${table}.${column.name} of the PGlite database does not exist in this version's schema`);
        if (!twin.generated) copied.push(twin); // a generated one is computed by the target
      }
      return { table, columns: copied };
    });
    const counts = new Map<string, number>();
    // One snapshot of the source for every table, so the copy is consistent across tables.
    await source('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await target.query('BEGIN');
    try {
      await target.query('SET LOCAL session_replication_role = replica');
      // Rows a migration inserted are in the old database too (it ran the same migrations), as they are now.
      if (to.size) await target.query(`TRUNCATE ${[...to.keys()].map(ident).join(', ')}`);
      for (const { table, columns } of plan) {
        const rows = await copyTable(source, target, table, columns);
        counts.set(table, rows);
        log(`  ${table}: ${rows} ${rows === 1 ? 'row' : 'rows'}`);
      }
      await carrySequences(source, target);
      await target.query('COMMIT');
    } catch (err) {
      await target.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      await source('ROLLBACK');
    }
    return counts;
  } finally {
    await target.end();
  }
}

/** Today as YYYY-MM-DD, for the renamed folder (with a counter if that name is taken). */
function importedName(pgliteDir: string): string {
  const base = `${pgliteDir}.imported-${new Date().toISOString().slice(0, 10)}`;
  let name = base;
  for (let i = 2; existsSync(name); i++) name = `${base}-${i}`;
  return name;
}

/** Migrates the new cluster to the old database's version, copies every row, then applies the later migrations. */
async function importInto(server: EmbeddedPostgres, source: Query, through: string | null, log: (line: string) => void): Promise<Map<string, number>> {
  if (through) await applyMigrations(server.url, { through });
  stopIfInterrupted();
  log(`Copying tables (schema as of ${through ?? 'no migration'}):`);
  const counts = await copyAll(source, server.url, log);
  stopIfInterrupted();
  const later = await applyMigrations(server.url);
  log(later.length ? `Applied ${later.length} later migration(s) over the copied rows: ${later.join(', ')}` : 'The schema is up to date.');
  return counts;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const { clusterDir, passwordFile, pgliteDir } = embeddedDatabasePaths(config);
  if (config.DATABASE_URL) {
    throw new Refusal(
      'DATABASE_URL is set, but this command imports into the embedded PostgreSQL server only: run it without DATABASE_URL, then copy the embedded `codex` database into your server with pg_dump and psql.',
    );
  }
  if (existsSync(passwordFile) || existsSync(clusterDir)) {
    throw new Refusal(
      `The embedded PostgreSQL server already has a database (${clusterDir}) and this command never merges into one: move ${clusterDir} and ${passwordFile} away to import into an empty one.`,
    );
  }
  if (!existsSync(pgliteDir)) throw new Refusal(`There is no PGlite folder at ${pgliteDir}: nothing to import.`);
  if (!existsSync(join(pgliteDir, 'PG_VERSION'))) throw new Refusal(`${pgliteDir} is not a PGlite data folder (it has no PG_VERSION file).`);
  if (existsSync(join(pgliteDir, 'postmaster.pid'))) {
    throw new Refusal(
      `${pgliteDir} is open (postmaster.pid): stop the earlier version that uses it first. If nothing uses it (it crashed), delete ${join(pgliteDir, 'postmaster.pid')} and run this again.`,
    );
  }

  const local = (await readMigrationsList()).migrationDirectories.map((m) => m.path);
  const log = (line: string) => console.log(line);
  log(`Opening ${pgliteDir}`);
  // pg_trgm is loaded in case the folder was migrated past the trigram indexes.
  const pglite = await PGlite.create(pgliteDir, { extensions: { pg_trgm } });
  const source: Query = async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows;
  let counts: Map<string, number>;
  try {
    const through = await checkMigrations(source, local);
    if (interrupted) throw new Error('Interrupted; nothing was changed.');
    let server: EmbeddedPostgres | null = null;
    try {
      server = await startEmbeddedCluster(config, log);
      stopIfInterrupted();
      log(`Created the embedded PostgreSQL server's cluster in ${server.clusterDir}`);
      counts = await importInto(server, source, through, log);
      await server.stop();
    } catch (err) {
      // Leave no half-imported cluster behind: the next `npm start` must still refuse.
      await server?.stop().catch(() => {});
      await rm(server?.clusterDir ?? clusterDir, { recursive: true, force: true });
      await rm(passwordFile, { force: true });
      throw new Error(`Import failed; the new cluster was removed again and ${pgliteDir} is as it was: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await pglite.close();
  }
  const renamed = importedName(pgliteDir);
  try {
    await rename(pgliteDir, renamed);
  } catch (err) {
    throw new Error(`Imported, but ${pgliteDir} could not be renamed (${(err as Error).message}): move it away yourself.`, { cause: err });
  }
  const rows = [...counts.values()].reduce((a, b) => a + b, 0);
  log(`Imported ${rows} rows in ${counts.size} tables into the embedded PostgreSQL server. The PGlite folder is now ${renamed}: delete it once you are satisfied.`);
}

try {
  await main();
} catch (err) {
  console.error((err as Error).message);
  process.exit(err instanceof Refusal ? 2 : interrupted ? 130 : 1);
}
