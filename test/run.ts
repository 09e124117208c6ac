/**
 * `npm test`: sets up what the suite needs on this machine and runs it.
 * - PostgreSQL: TEST_DATABASE_URL if set; else a throwaway embedded PostgreSQL server of this run's
 *   own (see test/setup/local-postgres.ts), removed at the end.
 * - The Temporal CLI (dev server): found or built once into the cache (see src/embedded/temporal.ts).
 * The whole suite (no arguments) starts with `npm run lint`; a failed lint counts as one failure.
 * A run of chosen files (`npm test -- test/unit/x.test.ts`) skips the lint.
 * Prints vitest's output, then the plain summary line `N passed, N failed` from its JSON report.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv, loadConfig } from '../src/config.js';
import { findTemporalCli } from '../src/embedded/temporal.js';
import { ensurePostgres } from './setup/local-postgres.js';
import { ensureRedis } from './setup/local-redis.js';
import { ensureChromium } from './setup/local-chromium.js';

const root = new URL('../', import.meta.url).pathname;
const env = childEnv({});
const log = (line: string) => console.log(`[test] ${line}`);

/** Runs ESLint over the tree (its problems are printed as they are found); true when it is clean. */
function lint(): boolean {
  log('lint: npm run lint');
  const eslint = spawnSync('npm', ['run', '--silent', 'lint'], { cwd: root, stdio: 'inherit' });
  log(eslint.status === 0 ? 'lint: no problems' : 'lint: FAILED (the problems are listed above)');
  return eslint.status === 0;
}

/** The dashboard's browser tests need its bundle: built at install, built here when a checkout has none yet. */
function ensureDashboardBundle(): void {
  if (existsSync(join(root, 'dist/web/index.html'))) return;
  log('dashboard: no bundle in dist/web; npm run web:build');
  spawnSync('npm', ['run', '--silent', 'web:build'], { cwd: root, stdio: 'inherit' });
}

const lintClean = process.argv.length > 2 || lint();
ensureDashboardBundle();
const config = loadConfig();
const postgres = await ensurePostgres(env.TEST_DATABASE_URL, log);
const redis = await ensureRedis(env.TEST_REDIS_URL, log);
const chromium = ensureChromium(env.CHROMIUM_PATH, log);
let status: number;
let summary: string;
try {
  const temporalCli = await findTemporalCli({ explicitPath: config.TEMPORAL_CLI_PATH, cacheDir: config.cacheDir, log });
  const resultsDir = join(root, '.test-results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonFile = join(resultsDir, 'vitest.json');
  const vitest = spawnSync(
    process.execPath,
    [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`, ...process.argv.slice(2)],
    { cwd: root, stdio: 'inherit', env: childEnv({ TEST_DATABASE_URL: postgres.url, TEST_REDIS_URL: redis.url, TEMPORAL_CLI_PATH: temporalCli, ...(chromium ? { CHROMIUM_PATH: chromium } : {}) }) },
  );
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (existsSync(jsonFile)) {
    const report = JSON.parse(readFileSync(jsonFile, 'utf8'));
    passed = report.numPassedTests;
    failed = report.numFailedTests + (report.numFailedTestSuites > 0 && report.numFailedTests === 0 ? report.numFailedTestSuites : 0);
    skipped = report.numPendingTests + report.numTodoTests;
  } else failed = 1;
  // A run that errored outside any test (a broken setup file, say) still counts as a failure.
  if (vitest.status !== 0 && failed === 0) failed = 1;
  if (!lintClean) failed += 1;
  status = vitest.status === 0 && failed === 0 && passed > 0 ? 0 : 1;
  summary = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
} finally {
  redis.stop();
  await postgres.stop();
}
if (!lintClean) log('lint FAILED: ESLint found problems, listed before the tests (`npm run lint` shows them again)');
// CI reads this line: it must be the last one printed.
console.log(summary);
process.exit(status);
