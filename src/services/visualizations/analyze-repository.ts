/**
 * Clones a repository (bare) and analyses its history with git itself. The history is cut into
 * contiguous ranges and one `git log --numstat` per range runs in parallel, each parsed while git
 * writes (the newest range starts walking at once; `git rev-list --skip` lists the older ones). The tip's files (sizes, line counts) are read
 * at the same time. One pass over the commits, newest first, then follows renames back to today's
 * paths and builds the nodes, edges, timeline and stats.
 */
import { cpus } from 'node:os';
import type { Config } from '../../config.js';
import { GitError, NulSplitter, runGit, streamGit, type GitOptions } from './git.js';
import { GitLogParser, LOG_FORMAT, type ParsedCommit } from './git-log-parser.js';
import { LANGUAGES_METHOD, languageOf } from './languages.js';
import type { RepositorySource } from './repository-source.js';

const lines = (buf: Buffer) => buf.toString('utf8').split('\n').filter(Boolean);

/** A failure the caller can act on (wrong branch, empty repository, clone refused); its message is safe to show. */
export class RepositoryError extends Error {
  override name = 'RepositoryError';
}

export interface AnalysisOptions {
  /** null: the repository's default branch. */
  branch: string | null;
  includeBranches: boolean;
  includeContributors: boolean;
  maxCommits: number;
  /** Name of the root directory node (the repository's name). */
  rootName: string;
  /** git log processes (default: CPU count, at most 8). */
  parallelism?: number;
  onProgress?: (progress: number, message: string) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface CommitRow {
  sha: string;
  author: string;
  authorName: string;
  message: string;
  timestamp: Date;
  parents: string[];
  filesChanged: number;
  insertions: number;
  deletions: number;
  branches: string[];
}

export interface VizNode {
  id: string;
  type: 'file' | 'directory' | 'contributor';
  name: string;
  /** Files and directories: the path ('' for the root); the parent directory's node id. */
  path?: string;
  parent?: string | null;
  language?: string | null;
  size?: number;
  lines?: number;
  files?: number;
  email?: string;
  insertions?: number;
  deletions?: number;
  churn: number;
  commits: number;
  first_commit_at: string | null;
  last_commit_at: string | null;
}

export interface VizEdge {
  source: string;
  target: string;
  type: 'authored' | 'co_changed';
  commits: number;
  churn?: number;
  first_commit_at: string | null;
}

export interface TimelineEntry {
  period_start: string;
  granularity: 'day' | 'week' | 'month';
  commits: number;
  insertions: number;
  deletions: number;
  files_changed: number;
  contributors: number;
}

export interface VizStats {
  total_commits: number;
  total_files: number;
  total_contributors: number;
  lines_of_code: number;
  /** Largest first (a list: PostgreSQL's jsonb does not keep the key order of an object). */
  languages: Array<{ name: string; percent: number }>;
  languages_method: string;
  branches: string[];
  head_sha: string;
  /** Edges kept are the strongest ones; these say how many there were. */
  edges_total: { authored: number; co_changed: number };
}

export interface AnalysisResult {
  branch: string;
  headSha: string;
  commits: CommitRow[];
  stats: VizStats;
  nodes: VizNode[];
  edges: VizEdge[];
  timeline: TimelineEntry[];
}

export const MAX_BRANCHES = 100;
/** Edge caps: a picture with more lines than this is unreadable, and the JSON would grow without bound. */
export const MAX_AUTHORED_EDGES = 5000;
export const MAX_CO_CHANGE_EDGES = 1000;
/** Commits touching more files than this (mass renames, reformatting) say nothing about coupling. */
const CO_CHANGE_MAX_FILES = 50;

function protocolsOf(source: RepositorySource): GitOptions['protocols'] {
  return source.kind === 'local' ? ['file'] : [source.kind];
}

function sshEnv(config: Pick<Config, 'REPOSITORY_SSH_KEY_PATH' | 'REPOSITORY_SSH_KNOWN_HOSTS'>): Record<string, string> {
  if (!config.REPOSITORY_SSH_KEY_PATH) return {};
  // git runs GIT_SSH_COMMAND through a shell: quote the operator's paths.
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const known = config.REPOSITORY_SSH_KNOWN_HOSTS ? ` -o UserKnownHostsFile=${q(config.REPOSITORY_SSH_KNOWN_HOSTS)}` : '';
  return { GIT_SSH_COMMAND: `ssh -i ${q(config.REPOSITORY_SSH_KEY_PATH)} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes${known}`, GIT_SSH_VARIANT: 'ssh' };
}

/** A bare clone of the repository into `dir` (one branch, or every branch with includeBranches). */
export async function cloneRepository(
  source: RepositorySource,
  dir: string,
  options: { branch: string | null; includeBranches: boolean; signal?: AbortSignal },
  config: Pick<Config, 'REPOSITORY_SSH_KEY_PATH' | 'REPOSITORY_SSH_KNOWN_HOSTS' | 'VISUALIZATION_CLONE_TIMEOUT_SECONDS'>,
): Promise<void> {
  const args = ['clone', '--bare', '--no-tags', '--quiet'];
  if (!options.includeBranches) args.push('--single-branch');
  if (options.branch && !options.includeBranches) args.push(`--branch=${options.branch}`);
  if (source.kind === 'local') args.push('--local');
  args.push('--', source.kind === 'local' ? source.path : source.url, dir);
  try {
    // git connects to the addresses that were checked, whatever DNS says by now (no rebinding to a private one).
    const pin = source.kind === 'https' && source.pin ? [`http.curloptResolve=${source.pin.host}:${source.pin.port}:${source.pin.addresses.map((a) => (a.includes(':') ? `[${a}]` : a)).join(',')}`] : [];
    await runGit(args, { protocols: protocolsOf(source), config: pin, env: sshEnv(config), signal: options.signal, timeoutMs: config.VISUALIZATION_CLONE_TIMEOUT_SECONDS * 1000 });
  } catch (err) {
    if (!(err instanceof GitError)) throw err;
    if (/Remote branch .* not found/i.test(err.stderr)) throw new RepositoryError(`The repository has no branch "${options.branch}".`);
    if (/not found|does not appear to be a git repository|repository .* does not exist|Could not read from remote/i.test(err.stderr)) {
      throw new RepositoryError('The repository could not be read: it does not exist, or this server has no access to it.');
    }
    if (/stopped/.test(err.message)) throw new RepositoryError(`Cloning took longer than ${config.VISUALIZATION_CLONE_TIMEOUT_SECONDS} seconds.`);
    throw err;
  }
}


async function resolveBranch(gitDir: string, requested: string | null): Promise<{ branch: string; sha: string }> {
  let branch = requested;
  if (!branch) {
    const head = await runGit(['symbolic-ref', '--quiet', 'HEAD'], { cwd: gitDir }).catch(() => null);
    branch = head ? head.toString().trim().replace(/^refs\/heads\//, '') : null;
    if (!branch) throw new RepositoryError('The repository has no default branch; name one in "branch".');
  }
  const sha = await runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `refs/heads/${branch}^{commit}`], { cwd: gitDir }).catch(() => null);
  if (!sha) {
    throw new RepositoryError(requested ? `The repository has no branch "${branch}".` : `The repository has no commits on its default branch "${branch}".`);
  }
  return { branch, sha: sha.toString().trim() };
}

const LOG_ARGS = ['-z', '--numstat', '-M', '--no-color', '--no-abbrev', '--no-show-signature', `--format=${LOG_FORMAT}`];

/** One `git log` over `revs` (a walk) or over the commits given on stdin (`--no-walk`), each commit handed on as it is parsed. */
async function logRange(gitDir: string, range: { revs: string[]; maxCount: number } | { shas: string[] }, signal: AbortSignal | undefined, onCommit: (c: ParsedCommit) => void): Promise<void> {
  const parser = new GitLogParser(onCommit);
  const args =
    'revs' in range
      ? ['log', `--max-count=${range.maxCount}`, ...LOG_ARGS, '--end-of-options', ...range.revs]
      : ['log', '--no-walk=unsorted', '--stdin', ...LOG_ARGS];
  await streamGit(args, (chunk) => parser.push(chunk), { cwd: gitDir, signal, stdin: 'shas' in range ? `${range.shas.join('\n')}\n` : undefined });
  parser.end();
}

/**
 * Reads the newest `maxCommits` commits reachable from `revs` with their numstat, with
 * `parallelism` git processes, and hands each to `onCommit` newest first: the newest range as
 * git writes it, an older range's commits as soon as every newer range is done. The first range
 * starts walking at once; meanwhile one `git rev-list --skip` lists the older commits, which are
 * cut into the other ranges and given to `git log --no-walk --stdin`.
 */
export async function logCommits(
  gitDir: string,
  revs: string[],
  maxCommits: number,
  parallelism: number,
  onCommit: (c: ParsedCommit) => void,
  options: { signal?: AbortSignal; onParsed?: (n: number) => void; /** Fewer commits per range than this: one process (a second costs more than it saves). */ minRange?: number } = {},
): Promise<number> {
  const { signal, onParsed, minRange = 2000 } = options;
  let parsed = 0;
  const parts = Math.max(1, Math.min(parallelism, Math.floor(maxCommits / minRange)));
  const first = Math.ceil(maxCommits / parts);
  // In-order delivery: range `current` streams straight through; later ones wait in their buffer.
  let current = 0;
  const buffers: ParsedCommit[][] = [];
  const done: boolean[] = [];
  const deliver = (range: number) => (c: ParsedCommit) => {
    if (++parsed % 1000 === 0) onParsed?.(parsed);
    if (range === current) onCommit(c);
    else (buffers[range] ??= []).push(c);
  };
  const finished = (range: number) => {
    done[range] = true;
    while (done[current]) {
      current++;
      for (const c of buffers[current] ?? []) onCommit(c);
      buffers[current] = [];
    }
  };
  const head = logRange(gitDir, { revs, maxCount: first }, signal, deliver(0)).then(() => finished(0));
  if (parts === 1) {
    await head;
    return parsed;
  }
  const older = async () => {
    const rest = lines(await runGit(['rev-list', `--max-count=${maxCommits - first}`, `--skip=${first}`, '--end-of-options', ...revs], { cwd: gitDir, signal }));
    const size = Math.ceil(rest.length / (parts - 1));
    const ranges: string[][] = [];
    for (let i = 0; i < rest.length; i += size) ranges.push(rest.slice(i, i + size));
    await Promise.all(ranges.map((shas, i) => logRange(gitDir, { shas }, signal, deliver(i + 1)).then(() => finished(i + 1))));
  };
  await Promise.all([head, older()]);
  return parsed;
}

interface TipFile {
  size: number;
  lines: number | null;
}

/** Files at `sha` with their size in bytes and line count (null: binary). */
async function readTip(gitDir: string, sha: string, signal?: AbortSignal): Promise<Map<string, TipFile>> {
  const files = new Map<string, TipFile>();
  const tree = new NulSplitter((rec) => {
    const text = rec.toString('utf8');
    const tab = text.indexOf('\t');
    const [, type, , size] = text.slice(0, tab).split(/ +/);
    if (type === 'blob') files.set(text.slice(tab + 1), { size: Number(size), lines: null });
  });
  const emptyTree = (await runGit(['hash-object', '-t', 'tree', '--stdin'], { cwd: gitDir, stdin: '' })).toString().trim();
  const counts = new Map<string, number | null>();
  const numstat = new NulSplitter((rec) => {
    const text = rec.toString('utf8').replace(/^\n+/, '');
    const [added, , ...path] = text.split('\t');
    if (path.length) counts.set(path.join('\t'), added === '-' ? null : Number(added));
  });
  await Promise.all([
    streamGit(['ls-tree', '-r', '-l', '-z', '--full-tree', '--end-of-options', sha], (c) => tree.push(c), { cwd: gitDir, signal }),
    streamGit(['diff-tree', '-r', '-z', '--numstat', '--no-renames', '--end-of-options', emptyTree, sha], (c) => numstat.push(c), { cwd: gitDir, signal }),
  ]);
  for (const [path, n] of counts) {
    const f = files.get(path);
    if (f) f.lines = n;
  }
  return files;
}

/**
 * Which analysed commits each branch contains, by walking parent links among the analysed
 * commits from each branch's tip (no git process per branch; linear in commits × branches).
 */
function branchMembership(rows: Array<{ sha: string; parents: string[] }>, branches: string[], tips: Map<string, string>): (index: number) => string[] {
  const indexOf = new Map(rows.map((r, i) => [r.sha, i]));
  const reach = branches.map((b) => {
    const seen = new Uint8Array(rows.length);
    const start = indexOf.get(tips.get(b) ?? '');
    const stack = start === undefined ? [] : [start];
    while (stack.length) {
      const i = stack.pop()!;
      if (seen[i]) continue;
      seen[i] = 1;
      for (const p of rows[i].parents) {
        const j = indexOf.get(p);
        if (j !== undefined && !seen[j]) stack.push(j);
      }
    }
    return seen;
  });
  return (index) => branches.filter((_, b) => reach[b][index] === 1);
}

const iso = (seconds: number | null) => (seconds === null ? null : new Date(seconds * 1000).toISOString());

function granularityOf(spanSeconds: number): TimelineEntry['granularity'] {
  if (spanSeconds <= 92 * 86400) return 'day';
  if (spanSeconds <= 2 * 366 * 86400) return 'week';
  return 'month';
}

function periodStart(seconds: number, g: TimelineEntry['granularity']): number {
  const d = new Date(seconds * 1000);
  if (g === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 1000;
  if (g === 'day') return day;
  return day - ((d.getUTCDay() + 6) % 7) * 86400; // weeks start on Monday (ISO)
}

/** Analyses a bare clone. */
export async function analyzeClone(gitDir: string, options: AnalysisOptions): Promise<AnalysisResult> {
  const { signal } = options;
  const progress = async (p: number, m: string) => options.onProgress?.(p, m);
  const { branch, sha: headSha } = await resolveBranch(gitDir, options.branch);
  let branches = [branch];
  const tips = new Map([[branch, headSha]]);
  if (options.includeBranches) {
    for (const line of lines(await runGit(['for-each-ref', '--format=%(objectname) %(refname:strip=2)', 'refs/heads/'], { cwd: gitDir }))) {
      const space = line.indexOf(' ');
      if (!tips.has(line.slice(space + 1))) tips.set(line.slice(space + 1), line.slice(0, space));
    }
    branches = [branch, ...[...tips.keys()].filter((b) => b !== branch).sort()].slice(0, MAX_BRANCHES);
  }
  await progress(20, 'Reading the history');
  const parallelism = options.parallelism ?? Math.min(8, cpus().length);
  const revs = branches.map((b) => `refs/heads/${b}`);
  const history = new HistoryAccumulator();
  const [, tip] = await Promise.all([
    logCommits(gitDir, revs, options.maxCommits, parallelism, (c) => history.add(c), {
      signal,
      // Progress is advisory: a failed progress write must not become an unhandled rejection.
      onParsed: (n) => void progress(20 + Math.floor((60 * n) / options.maxCommits), `Read ${n} commits`).catch(() => {}),
    }),
    readTip(gitDir, headSha, signal),
  ]);
  await progress(85, 'Building the picture');
  return history.finish(tip, { ...options, branch, headSha, branches, tips });
}

/**
 * One pass over the commits, newest first, as they are parsed: renames lead older paths to
 * today's names. Paths and people are numbered, so the per-pair maps have number keys.
 */
class HistoryAccumulator {
  private readonly alias = new Map<string, string>();
  private readonly pathIds = new Map<string, number>();
  private readonly paths: string[] = [];
  private readonly fileStats: Array<{ churn: number; commits: number; first: number; last: number }> = [];
  private readonly people = new Map<string, { index: number; name: string; commits: number; insertions: number; deletions: number; first: number; last: number }>();
  /** person index × 2^26 + path id → activity. */
  private readonly authored = new Map<number, { commits: number; churn: number; first: number }>();
  /** smaller path id × 2^26 + larger → commits together. */
  private readonly pairs = new Map<number, { commits: number; first: number }>();
  /** The commits without their file lists (which need not outlive add). */
  private readonly rows: Array<Omit<ParsedCommit, 'files'> & { filesChanged: number; insertions: number; deletions: number }> = [];
  private minTime = Infinity;
  private maxTime = -Infinity;

  private idOf(path: string): number {
    let id = this.pathIds.get(path);
    if (id === undefined) {
      id = this.paths.length;
      this.pathIds.set(path, id);
      this.paths.push(path);
      this.fileStats.push({ churn: 0, commits: 0, first: Infinity, last: -Infinity });
    }
    return id;
  }

  add(c: ParsedCommit): void {
    this.minTime = Math.min(this.minTime, c.time);
    this.maxTime = Math.max(this.maxTime, c.time);
    let person = this.people.get(c.authorEmail);
    if (!person) {
      person = { index: this.people.size, name: c.authorName, commits: 0, insertions: 0, deletions: 0, first: c.time, last: c.time };
      this.people.set(c.authorEmail, person);
    }
    let insertions = 0;
    let deletions = 0;
    const touchedSet = new Set<number>();
    for (const f of c.files) {
      insertions += f.insertions ?? 0;
      deletions += f.deletions ?? 0;
      const now = this.alias.get(f.path) ?? f.path;
      if (f.oldPath !== undefined && f.oldPath !== f.path) this.alias.set(f.oldPath, now);
      const id = this.idOf(now);
      const churn = (f.insertions ?? 0) + (f.deletions ?? 0);
      const s = this.fileStats[id];
      s.churn += churn;
      s.commits++;
      if (c.time < s.first) s.first = c.time;
      if (c.time > s.last) s.last = c.time;
      touchedSet.add(id);
      const key = person.index * 2 ** 26 + id;
      const a = this.authored.get(key);
      if (a) {
        a.commits++;
        a.churn += churn;
        if (c.time < a.first) a.first = c.time;
      } else this.authored.set(key, { commits: 1, churn, first: c.time });
    }
    person.commits++;
    person.insertions += insertions;
    person.deletions += deletions;
    if (c.time < person.first) person.first = c.time;
    if (c.time > person.last) person.last = c.time;
    const touched = [...touchedSet];
    if (touched.length >= 2 && touched.length <= CO_CHANGE_MAX_FILES) {
      touched.sort((x, y) => x - y);
      for (let i = 0; i < touched.length; i++) {
        for (let j = i + 1; j < touched.length; j++) {
          const key = touched[i] * 2 ** 26 + touched[j];
          const e = this.pairs.get(key);
          if (e) {
            e.commits++;
            if (c.time < e.first) e.first = c.time;
          } else this.pairs.set(key, { commits: 1, first: c.time });
        }
      }
    }
    this.rows.push({ sha: c.sha, parents: c.parents, authorEmail: c.authorEmail, authorName: c.authorName, time: c.time, subject: c.subject, filesChanged: c.files.length, insertions, deletions });
  }

  /** The nodes, edges, timeline and stats, for the files at the tip. */
  finish(
    tip: Map<string, TipFile>,
    o: AnalysisOptions & { branch: string; headSha: string; branches: string[]; tips: Map<string, string> },
  ): AnalysisResult {
    const { rows, paths, minTime, maxTime } = this;
    const membership = o.branches.length > 1 ? branchMembership(rows, o.branches, o.tips) : null;
    const commits: CommitRow[] = rows.map((c, i) => ({
      sha: c.sha,
      author: c.authorEmail,
      authorName: c.authorName,
      message: c.subject,
      timestamp: new Date(c.time * 1000),
      parents: c.parents,
      filesChanged: c.filesChanged,
      insertions: c.insertions,
      deletions: c.deletions,
      branches: membership ? membership(i) : [o.branch],
    }));
    const statsOf = (path: string) => {
      const id = this.pathIds.get(path);
      return id === undefined ? undefined : this.fileStats[id];
    };
    const onTip = (id: number) => tip.has(paths[id]);
    const people = this.people;
    const authored = new Map([...this.authored].filter(([key]) => onTip(key % 2 ** 26)));
    const emails = [...people.keys()];
    const pairs = [...this.pairs].filter(([key]) => onTip(Math.floor(key / 2 ** 26)) && onTip(key % 2 ** 26));

    // Files and their directories.
    const nodes: VizNode[] = [];
    const dirs = new Map<string, VizNode>();
    const dirOf = (path: string): VizNode => {
      const existing = dirs.get(path);
      if (existing) return existing;
      const slash = path.lastIndexOf('/');
      const node: VizNode = {
        id: `d:${path}`,
        type: 'directory',
        name: path === '' ? o.rootName : path.slice(slash + 1),
        path,
        parent: path === '' ? null : `d:${slash < 0 ? '' : path.slice(0, slash)}`,
        size: 0,
        lines: 0,
        files: 0,
        churn: 0,
        commits: 0,
        first_commit_at: null,
        last_commit_at: null,
      };
      dirs.set(path, node);
      if (path !== '') dirOf(slash < 0 ? '' : path.slice(0, slash));
      return node;
    };
    dirOf('');
    const languageLines = new Map<string, number>();
    let linesOfCode = 0;
    const fileNodes: VizNode[] = [];
    for (const [path, f] of [...tip].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const s = statsOf(path);
      const slash = path.lastIndexOf('/');
      const lang = languageOf(path);
      const lineCount = f.lines ?? 0;
      linesOfCode += lineCount;
      if (lang?.counted && f.lines !== null) languageLines.set(lang.name, (languageLines.get(lang.name) ?? 0) + lineCount);
      const node: VizNode = {
        id: `f:${path}`,
        type: 'file',
        name: path.slice(slash + 1),
        path,
        parent: `d:${slash < 0 ? '' : path.slice(0, slash)}`,
        language: lang?.name ?? null,
        size: f.size,
        lines: lineCount,
        churn: s?.churn ?? 0,
        commits: s?.commits ?? 0,
        first_commit_at: iso(s?.first ?? null),
        last_commit_at: iso(s?.last ?? null),
      };
      fileNodes.push(node);
      // Up the tree: sizes, lines, churn and the earliest appearance.
      for (let dir = slash < 0 ? '' : path.slice(0, slash); ; ) {
        const d = dirOf(dir);
        d.size! += f.size;
        d.lines! += lineCount;
        d.files! += 1;
        d.churn += node.churn;
        d.commits += node.commits;
        if (node.first_commit_at && (!d.first_commit_at || node.first_commit_at < d.first_commit_at)) d.first_commit_at = node.first_commit_at;
        if (node.last_commit_at && (!d.last_commit_at || node.last_commit_at > d.last_commit_at)) d.last_commit_at = node.last_commit_at;
        if (dir === '') break;
        const up = dir.lastIndexOf('/');
        dir = up < 0 ? '' : dir.slice(0, up);
      }
    }
    nodes.push(...[...dirs.values()].sort((a, b) => (a.path! < b.path! ? -1 : a.path! > b.path! ? 1 : 0)), ...fileNodes);

    const edges: VizEdge[] = [];
    let authoredTotal = 0;
    if (o.includeContributors) {
      for (const [email, p] of [...people].sort(([a], [b]) => (a < b ? -1 : 1))) {
        nodes.push({
          id: `c:${email}`,
          type: 'contributor',
          name: p.name,
          email,
          insertions: p.insertions,
          deletions: p.deletions,
          churn: p.insertions + p.deletions,
          commits: p.commits,
          first_commit_at: iso(p.first),
          last_commit_at: iso(p.last),
        });
      }
      authoredTotal = authored.size;
      const strongest = [...authored].sort(([ka, a], [kb, b]) => b.churn - a.churn || b.commits - a.commits || ka - kb).slice(0, MAX_AUTHORED_EDGES);
      for (const [key, a] of strongest) {
        const email = emails[Math.floor(key / 2 ** 26)];
        const path = paths[key % 2 ** 26];
        edges.push({ source: `c:${email}`, target: `f:${path}`, type: 'authored', commits: a.commits, churn: a.churn, first_commit_at: iso(a.first) });
      }
    }
    const coupled = [...pairs].filter(([, e]) => e.commits >= 2);
    for (const [key, e] of coupled.sort(([ka, a], [kb, b]) => b.commits - a.commits || ka - kb).slice(0, MAX_CO_CHANGE_EDGES)) {
      const a = paths[Math.floor(key / 2 ** 26)];
      const b = paths[key % 2 ** 26];
      edges.push({ source: `f:${a}`, target: `f:${b}`, type: 'co_changed', commits: e.commits, first_commit_at: iso(e.first) });
    }

    // Activity per period.
    const timeline: TimelineEntry[] = [];
    if (rows.length) {
      const g = granularityOf(maxTime - minTime);
      const buckets = new Map<number, TimelineEntry & { who: Set<string> }>();
      for (const c of rows) {
        const start = periodStart(c.time, g);
        let b = buckets.get(start);
        if (!b) {
          b = { period_start: iso(start)!, granularity: g, commits: 0, insertions: 0, deletions: 0, files_changed: 0, contributors: 0, who: new Set() };
          buckets.set(start, b);
        }
        b.commits++;
        b.insertions += c.insertions;
        b.deletions += c.deletions;
        b.files_changed += c.filesChanged;
        b.who.add(c.authorEmail);
      }
      for (const [, { who, ...entry }] of [...buckets].sort(([a], [b]) => a - b)) timeline.push({ ...entry, contributors: who.size });
    }

    const counted = [...languageLines.values()].reduce((a, b) => a + b, 0);
    const languages = [...languageLines]
      .filter(([, n]) => n > 0)
      .sort(([na, a], [nb, b]) => b - a || (na < nb ? -1 : 1))
      .map(([name, n]) => ({ name, percent: Math.round((1000 * n) / counted) / 10 }));
    return {
      branch: o.branch,
      headSha: o.headSha,
      commits,
      stats: {
        total_commits: commits.length,
        total_files: tip.size,
        total_contributors: people.size,
        lines_of_code: linesOfCode,
        languages,
        languages_method: LANGUAGES_METHOD,
        branches: o.branches,
        head_sha: o.headSha,
        edges_total: { authored: authoredTotal, co_changed: coupled.length },
      },
      nodes,
      edges,
      timeline,
    };
  }
}
