/**
 * Repository URLs are untrusted input. Accepted: `https://host/path` (no credentials, no options,
 * a public address unless REPOSITORY_ALLOW_PRIVATE_HOSTS), and, when the operator sets
 * REPOSITORY_ROOT, a local path (or file:// URL) inside that directory. Refused: every other
 * scheme (ext::, ssh, git, http, file:// outside the root), values that look like git options.
 * Cloning runs `git` with execFile (no shell), the URL after `--`, protocols other than https and
 * file disabled, no HTTP redirects, and the host pinned to the addresses that were checked (no DNS
 * rebinding).
 */
import { execFile } from 'node:child_process';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { HOST_NOT_ALLOWED, HostNotAllowedError, resolveAllowedHost } from '../../net/addresses.js';
import { gitEnv, type Config } from '../../config.js';

export type RepositorySource = { kind: 'https'; url: string; host: string; port: number } | { kind: 'local'; path: string };

/** A refusal with a message the caller can act on. */
export class RepositoryUrlError extends Error {}

type RepoConfig = Pick<Config, 'REPOSITORY_ROOT' | 'REPOSITORY_ALLOW_PRIVATE_HOSTS'>;


async function insideRoot(root: string, candidate: string): Promise<string> {
  const realRoot = await realpath(root).catch(() => {
    throw new RepositoryUrlError('the repository root configured by the operator (REPOSITORY_ROOT) does not exist');
  });
  const target = await realpath(resolve(realRoot, candidate)).catch(() => null);
  const rel = target === null ? null : relative(realRoot, target);
  if (rel === null || rel.startsWith('..') || isAbsolute(rel) || (rel !== '' && rel.split(sep)[0] === '..')) {
    throw new RepositoryUrlError('must be an existing directory inside the repository root configured by the operator (REPOSITORY_ROOT)');
  }
  return target!;
}

/**
 * Checks a repository URL and says where it leads. `resolveHost` false skips the DNS lookup of an
 * https host name (a literal address is always checked); cloning always resolves.
 */
export async function checkRepositoryUrl(value: string, config: RepoConfig, resolveHost = true): Promise<RepositorySource & { addresses?: string[] }> {
  const v = value.trim();
  if (!v || v.length > 2000) throw new RepositoryUrlError('must be 1 to 2,000 characters');
  if (v.startsWith('-')) throw new RepositoryUrlError('must not start with "-" (it would be read as a git option)');
  if (/^[a-z][a-z0-9+.-]*::/i.test(v)) throw new RepositoryUrlError('must be an https:// URL; git transport helpers (such as ext::) are refused');
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\s\0-\x1f\x7f]/.test(v)) throw new RepositoryUrlError('must not contain spaces or control characters');
  const local = v.startsWith('/') || v.toLowerCase().startsWith('file:') || v.startsWith('.');
  if (local) {
    if (!config.REPOSITORY_ROOT) throw new RepositoryUrlError('must be an https:// URL; local paths are allowed only when the operator sets REPOSITORY_ROOT');
    let path = v;
    if (v.toLowerCase().startsWith('file:')) {
      try {
        path = fileURLToPath(v);
      } catch {
        throw new RepositoryUrlError('must be a valid file:// URL');
      }
    }
    if (!isAbsolute(path)) throw new RepositoryUrlError('must be an absolute path inside REPOSITORY_ROOT');
    return { kind: 'local', path: await insideRoot(config.REPOSITORY_ROOT, path) };
  }
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new RepositoryUrlError('must be an https:// URL, e.g. https://github.com/owner/repo.git');
  }
  if (url.protocol !== 'https:') throw new RepositoryUrlError(`must be an https:// URL (got ${url.protocol.replace(':', '')}://)`);
  if (url.username || url.password) throw new RepositoryUrlError('must not contain credentials; only public https repositories can be cloned');
  if (url.search || url.hash) throw new RepositoryUrlError('must not contain a query string or fragment');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host || host.startsWith('-')) throw new RepositoryUrlError('must name a host');
  const port = url.port ? Number(url.port) : 443;
  const source = { kind: 'https' as const, url: url.toString(), host, port };
  if (config.REPOSITORY_ALLOW_PRIVATE_HOSTS) return source;
  const refusePrivate = () => new RepositoryUrlError(`${HOST_NOT_ALLOWED} (the operator can allow private hosts with REPOSITORY_ALLOW_PRIVATE_HOSTS)`);
  if (host === 'localhost' || host.endsWith('.localhost') || (!ipaddr.isValid(host) && !host.includes('.'))) throw refusePrivate();
  if (!resolveHost && !ipaddr.isValid(host)) return source;
  let addresses: string[];
  try {
    addresses = (await resolveAllowedHost(host)).map((a) => a.address);
  } catch (err) {
    throw err instanceof HostNotAllowedError ? refusePrivate() : err;
  }
  return { ...source, addresses };
}

function run(args: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      args,
      {
        timeout: timeoutMs,
        signal,
        maxBuffer: 1024 * 1024,
        env: gitEnv(),
      },
      (err, _stdout, stderr) => {
        if (!err) return resolvePromise();
        if (signal?.aborted) return reject((signal.reason as Error | undefined) ?? err); // the run was cancelled: not the repository's fault
        const reason = (err as { killed?: boolean }).killed ? 'it took too long (REPOSITORY_CLONE_TIMEOUT_SECONDS)' : String(stderr).split('\n').find((l) => l.startsWith('fatal:'))?.slice(7).trim() || 'git failed';
        reject(new RepositoryUrlError(`The repository could not be cloned: ${reason}.`));
      },
    );
  });
}

/**
 * Clones the default branch (or `branch`) of a checked repository, shallowly, into `dir`. Throws
 * RepositoryUrlError (safe to show) when the URL is refused or git cannot clone it.
 */
export async function cloneRepository(
  value: string,
  branch: string | null,
  dir: string,
  config: RepoConfig & Pick<Config, 'REPOSITORY_CLONE_TIMEOUT_SECONDS'>,
  signal?: AbortSignal,
): Promise<void> {
  const source = await checkRepositoryUrl(value, config, true);
  if (branch != null && (!/^[A-Za-z0-9._/-]{1,200}$/.test(branch) || branch.startsWith('-') || branch.includes('..'))) {
    throw new RepositoryUrlError('The branch name must be letters, digits, ".", "_", "/" or "-", and must not start with "-".');
  }
  const args = ['-c', 'protocol.allow=never', '-c', `protocol.${source.kind === 'https' ? 'https' : 'file'}.allow=always`, '-c', 'core.symlinks=false', '-c', 'http.followRedirects=false'];
  if (source.kind === 'https' && 'addresses' in source && source.addresses?.length) {
    // Connect to the addresses that were checked, not to whatever the name resolves to later.
    const pinned = source.addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',');
    args.push('-c', `http.curloptResolve=${source.host}:${source.port}:${pinned}`);
  }
  args.push('clone', '--depth', '1', '--single-branch', '--no-tags', '--quiet');
  if (branch) args.push('--branch', branch);
  args.push('--', source.kind === 'https' ? source.url : `file://${source.path}`, dir);
  await run(args, config.REPOSITORY_CLONE_TIMEOUT_SECONDS * 1000, signal);
}

/** Caps on what is read from a clone: files, bytes per file, and (optionally) bytes in all. */
export interface ReadCaps {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes?: number;
}

/**
 * The text files of a checked-out clone, in path order, as paths relative to its root ("/"
 * separators). Skips `.git`, what `ignored` matches, binary files and symbolic links (a clone
 * is made with core.symlinks=false); files past a cap are listed in `skipped` with the setting that capped them.
 */
export async function readRepositoryFiles(
  dir: string,
  caps: ReadCaps,
  ignored: (p: string) => boolean,
  skipped: string[],
): Promise<Array<{ path: string; content: string }>> {
  const files: Array<{ path: string; content: string }> = [];
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const path = rel ? posix.join(rel, e.name) : e.name;
      if (e.name === '.git' || ignored(path) || ignored(`${path}/`)) continue;
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) {
        if (files.length >= caps.maxFiles) {
          skipped.push(`${path} (over PROJECT_MAX_FILES)`);
          continue;
        }
        const st = await lstat(join(dir, path));
        if (st.size > caps.maxFileBytes) {
          skipped.push(`${path} (larger than PROJECT_FILE_MAX_BYTES)`);
          continue;
        }
        if (caps.maxTotalBytes !== undefined && total + st.size > caps.maxTotalBytes) {
          skipped.push(`${path} (over AGENT_REPOSITORY_MAX_BYTES in all)`);
          continue;
        }
        const buf = await readFile(join(dir, path));
        if (buf.includes(0)) continue; // binary
        total += buf.length;
        files.push({ path, content: buf.toString('utf8') });
      }
    }
  };
  await walk('');
  return files;
}
