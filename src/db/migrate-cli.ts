/** `npm run db:migrate`: applies pending migrations to DATABASE_URL (the embedded database migrates itself at start). */
import { loadConfigOrExit } from '../runtime.js';
import { applyMigrations } from './migrate.js';

const config = loadConfigOrExit();
if (!config.DATABASE_URL) {
  console.error('Set DATABASE_URL to the database to migrate (the embedded database is migrated by `npm start`).');
  process.exit(1);
}
const applied = await applyMigrations(config.DATABASE_URL);
console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'The database is up to date.');
