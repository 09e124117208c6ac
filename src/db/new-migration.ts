/**
 * `npm run db:migration -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql with
 * the SQL that takes the previous migration's schema to prisma/schema.prisma (see write-migration.ts).
 */
import { join } from 'node:path';
import { migrationsDir, schemaPath } from './schema-engine.js';
import { writeMigration } from './write-migration.js';

const name = (process.argv[2] ?? '').trim();
if (!/^[a-z0-9_]+$/.test(name)) {
  console.error('Usage: npm run db:migration -- <name>   (name in lower-case letters, digits and underscores)');
  process.exit(2);
}
const dir = await writeMigration({ migrationsDir, schemaPath, name });
console.log(dir ? `Wrote ${join(dir, 'migration.sql')}` : 'prisma/schema.prisma matches the last migration: nothing to write.');
