/** Applies pending migrations from prisma/migrations, as `prisma migrate deploy` does. */
import { PrismaPg } from '@prisma/adapter-pg';
import { noFilters, openSchemaEngine, readMigrationsList } from './schema-engine.js';

/** Applies every migration not yet recorded in `_prisma_migrations`; returns the names applied. */
export async function applyMigrations(connectionString: string): Promise<string[]> {
  const engine = await openSchemaEngine(new PrismaPg({ connectionString, max: 1 }));
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList: await readMigrationsList(),
      filters: noFilters,
    });
    return appliedMigrationNames;
  } finally {
    engine.free();
  }
}
