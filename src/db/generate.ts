/**
 * `npm run db:generate` (also run by `npm install`): generates the Prisma client into
 * src/generated/prisma. `prisma generate` does not use the native schema engine, but insists on
 * finding one; pointing it at any existing file lets it run where the engine cannot be downloaded.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { childEnv } from '../config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const result = spawnSync(process.execPath, [createRequire(import.meta.url).resolve('prisma/build/index.js'), 'generate'], {
  cwd: root,
  stdio: 'inherit',
  env: childEnv({ PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' }),
});
process.exit(result.status ?? 1);
