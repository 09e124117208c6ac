import { spawnSync } from 'node:child_process';
import { childEnv, searchPath } from '../../src/config.js';

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: childEnv({ PATH: searchPath() }) }).stdout.trim();

/**
 * Chromium for the viewer's browser tests: CHROMIUM_PATH if set; else Debian's chromium
 * (installed with apt-get when missing and running as root). Returns its path, or null when it
 * cannot be had (the browser tests then fail with that reason).
 */
export function ensureChromium(givenPath: string | undefined, log: (line: string) => void): string | null {
  if (givenPath) return givenPath;
  let binary = which('chromium') || which('chromium-browser');
  if (!binary && process.getuid?.() === 0) {
    log('installing Chromium for the viewer tests (apt-get install chromium)…');
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const install = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env: childEnv({ DEBIAN_FRONTEND: 'noninteractive' }) });
    if (install.status === 0) binary = which('chromium');
  }
  if (!binary) log('Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH): the viewer tests will fail');
  return binary || null;
}
