/**
 * Which repositories may be cloned. A repository URL is untrusted input: https (ssh only when the
 * operator configured a key), on a public address unless private hosts are allowed, or a local
 * path under the operator's REPOSITORY_ROOT. No git options (`--upload-pack=…`), no transport
 * helpers (`ext::…`), no `..`, no credentials in the URL.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { HOST_NOT_ALLOWED, HostNotAllowedError, resolveAllowedHost } from '../../net/addresses.js';
import type { Config } from '../../config.js';
import { ValidationError } from '../../errors.js';

export type RepositorySource =
  /** `pin`: the checked addresses, handed to git so that it connects to them and not to what DNS answers later. */
  | { kind: 'https'; url: string; pin?: { host: string; port: number; addresses: string[] } }
  | { kind: 'ssh'; url: string }
  | { kind: 'local'; path: string };

type SourceConfig = Pick<Config, 'REPOSITORY_ROOT' | 'REPOSITORY_ALLOW_PRIVATE_HOSTS' | 'REPOSITORY_SSH_KEY_PATH'>;

const FIELD = 'repository_url';
const refuse = (message: string): never => {
  throw new ValidationError([{ field: FIELD, message }]);
};


const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$/;

/** Checks the host's addresses; returns those it checked (none when private hosts are allowed or it is an address itself). */
async function checkHost(host: string, config: SourceConfig): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (!HOST.test(host)) refuse(`has an invalid host name "${host}"`);
  if (config.REPOSITORY_ALLOW_PRIVATE_HOSTS) return [];
  let addresses: string[];
  try {
    addresses = (await resolveAllowedHost(bare)).map((a) => a.address);
  } catch (err) {
    if (err instanceof HostNotAllowedError) refuse(`${HOST_NOT_ALLOWED}; this server only clones from public hosts`);
    throw err;
  }
  return ipaddr.isValid(bare) ? [] : addresses;
}

async function checkLocal(path: string, config: SourceConfig): Promise<RepositorySource> {
  if (!config.REPOSITORY_ROOT) return refuse('is a local path, and this server does not allow local repositories (the operator sets REPOSITORY_ROOT to allow some)');
  if (path.split(/[\\/]/).includes('..')) refuse('must not contain ".." path segments');
  if (!isAbsolute(path)) refuse('must be an absolute path when it is a local path');
  const root = await realpath(config.REPOSITORY_ROOT).catch(() => refuse('is a local path, and the server\'s repository root is not available'));
  const real = await realpath(path).catch(() => null);
  // The answer is the same for a path that does not exist and one outside the root, so paths cannot be probed.
  const inside = real !== null && (real === root || real.startsWith(root.endsWith(sep) ? root : root + sep));
  if (!inside) return refuse('is not a repository under the server\'s repository root');
  const info = await stat(real);
  if (!info.isDirectory()) refuse('is not a repository under the server\'s repository root');
  return { kind: 'local', path: real };
}

/** Validates a repository URL or path and says how to clone it; throws a ValidationError saying why not. */
export async function resolveRepositorySource(raw: string, config: SourceConfig): Promise<RepositorySource> {
  const value = raw.trim();
  if (!value) refuse('must not be empty');
  if (value.length > 2048) refuse('must be at most 2,048 characters');
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\s\x00-\x1f\x7f]/.test(value)) refuse('must not contain spaces or control characters');
  if (value.startsWith('-')) refuse('must not start with "-" (it would be read as a git option)');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(value)) refuse('uses a git transport helper ("<transport>::<address>", e.g. ext::), which is not allowed');

  if (value.startsWith('/')) return checkLocal(value, config);
  if (/^file:/i.test(value)) {
    let path: string;
    try {
      path = fileURLToPath(value);
    } catch {
      return refuse('is not a valid file:// URL');
    }
    if (decodeURIComponent(value).split(/[\\/]/).includes('..')) refuse('must not contain ".." path segments');
    return checkLocal(path, config);
  }

  const scp = /^([A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(value);
  let url: URL | null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (url && url.protocol === 'https:') {
    if (url.username || url.password) refuse('must not contain credentials; the operator configures access instead');
    if (url.search || url.hash) refuse('must not have a query string or fragment');
    if (url.pathname.split('/').includes('..') || /%2e%2e/i.test(value)) refuse('must not contain ".." path segments');
    const addresses = await checkHost(url.hostname, config);
    return addresses.length ? { kind: 'https', url: url.href, pin: { host: url.hostname, port: Number(url.port || 443), addresses } } : { kind: 'https', url: url.href };
  }
  if ((url && url.protocol === 'ssh:') || (!url?.protocol.match(/^(https?|git|ftps?):$/) && scp && !value.includes('://'))) {
    if (!config.REPOSITORY_SSH_KEY_PATH) refuse('is an ssh URL, and this server has no ssh key configured (the operator sets REPOSITORY_SSH_KEY_PATH); use an https URL');
    const host = url && url.protocol === 'ssh:' ? url.hostname : scp![2];
    const path = url && url.protocol === 'ssh:' ? url.pathname : scp![3];
    if (host.startsWith('-') || path.startsWith('-')) refuse('must not start a host or path with "-"');
    if (url?.password) refuse('must not contain credentials');
    if (path.split('/').includes('..')) refuse('must not contain ".." path segments');
    await checkHost(host, config);
    return { kind: 'ssh', url: value };
  }
  if (url && ['http:', 'git:'].includes(url.protocol)) refuse(`uses ${url.protocol}// without encryption; use https://`);
  return refuse('must be an https:// URL of a git repository (or ssh, or a local path, where the operator allows them)');
}

/** Validates a branch name the way `git check-ref-format --branch` does, so it cannot be read as an option or a revision expression. */
export function checkBranchName(branch: string): string | null {
  if (!branch || branch.length > 255) return 'must be 1 to 255 characters';
  if (branch.startsWith('-')) return 'must not start with "-"';
  // eslint-disable-next-line no-control-regex -- git refuses control characters in ref names (git check-ref-format)
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(branch) || branch.includes('..') || branch.includes('@{') || branch === '@') {
    return 'is not a valid branch name (no spaces, "..", "~", "^", ":", "?", "*", "[", "\\" or "@{")';
  }
  if (branch.startsWith('/') || branch.endsWith('/') || branch.includes('//') || branch.endsWith('.') || branch.endsWith('.lock') || /(^|\/)\./.test(branch)) {
    return 'is not a valid branch name';
  }
  return null;
}
