/**
 * Once per run: a migrated template database on the test PostgreSQL, and a Temporal dev server
 * (in memory, on a free port), or with TEST_TEMPORAL=server the Temporal server itself on the
 * test PostgreSQL. Test files clone the template and use their own task queues.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config.js';
import { applyMigrations } from '../../src/db/migrate.js';
import { freePort } from '../../src/embedded/postgres.js';
import { findTemporalCli, startTemporalDevServer } from '../../src/embedded/temporal.js';
import { startTemporalServer } from '../../src/embedded/temporal-server.js';

/**
 * Names are per checkout (a hash of its path), so suites run from two checkouts against one
 * PostgreSQL (a worktree beside the main clone) never drop each other's databases.
 */
const checkoutTag = createHash('sha256').update(fileURLToPath(new URL('../../', import.meta.url))).digest('hex').slice(0, 8);
export const DB_PREFIX = `codex_test_${checkoutTag}_`;
export const TEMPLATE_DB = `${DB_PREFIX}template`;

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
    templateDb: string;
    dbPrefix: string;
    temporalAddress: string;
  }
}

/** The same server URL with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const config = loadConfig();
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set: run the suite with `npm test`, which sets up PostgreSQL.');
  if (process.env.TEST_TEMPORAL && process.env.TEST_TEMPORAL !== 'server' && process.env.TEST_TEMPORAL !== 'dev') {
    throw new Error(`TEST_TEMPORAL is ${process.env.TEST_TEMPORAL}: use \`server\` (the Temporal server on PostgreSQL) or \`dev\` (the default).`);
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await applyMigrations(withDatabase(adminUrl, TEMPLATE_DB));
  // Databases left by an earlier, interrupted run.
  const stale = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`${DB_PREFIX}f`]);
  for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await admin.end();

  const temporal = process.env.TEST_TEMPORAL === 'server' ? await startServer(adminUrl, config.cacheDir) : await startDevServer(config);

  project.provide('databaseUrl', adminUrl);
  if (!process.env.TEST_REDIS_URL) throw new Error('TEST_REDIS_URL is not set: run the suite with `npm test`, which starts Redis.');
  project.provide('redisUrl', process.env.TEST_REDIS_URL);
  project.provide('templateDb', TEMPLATE_DB);
  project.provide('dbPrefix', DB_PREFIX);
  project.provide('temporalAddress', temporal.address);
  return async () => {
    await temporal.stop();
  };
}

async function startDevServer(config: ReturnType<typeof loadConfig>) {
  const cli = await findTemporalCli({ explicitPath: config.TEMPORAL_CLI_PATH, cacheDir: config.cacheDir, log: console.log });
  return startTemporalDevServer({ cli, port: await freePort(), uiPort: null, dbFile: null, namespace: 'default' });
}

/** The Temporal server on the run's PostgreSQL, its databases fresh each run as the dev server's memory is. */
async function startServer(adminUrl: string, cacheDir: string) {
  const database = `${DB_PREFIX}temporal`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (const name of [database, `${database}_visibility`]) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  return startTemporalServer({ postgresUrl: adminUrl, port: await freePort(), cacheDir, database, log: console.log });
}
