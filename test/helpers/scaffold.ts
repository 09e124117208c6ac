/**
 * Builds a scaffold archive the way its user would, offline: unzip it, give it the gateway's own
 * node_modules (a symlink: the templates need only typescript and @types/node, which the gateway
 * has), `tsc --noEmit`, then `tsc` and `node --test dist/test/` (its tests use node:test).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type JSZip from 'jszip';

const run = promisify(execFile);
const nodeModules = fileURLToPath(new URL('../../node_modules', import.meta.url));
const tsc = join(nodeModules, 'typescript', 'bin', 'tsc');

/** Unzips, typechecks, builds and runs the scaffold's tests; returns the test output. Throws with the output on failure. */
export async function buildScaffold(zip: JSZip, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'scaffold-'));
  try {
    for (const [path, entry] of Object.entries(zip.files)) {
      if (entry.dir) continue;
      const target = join(dir, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, await entry.async('nodebuffer'));
    }
    const root = join(dir, name);
    await symlink(nodeModules, join(root, 'node_modules'), 'dir');
    const step = async (file: string, args: string[]) => {
      try {
        return await run(process.execPath, [file, ...args], { cwd: root, timeout: 120_000 });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        throw new Error(`${[file, ...args].join(' ')} failed in the scaffold:\n${e.stdout ?? ''}${e.stderr ?? ''}${e.message}`, { cause: err });
      }
    };
    await step(tsc, ['-p', '.', '--noEmit']);
    await step(tsc, ['-p', '.']);
    const tests = await step('--test', ['dist/test/']);
    return tests.stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
