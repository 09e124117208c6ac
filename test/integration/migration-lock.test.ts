/**
 * Gateways and workers started together on a new database race for the migration lock. The one that
 * loses waits for the winner (its schema engine gives up on the lock after 10 s, P1002) and tries
 * again, instead of exiting; then it finds every migration applied.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { applyMigrationsWaitingForLock } from '../../src/db/migrate.js';
import { readMigrationsList } from '../../src/db/schema-engine.js';
import { withDatabase } from '../setup/global.js';
import { dropDatabase } from '../helpers/system.js';

/** The key Prisma's schema engine locks while it migrates. */
const PRISMA_MIGRATION_LOCK = 72707369;
const name = `${inject('dbPrefix')}m${randomBytes(6).toString('hex')}`;
let url: string;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: inject('databaseUrl') });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`); // empty: nothing migrated yet
  await admin.end();
  url = withDatabase(inject('databaseUrl'), name);
});
afterAll(() => dropDatabase(name));

it('a process that finds the migration lock taken waits for it and then migrates, instead of exiting', async () => {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATION_LOCK]);
  // The holder (another gateway, mid-migration) lets go after the schema engine's 10 s lock timeout.
  const release = setTimeout(() => void holder.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATION_LOCK]), 12_000);
  const lines: string[] = [];
  try {
    const applied = await applyMigrationsWaitingForLock(url, 60, (line) => lines.push(line));
    const all = (await readMigrationsList()).migrationDirectories.map((m) => m.path);
    expect(applied).toEqual(all);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^The migration lock .* is not reachable yet \(attempt 1: .*\); retrying in/);
  } finally {
    clearTimeout(release);
    await holder.end();
  }
}, 90_000);

it('a lock still held when the retry time is spent ends in a StartupError naming the lock', async () => {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATION_LOCK]);
  try {
    await expect(applyMigrationsWaitingForLock(url, 0, () => {})).rejects.toMatchObject({
      name: 'StartupError',
      message: expect.stringMatching(/^The migration lock .* is unreachable: /),
    });
  } finally {
    await holder.end();
  }
}, 60_000);

it('a failure that waiting cannot fix is thrown at once, without retries', async () => {
  const lines: string[] = [];
  const missing = withDatabase(inject('databaseUrl'), `${name}_missing`);
  await expect(applyMigrationsWaitingForLock(missing, 60, (line) => lines.push(line))).rejects.toThrow();
  expect(lines).toEqual([]);
});
