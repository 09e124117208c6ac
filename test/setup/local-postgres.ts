import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { childEnv } from '../../src/config.js';

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * PostgreSQL for tests and benchmarks: `givenUrl` if set; else the Debian cluster, installed with
 * apt-get when missing (as root), started when stopped. `stop` stops only what this call started.
 */
export function ensurePostgres(givenUrl: string | undefined, log: (line: string) => void): { url: string; stop: () => void } {
  if (givenUrl) return { url: givenUrl, stop: () => {} };
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
