/** Applies pending migrations from prisma/migrations, as `prisma migrate deploy` does. */
import { PrismaPg } from '@prisma/adapter-pg';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { retryStartup } from '../startup-retry.js';
import { noFilters, openSchemaEngine, readMigrationsList } from './schema-engine.js';

/**
 * Applies every migration not yet recorded in `_prisma_migrations`, or with `through` only those up
 * to and including that one (the PGlite import migrates to the old database's version first);
 * returns the names applied.
 */
export async function applyMigrations(connectionString: string, options: { through?: string } = {}): Promise<string[]> {
  const migrationsList = await readMigrationsList();
  if (options.through !== undefined) {
    const end = migrationsList.migrationDirectories.findIndex((m) => m.path === options.through);
    if (end < 0) throw new Error(`No migration ${options.through} in prisma/migrations`);
    migrationsList.migrationDirectories = migrationsList.migrationDirectories.slice(0, end + 1);
  }
  // Our own pool, ended when done: the engine's session-level migration lock is released only when
  // its connection closes, and an idle pooled connection would keep it (blocking other gateways).
  const applicationName = `codex-migrate-${randomBytes(6).toString('hex')}`;
  const pool = new pg.Pool({ connectionString, max: 1, application_name: applicationName });
  pool.on('error', () => {}); // an idle connection dropped by the server: the pool replaces it
  try {
    const engine = await openSchemaEngine(new PrismaPg(pool));
    try {
      const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: noFilters });
      return appliedMigrationNames;
    } finally {
      engine.free();
    }
  } catch (err) {
    // The engine gives up waiting for the lock after 10 s, but its pg_advisory_lock call is still
    // queued on the server: it would take the lock later on a connection nobody uses (and hold it).
    await endBackends(connectionString, applicationName);
    throw err;
  } finally {
    await pool.end();
  }
}

/** Ends the server-side sessions of the connections named `applicationName`. */
async function endBackends(connectionString: string, applicationName: string): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000, query_timeout: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
  } catch {
    // The database is gone too: so are the sessions.
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * `applyMigrations` for a process starting next to others: gateways and workers started together on
 * a new database race for the migration lock, and the losers' schema engine gives up after 10 s
 * (P1002) while the winner is still migrating. They wait and try again, for `totalSeconds` at most,
 * and then find nothing left to apply. Any other failure is thrown at once.
 */
export function applyMigrationsWaitingForLock(connectionString: string, totalSeconds: number, log: (line: string) => void): Promise<string[]> {
  return retryStartup(() => applyMigrations(connectionString), {
    what: 'The migration lock (another gateway or worker is migrating this database)',
    totalSeconds,
    log,
    isPermanent: (err) => !isMigrationLockTimeout(err),
  });
}

function isMigrationLockTimeout(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 'P1002' || (typeof e?.message === 'string' && /advisory lock/i.test(e.message));
}
