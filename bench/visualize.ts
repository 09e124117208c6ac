/**
 * `npm run bench:visualize`: the repository analysis of a visualization against plain
 * `git log --numstat --no-renames -n 50000` on the same repository (target: analysis ≤ 1.0× git log).
 *
 * The repository (50,000 commits by 40 authors over 2,000 files in 100 directories, with renames
 * and merges) is generated once with `git fast-import` and kept in the cache folder. Both sides
 * read the same bare repository, one right after the other, BENCH_ROUNDS times (default 3); each
 * round gives a ratio (both sides under the same load), and the result is the median ratio. The analysis is what the workflow's activity runs after cloning: rev-list, parallel
 * `git log --numstat -M` ranges parsed while git writes, the tip's files, and the summary. The
 * local clone and the PostgreSQL write of the result (storeAnalysis, into a scratch database;
 * BENCH_STORE=0 skips it) are timed separately, once.
 * Env: BENCH_COMMITS (default 50000), VISUALIZATION_GIT_PARALLELISM (default: CPU count).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations } from '../src/db/migrate.js';
import { createDb } from '../src/db/client.js';
import { newId } from '../src/ids.js';
import { analyzeClone, cloneRepository, type AnalysisResult } from '../src/services/visualizations/analyze-repository.js';
import { storeAnalysis } from '../src/services/visualizations/visualizations.js';
import { ensurePostgres } from '../test/setup/local-postgres.js';
import { median } from './stats.js';

const env = process.env;
const COMMITS = Number(env.BENCH_COMMITS ?? 50_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const PARALLELISM = env.VISUALIZATION_GIT_PARALLELISM ? Number(env.VISUALIZATION_GIT_PARALLELISM) : undefined;
const config = loadConfig({});
const log = (line: string) => console.log(line);

/** A small deterministic PRNG, so the same repository is generated every time. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generates the repository with git fast-import (one stream, no working tree). */
function generate(dir: string, commits: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  spawnSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
  const child = spawn('git', ['fast-import', '--quiet', '--done'], { cwd: dir, stdio: ['pipe', 'inherit', 'inherit'] });
  const rand = rng(42);
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)];
  const exts = ['ts', 'ts', 'ts', 'py', 'rs', 'go', 'md', 'json'];
  const paths: string[] = [];
  for (let i = 0; i < 2000; i++) paths.push(`pkg${i % 100}/sub${i % 7}/file${i}.${exts[i % exts.length]}`);
  const contents = new Map<string, string[]>();
  const authors = Array.from({ length: 40 }, (_, i) => `Dev ${i} <dev${i}@example.com>`);
  let buffer: string[] = [];
  let size = 0;
  const write = (s: string) => {
    buffer.push(s);
    size += s.length;
  };
  const flush = async () => {
    if (!size) return;
    const chunk = buffer.join('');
    buffer = [];
    size = 0;
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
  };
  const data = (s: string) => write(`data ${Buffer.byteLength(s)}\n${s}\n`);
  let time = Date.UTC(2015, 0, 1) / 1000;
  let mark = 0;
  let last = 0;
  const run = async (): Promise<void> => {
    for (let c = 0; c < commits; c++) {
      time += 600 + Math.floor(rand() * 6000);
      const author = pick(authors);
      const merge = c > 0 && c % 500 === 0;
      let side = 0;
      if (merge) {
        // A side commit, then a merge of it (one parent each way).
        side = ++mark;
        write(`commit refs/heads/side\nmark :${side}\nauthor ${author} ${time - 300} +0000\ncommitter ${author} ${time - 300} +0000\n`);
        data(`side work ${c}`);
        write(`from :${last}\n`);
        const path = pick(paths);
        const lines = contents.get(path) ?? [];
        lines.push(`side ${c}`);
        contents.set(path, lines);
        write(`M 100644 inline ${path}\n`);
        data(lines.join('\n') + '\n');
      }
      const m = ++mark;
      write(`commit refs/heads/main\nmark :${m}\nauthor ${author} ${time} +0000\ncommitter ${author} ${time} +0000\n`);
      data(merge ? `Merge side ${c}` : `change ${c}: ${pick(['fix', 'feat', 'refactor', 'docs', 'test'])}`);
      if (last) write(`from :${last}\n`);
      if (merge) write(`merge :${side}\n`);
      else {
        const n = 1 + Math.floor(rand() * 4);
        for (let k = 0; k < n; k++) {
          const path = pick(paths);
          if (contents.has(path) && rand() < 0.01) {
            // A rename (the file moves within its package).
            const to = path.replace(/sub\d+/, `moved${c}`);
            write(`R ${path} ${to}\n`);
            contents.set(to, contents.get(path)!);
            contents.delete(path);
            paths[paths.indexOf(path)] = to;
            continue;
          }
          const lines = contents.get(path) ?? [];
          const added = 1 + Math.floor(rand() * 5);
          for (let a = 0; a < added; a++) lines.splice(Math.floor(rand() * (lines.length + 1)), 0, `line ${c}.${a} ${rand().toString(36).slice(2, 10)}`);
          if (lines.length > 60) lines.splice(Math.floor(rand() * 40), 10);
          contents.set(path, lines);
          write(`M 100644 inline ${path}\n`);
          data(lines.join('\n') + '\n');
        }
      }
      last = m;
      if (size > 1 << 20) await flush();
    }
    write('done\n');
    await flush();
    child.stdin.end();
    await new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited with ${code}`)))));
  };
  return run();
}

/** CPU seconds used so far by this process and its finished children (git), from /proc (Linux). */
function cpuSeconds(): number {
  const own = process.cpuUsage();
  let children = 0;
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    children = (Number(fields[13]) + Number(fields[14])) / 100; // cutime + cstime, in clock ticks (100 Hz)
  } catch {
    // no /proc (not Linux): the children's time is not counted
  }
  return (own.user + own.system) / 1e6 + children;
}

/** Wall time of plain git log over the same history, its output read and discarded. */
function gitLogBaseline(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn('git', ['log', '--numstat', '--no-renames', '-n', String(COMMITS), 'main'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', () => {});
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`git log exited with ${code}`))));
  });
}

/** Time to store the result as the activity does (commit rows and the summary), in a scratch database. */
async function storeTime(result: AnalysisResult): Promise<number> {
  const postgres = await ensurePostgres(env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL, log);
  const name = `codex_bench_viz_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = Object.assign(new URL(postgres.url), { pathname: `/${name}` }).toString();
  try {
    await applyMigrations(url);
    const db = createDb(url, 2);
    const user = await db.user.create({ data: { id: newId('user'), name: 'bench' } });
    const id = newId('visualization');
    await db.visualization.create({ data: { id, ownerId: user.id, repositoryUrl: '/bench', analysisDepth: 'full', options: {} } });
    const start = performance.now();
    await storeAnalysis({ db }, id, result, { includeCommits: true });
    const ms = performance.now() - start;
    await db.$disconnect();
    return ms;
  } finally {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
    await postgres.stop();
  }
}

async function main() {
  const repo = join(config.cacheDir, 'bench', `viz-repo-${COMMITS}`);
  if (!existsSync(join(repo, 'HEAD')) || spawnSync('git', ['rev-parse', '--verify', '-q', 'main'], { cwd: repo }).status !== 0) {
    rmSync(repo, { recursive: true, force: true });
    log(`generating a repository with ${COMMITS} commits (git fast-import) at ${repo}…`);
    const t = performance.now();
    await generate(repo, COMMITS);
    log(`  generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const count = spawnSync('git', ['rev-list', '--count', 'main'], { cwd: repo, encoding: 'utf8' }).stdout.trim();
  log(`repository: ${count} commits reachable from main; machine: ${cpus().length} CPUs; git log parallelism: ${PARALLELISM ?? `default (${Math.min(8, cpus().length)})`}`);

  const ours: number[] = [];
  const base: number[] = [];
  const oursCpu: number[] = [];
  const baseCpu: number[] = [];
  let summary = '';
  let last: AnalysisResult | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    let cpu = cpuSeconds();
    base.push(await gitLogBaseline(repo));
    baseCpu.push(cpuSeconds() - cpu);
    cpu = cpuSeconds();
    const start = performance.now();
    const result = await analyzeClone(repo, { branch: 'main', includeBranches: false, includeContributors: true, maxCommits: COMMITS, rootName: 'bench', parallelism: PARALLELISM });
    ours.push(performance.now() - start);
    oursCpu.push(cpuSeconds() - cpu);
    last = result;
    summary = `${result.stats.total_commits} commits, ${result.stats.total_files} files, ${result.stats.total_contributors} contributors, ${result.nodes.length} nodes, ${result.edges.length} edges, ${result.timeline.length} periods`;
    log(`  round ${round + 1}: git log ${(base.at(-1)! / 1000).toFixed(2)} s, analysis ${(ours.at(-1)! / 1000).toFixed(2)} s, ratio ${(ours.at(-1)! / base.at(-1)!).toFixed(2)}×; CPU git log ${baseCpu.at(-1)!.toFixed(2)} s, analysis ${oursCpu.at(-1)!.toFixed(2)} s (load average ${loadavg()[0].toFixed(1)})`);
  }
  const clone = join(config.cacheDir, 'bench', 'viz-clone');
  rmSync(clone, { recursive: true, force: true });
  const t = performance.now();
  await cloneRepository({ kind: 'local', path: repo }, clone, { branch: 'main', includeBranches: false }, config);
  const cloneMs = performance.now() - t;
  rmSync(clone, { recursive: true, force: true });

  const o = median(ours);
  const b = median(base);
  const ratio = median(ours.map((x, i) => x / base[i]));
  log('');
  log(`analysis: ${summary}`);
  log(`| analysis (median of ${ROUNDS}) | git log --numstat --no-renames -n ${COMMITS} (median) | median of the rounds' ratios | target |`);
  log(`|---|---|---|---|`);
  log(`| ${(o / 1000).toFixed(2)} s | ${(b / 1000).toFixed(2)} s | **${ratio.toFixed(2)}×** | ≤ 1.0× |`);
  log(`CPU time (git processes + this process), medians: analysis ${median(oursCpu).toFixed(2)} s, git log ${median(baseCpu).toFixed(2)} s (${(median(oursCpu) / median(baseCpu)).toFixed(2)}×): the extra work that parallel ranges must hide`);
  log(`local bare clone (hard links): ${(cloneMs / 1000).toFixed(2)} s`);
  if (env.BENCH_STORE !== '0' && last) log(`storing the result in PostgreSQL (${last.commits.length} commit rows + summary): ${((await storeTime(last)) / 1000).toFixed(2)} s`);
}

await main();
