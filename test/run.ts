/**
 * `npm test`: sets up what the suite needs on this machine and runs it.
 * - PostgreSQL: TEST_DATABASE_URL if set; else the Debian cluster (installed with apt-get when
 *   missing and running as root), started if stopped, and stopped again at the end.
 * - The Temporal CLI (dev server): found or built once into the cache (see src/embedded/temporal.ts).
 * Prints vitest's output, then the plain summary line `N passed, N failed` from its JSON report.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv, loadConfig } from '../src/config.js';
import { findTemporalCli } from '../src/embedded/temporal.js';

const root = new URL('../', import.meta.url).pathname;
const env = childEnv({});
const log = (line: string) => console.log(`[test] ${line}`);
const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function ensurePostgres(): { url: string; stop: () => void } {
  if (env.TEST_DATABASE_URL) return { url: env.TEST_DATABASE_URL, stop: () => {} };
  const versions = () => (existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)) : []);
  if (versions().length === 0) {
    if (process.getuid?.() !== 0) throw new Error('PostgreSQL is not installed: install it (apt-get install postgresql) or set TEST_DATABASE_URL.');
    log('installing PostgreSQL (apt-get install postgresql)…');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'postgresql'], { stdio: 'inherit', env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }) });
    if (install.status !== 0) throw new Error('apt-get install postgresql failed');
  }
  const version = versions()[0]!;
  let clusters = run('pg_lsclusters', ['--no-header']).trim();
  if (!clusters.split('\n').some((l) => l.startsWith(`${version} main`))) {
    log(`creating PostgreSQL ${version} cluster "main"`);
    run('pg_createcluster', [version, 'main']);
    clusters = run('pg_lsclusters', ['--no-header']).trim();
  }
  const line = clusters.split('\n').find((l) => l.startsWith(`${version} main`))!.split(/\s+/);
  const port = line[2]!;
  let started = false;
  if (line[3] !== 'online') {
    log(`starting PostgreSQL ${version} (port ${port})`);
    run('pg_ctlcluster', [version, 'main', 'start']);
    started = true;
  }
  run('runuser', ['-u', 'postgres', '--', 'psql', '-p', port, '-qc', "ALTER USER postgres PASSWORD 'postgres'"]);
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      if (started) {
        log('stopping the PostgreSQL cluster this run started');
        run('pg_ctlcluster', [version, 'main', 'stop']);
      }
    },
  };
}

const config = loadConfig();
const postgres = ensurePostgres();
let status = 1;
try {
  const temporalCli = await findTemporalCli({ explicitPath: config.TEMPORAL_CLI_PATH, cacheDir: config.cacheDir, log });
  const resultsDir = join(root, '.test-results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonFile = join(resultsDir, 'vitest.json');
  const vitest = spawnSync(
    process.execPath,
    [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`, ...process.argv.slice(2)],
    { cwd: root, stdio: 'inherit', env: childEnv({ TEST_DATABASE_URL: postgres.url, TEMPORAL_CLI_PATH: temporalCli }) },
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
  status = vitest.status === 0 && failed === 0 && passed > 0 ? 0 : 1;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
} finally {
  postgres.stop();
}
process.exit(status);
