/**
 * The workflow bundle, built once per change of the workflow code and cached outside the repo,
 * so a worker starts in a second instead of re-running webpack at every start.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { Logger } from '../logger.js';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const workflowsDir = fileURLToPath(new URL('../../workflows/', import.meta.url));

/** Temporal's OpenTelemetry workflow interceptors, bundled in only when tracing is on. */
const tracingInterceptors = createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

async function sourceHash(traced: boolean): Promise<string> {
  const hash = createHash('sha256');
  if (traced) hash.update('traced');
  const sdk = JSON.parse(await readFile(createRequire(import.meta.url).resolve('@temporalio/workflow/package.json'), 'utf8')) as { version: string };
  hash.update(sdk.version);
  for (const name of (await readdir(workflowsDir)).sort()) {
    hash.update(name).update(await readFile(join(workflowsDir, name)));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Returns the bundle's code, building it only when the workflows changed since the last build.
 * `traced`: with the tracing interceptors (a bundle of its own; the untraced one has none).
 */
export async function loadWorkflowBundle(cacheDir: string, logger: Logger, traced = false): Promise<{ code: string }> {
  const dir = join(cacheDir, 'workflow-bundles');
  const file = join(dir, `${await sourceHash(traced)}.js`);
  try {
    return { code: await readFile(file, 'utf8') };
  } catch {
    logger.info('building the workflow bundle (once per change of workflows/)');
    const { code } = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: traced ? [tracingInterceptors] : [],
      logger: quietBundlerLogger(logger),
    });
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, file); // atomic: parallel workers never read a half-written bundle
    return { code };
  }
}

function quietBundlerLogger(logger: Logger) {
  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, meta?: Record<string, unknown>) =>
    logger[level === 'info' ? 'debug' : level]({ ...meta }, message);
  return { trace: log('debug'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), log: (level: string, message: string) => logger.debug(message) };
}
