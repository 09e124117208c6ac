/**
 * Runs git without a shell. Every call gets a fixed environment (no user or system config, no
 * prompts, no hooks) and a protocol allow-list, so a repository URL cannot pick a transport
 * (`ext::`, `fd::`) or run a program; callers put untrusted values after `--` / `--end-of-options`.
 */
import { spawn } from 'node:child_process';
import { gitEnv } from '../../config.js';

/** A git failure; `stderr` is for logs only (it may name paths), never for callers. */
export class GitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

export interface GitOptions {
  cwd?: string;
  /** Protocols git may use (`-c protocol.<name>.allow=always`); every other one is refused. */
  protocols?: Array<'https' | 'ssh' | 'file'>;
  /** Extra `-c name=value` settings. */
  config?: string[];
  /** Extra environment, e.g. GIT_SSH_COMMAND. */
  env?: Record<string, string>;
  stdin?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

function gitArgs(args: string[], options: GitOptions): string[] {
  const config = ['-c', 'protocol.allow=never', '-c', 'core.hooksPath=/dev/null', '-c', 'http.followRedirects=false', '-c', 'core.quotePath=false'];
  for (const p of options.protocols ?? []) config.push('-c', `protocol.${p}.allow=always`);
  for (const c of options.config ?? []) config.push('-c', c);
  return [...config, ...args];
}

/**
 * Spawns git and hands its stdout to `onData` as it arrives (parse while git writes). Resolves
 * when git exits 0; rejects with a GitError otherwise.
 */
export function streamGit(args: string[], onData: (chunk: Buffer) => void, options: GitOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', gitArgs(args, options), {
      cwd: options.cwd,
      env: gitEnv(options.env),
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    let failed: Error | null = null;
    child.stdout!.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        onData(chunk);
      } catch (err) {
        failed = err as Error;
        child.kill('SIGKILL');
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    if (options.stdin !== undefined) {
      child.stdin!.on('error', () => {}); // git exiting early closes its stdin; the exit code tells
      child.stdin!.end(options.stdin);
    }
    child.on('error', (err) => reject(failed ?? new GitError(`git could not run: ${err.message}`, null, stderr)));
    child.on('close', (code, signal) => {
      if (failed) return reject(failed);
      if (code === 0) return resolve();
      reject(new GitError(`git ${args[0]} ${signal ? `was stopped (${signal})` : `exited with ${code}`}`, code, stderr.trim()));
    });
  });
}

/** Runs git and returns its whole stdout. */
export async function runGit(args: string[], options: GitOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await streamGit(args, (c) => chunks.push(c), options);
  return Buffer.concat(chunks);
}

/** Splits a stream into NUL-terminated records, across chunk boundaries. */
export class NulSplitter {
  private rest: Buffer = Buffer.alloc(0);
  constructor(private readonly onRecord: (record: Buffer) => void) {}
  push(chunk: Buffer): void {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let i = buf.indexOf(0, start); i >= 0; i = buf.indexOf(0, start)) {
      this.onRecord(buf.subarray(start, i));
      start = i + 1;
    }
    this.rest = start < buf.length ? Buffer.from(buf.subarray(start)) : Buffer.alloc(0);
  }
  /** The bytes after the last NUL (a record git did not terminate), if any. */
  end(): void {
    if (this.rest.length) this.onRecord(this.rest);
    this.rest = Buffer.alloc(0);
  }
}
