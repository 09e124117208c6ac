/** Applies pending migrations from prisma/migrations, as `prisma migrate deploy` does. */
import { PrismaPg } from '@prisma/adapter-pg';
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
  const engine = await openSchemaEngine(new PrismaPg({ connectionString, max: 1 }));
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: noFilters });
    return appliedMigrationNames;
  } finally {
    engine.free();
  }
}
