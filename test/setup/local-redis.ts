import { spawn, spawnSync } from 'node:child_process';
import { childEnv, searchPath } from '../../src/config.js';
import { freePort } from '../../src/embedded/postgres.js';

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: childEnv({ PATH: searchPath() }) }).stdout.trim();

/**
 * Redis for tests and benchmarks: `givenUrl` if set; else a private redis-server (installed with
 * apt-get when missing, as root) on a free loopback port, without persistence. `stop` ends it.
 */
export async function ensureRedis(givenUrl: string | undefined, log: (line: string) => void): Promise<{ url: string; stop: () => void }> {
  if (givenUrl) return { url: givenUrl, stop: () => {} };
  let binary = which('redis-server');
  if (!binary) {
    if (process.getuid?.() !== 0) throw new Error('redis-server is not installed: install it (apt-get install redis-server) or set TEST_REDIS_URL.');
    log('installing Redis (apt-get install redis-server)…');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit', env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }) });
    if (install.status !== 0) throw new Error('apt-get install redis-server failed');
    binary = which('redis-server');
  }
  const port = await freePort();
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // Ready when it answers PING.
  for (let i = 0; i < 100; i++) {
    if (spawnSync(which('redis-cli') || 'redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`started Redis on port ${port}`);
  return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}
