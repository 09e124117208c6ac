/**
 * `npm run bench:load`: the whole system as a user runs it (`npm start`, a child process of its own)
 * under a mixed load from two accounts: REST and GraphQL reads, task submissions, cancels, list
 * pages and task streams (test/helpers/load-mix.ts, every answer judged). Two systems side by side
 * in one run: the zero-configuration default (embedded PostgreSQL server and Temporal dev server,
 * in-process worker) and the production-shaped one (DATABASE_URL to a separate PostgreSQL server,
 * REDIS_URL to a Redis server). Phases alternate between them at each concurrency, so the
 * machine's noise hits both; compare the ratios.
 *
 * Reports per system and concurrency: responses by status, 5xx, wrong answers, tasks not terminal
 * 60 s after the load, streams without their final message, p50/p99; then each system's shutdown.
 * BENCH_SECONDS (60) per phase, BENCH_CONCURRENCY (16,64).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { childEnv, configKeys } from '../src/config.js';
import { freePort, startEmbeddedPostgres } from '../src/embedded/postgres.js';
import { checkListedOwnership, pickOp, runOp, unfinishedTasks, type Actor, type Op, type Outcome } from '../test/helpers/load-mix.js';
import { ensureRedis } from '../test/setup/local-redis.js';
import { summarize, type Stats } from './stats.js';

const env = childEnv({});
const SECONDS = Number(env.BENCH_SECONDS ?? 60);
const CONCURRENCY = (env.BENCH_CONCURRENCY ?? '16,64').split(',').map(Number);
const SHUTDOWN_WAIT_MS = 30_000;
const root = new URL('../', import.meta.url).pathname;
const log = (line: string) => console.log(line);
/**
 * `npm start`'s command (package.json), run without npm in between: npm dies of the SIGTERM it
 * relays, which would hide the gateway's own exit code.
 */
const START_ARGS = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(' ').slice(1);

/** `npm start`'s environment: this one without any gateway setting, so "nothing set" means nothing. */
const plainEnv = childEnv({});
for (const key of configKeys) delete plainEnv[key];

interface System {
  name: string;
  url: string;
  dir: string;
  dataDir: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  exited: Promise<string>;
  startSeconds: number;
  /** Checks made before the load (the printed key works, the accounts' keys work). */
  notes: string[];
  accounts: Array<{ name: string; key: string }>;
}

/** Starts `npm start` in its own process group and waits for its "Ready." line. */
async function startSystem(name: string, extra: Record<string, string>): Promise<System> {
  const dir = await mkdtemp(join(tmpdir(), `codex-load-${name}-`));
  await chmod(dir, 0o755); // PostgreSQL runs as `postgres` when we are root: it must reach DATA_DIR
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const serverEnv = {
    ...plainEnv,
    DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_TEMPORAL_PORT: String(await freePort()),
    EMBEDDED_TEMPORAL_UI_PORT: '0', // no Web UI
    LOG_LEVEL: 'warn',
    ...extra,
  };
  const logFile = join(dir, 'server.log');
  const out = createWriteStream(logFile);
  const started = performance.now();
  const child = spawn(process.execPath, START_ARGS, { cwd: root, env: serverEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`)));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out.write(chunk);
    if (stdout.length < 20_000) stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => out.write(chunk));
  const ready = await Promise.race([
    (async () => {
      while (!/^Ready\./m.test(stdout)) await delay(100);
      return true;
    })(),
    exited.then(() => false),
    delay(240_000).then(() => false),
  ]);
  if (!ready) {
    killGroup(child, 'SIGKILL');
    throw new Error(`${name}: npm start did not print "Ready." (log: ${logFile}):\n${tail(logFile)}`);
  }
  const system: System = {
    name,
    url: `http://127.0.0.1:${port}`,
    dir,
    dataDir,
    logFile,
    env: serverEnv,
    child,
    exited,
    startSeconds: (performance.now() - started) / 1000,
    notes: [],
    accounts: [],
  };
  systems.push(system); // stopped at the end whatever happens from here
  const bootstrapKey = /API key \(shown once, store it now\): (cdx_sk_\S+)/.exec(stdout)?.[1];
  if (!bootstrapKey) system.notes.push('no API key printed on a fresh DATA_DIR');
  else system.notes.push(`printed API key: GET /v1/agents/tasks → ${await listStatus(system.url, bootstrapKey)}`);
  // Two accounts from the operator command, with limits raised out of the way: 429s are counted,
  // but a load that is mostly refused would measure the limiter, not the system.
  for (const account of ['Ada', 'Grace']) {
    const email = `${account.toLowerCase()}@load.bench.invalid`;
    const created = await admin(system, ['user', 'create', '--email', email, '--name', account, '--tier', 'enterprise', '--with-key']);
    const key = /API key \S+: (cdx_sk_\S+)/.exec(created)?.[1];
    if (!key) throw new Error(`${name}: admin user create printed no key:\n${created}`);
    const big = '1000000000';
    await admin(system, ['limits', 'set', '--email', email, '--requests-per-month', big, '--requests-per-hour', big, '--requests-per-minute', big, '--concurrent', '100000', '--parallel-agents', '100000']);
    const status = await listStatus(system.url, key);
    if (status !== 200) throw new Error(`${name}: the key the admin command created for ${account} answers ${status}`);
    system.accounts.push({ name: account, key });
  }
  return system;
}

/** `npm run admin -- …` against the running system; its stdout. Asynchronous: a blocked event loop
 * would miss the server closing idle keep-alive connections and reuse a dead one. */
async function admin(system: System, args: string[]): Promise<string> {
  const child = spawn('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: root, env: system.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${system.name}: npm run admin -- ${args.slice(0, 2).join(' ')} exited ${code}:\n${output}`);
  return output;
}

async function listStatus(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/v1/agents/tasks?limit=1`, { headers: { authorization: `Bearer ${key}` } });
  await res.arrayBuffer();
  return res.status;
}

const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '');

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

const groupAlive = (child: ChildProcess) => {
  try {
    process.kill(-child.pid!, 0);
    return true;
  } catch {
    return false;
  }
};

interface Phase {
  system: string;
  concurrency: number;
  seconds: number;
  outcomes: Outcome[];
  overall: Stats;
  byOp: Map<Op, Stats>;
  byStatus: Map<number, number>;
  fiveXx: Outcome[];
  transport: Outcome[];
  wrong: string[];
  streamsWithoutFinal: Outcome[];
  tasks: number;
  unfinished: string[];
  load: [number, number];
}

/** runOp, with a failed connection recorded as status 0 instead of ending the loop. */
async function attempt(url: string, op: Op, me: Actor, other: Actor): Promise<Outcome> {
  const started = performance.now();
  try {
    return await runOp(url, op, me, other);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { op, status: 0, ms: performance.now() - started, wrong: `${op}: ${(err as Error).message}${cause ? ` (${cause})` : ''}` };
  }
}

/** `concurrency` client loops for SECONDS, half as each account, then the after-load checks. */
async function loadPhase(system: System, concurrency: number): Promise<Phase> {
  const actors: Actor[] = system.accounts.map(({ name, key }) => ({ name, key, taskIds: [], listed: new Set() }));
  const [a, b] = actors as [Actor, Actor];
  const seedWrong: string[] = [];
  // A few tasks each first, so reads have something to read from the first request on.
  for (const [me, other] of [[a, b], [b, a]] as const) {
    for (let i = 0; i < 3; i++) {
      const o = await attempt(system.url, 'submit', me, other);
      if (o.wrong) seedWrong.push(`seed ${o.wrong}`);
    }
  }
  const load0 = loadavg()[0];
  const outcomes: Outcome[] = [];
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  let lastRequestEnd = started;
  const progress = setInterval(() => {
    const fiveXx = outcomes.filter((o) => o.status >= 500).length;
    const wrong = outcomes.filter((o) => o.wrong).length;
    log(`  ${system.name} ×${concurrency}: ${Math.round((performance.now() - started) / 1000)} s, ${outcomes.length} requests, ${fiveXx} 5xx, ${wrong} judged wrong`);
  }, 10_000);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const [me, other] = i % 2 ? [a, b] : [b, a];
      while (performance.now() < deadline) {
        const outcome = await attempt(system.url, pickOp(Math.random()), me, other);
        outcomes.push(outcome);
        if (outcome.op !== 'stream') lastRequestEnd = performance.now();
      }
    }),
  );
  clearInterval(progress);
  const elapsedMs = performance.now() - started;
  // The rate counts requests over the time they took: streams still open after the deadline
  // (a stream lasts until its task ends) would otherwise stretch it.
  const requestMs = lastRequestEnd - started;
  const load1 = loadavg()[0];
  const unfinished = await unfinishedTasks(system.url, actors, Date.now() + 60_000);
  const listedWrong = await checkListedOwnership(system.url, actors);

  const requests = outcomes.filter((o) => o.op !== 'stream');
  const byOp = new Map<Op, Stats>();
  for (const op of [...new Set(outcomes.map((o) => o.op))].sort()) {
    byOp.set(
      op,
      summarize(
        outcomes.filter((o) => o.op === op).map((o) => o.ms),
        elapsedMs,
      ),
    );
  }
  const byStatus = new Map<number, number>();
  for (const o of outcomes) byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
  const opened = (o: Outcome) => o.op === 'stream' && o.status === 101;
  return {
    system: system.name,
    concurrency,
    seconds: elapsedMs / 1000,
    outcomes,
    overall: summarize(
      requests.map((o) => o.ms),
      requestMs,
    ),
    byOp,
    byStatus: new Map([...byStatus].sort(([x], [y]) => x - y)),
    fiveXx: outcomes.filter((o) => o.status >= 500),
    transport: outcomes.filter((o) => o.status === 0),
    // A stream that opened and then missed its final message is counted on its own line.
    wrong: [...seedWrong, ...outcomes.filter((o) => o.wrong && o.status > 0 && o.status < 500 && !opened(o)).map((o) => `${o.op}: ${o.wrong}`), ...listedWrong],
    streamsWithoutFinal: outcomes.filter((o) => opened(o) && !o.streamEnded),
    tasks: a.taskIds.length + b.taskIds.length,
    unfinished,
    load: [load0, load1],
  };
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const first = (items: string[]) => (items.length ? `\n      ${items.slice(0, 5).join('\n      ')}` : '');

function report(p: Phase): void {
  log('');
  log(`${p.system}, ${p.concurrency} clients, ${p.seconds.toFixed(1)} s (load average ${p.load[0].toFixed(1)} → ${p.load[1].toFixed(1)})`);
  log(`  requests        ${p.outcomes.length} (${p.overall.perSecond.toFixed(1)}/s without streams)`);
  log(`  by status       ${[...p.byStatus].map(([s, n]) => `${s || 'no answer'}: ${n}`).join(', ')}`);
  log(`  429 (limits)    ${p.byStatus.get(429) ?? 0}`);
  log(`  5xx             ${p.fiveXx.length}${first(p.fiveXx.map((o) => `${o.op} ${o.status}: ${o.wrong ?? ''}`))}`);
  log(`  no answer       ${p.transport.length}${first(p.transport.map((o) => o.wrong!))}`);
  log(`  wrong answers   ${p.wrong.length}${first(p.wrong)}`);
  log(`  not terminal    ${p.unfinished.length} of ${p.tasks} tasks, 60 s after the load${first(p.unfinished)}`);
  log(`  streams w/o end ${p.streamsWithoutFinal.length} of ${p.byOp.get('stream')?.count ?? 0}${first(p.streamsWithoutFinal.map((o) => o.wrong!))}`);
  log(`  latency         p50 ${ms(p.overall.p50)}, p99 ${ms(p.overall.p99)} (all but streams)`);
  for (const [op, s] of p.byOp) log(`    ${op.padEnd(17)} n=${String(s.count).padEnd(6)} p50 ${ms(s.p50).padEnd(10)} p99 ${ms(s.p99)}${op === 'stream' ? ' (open to final message)' : ''}`);
}

/** The errors the gateway logged (level error and above), counted by message. */
function serverErrors(file: string): string {
  const counts = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let entry: { level?: number; msg?: string; err?: { code?: string; message?: string } };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // the start-up lines are plain text
    }
    if ((entry.level ?? 0) < 50) continue;
    const what = `${entry.msg}: ${entry.err?.code ?? ''} ${entry.err?.message?.split('\n')[0] ?? ''}`.trim();
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return counts.size ? [...counts].map(([what, n]) => `${n}× ${what}`).join('; ') : 'no errors';
}

/** SIGTERM to the group, then the wait: the exit code and how long, or SIGKILL after 30 s. */
async function stopSystem(system: System): Promise<string> {
  const started = performance.now();
  killGroup(system.child, 'SIGTERM');
  const code = await Promise.race([system.exited, delay(SHUTDOWN_WAIT_MS).then(() => 'hung' as const)]);
  while (code !== 'hung' && groupAlive(system.child) && performance.now() - started < SHUTDOWN_WAIT_MS) await delay(50);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (code === 'hung' || groupAlive(system.child)) {
    killGroup(system.child, 'SIGKILL');
    // The embedded PostgreSQL server runs in a process group of its own.
    const pidFile = join(system.dataDir, 'postgres', 'postmaster.pid');
    const pid = Number(existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n')[0] : '');
    if (pid) process.kill(pid, 'SIGQUIT');
    return `did not exit within ${SHUTDOWN_WAIT_MS / 1000} s of SIGTERM (${code === 'hung' ? 'the gateway still running' : 'a child of it still running'}): SIGKILLed`;
  }
  const leftover = existsSync(join(system.dataDir, 'postgres', 'postmaster.pid')) ? ', embedded PostgreSQL still running' : '';
  return `${code} ${seconds} s after SIGTERM${leftover}`;
}

// The production-shaped system's services: PostgreSQL (same binaries and settings as the embedded
// default, fsync on, in a process of its own) and Redis.
const externalDir = await mkdtemp(join(tmpdir(), 'codex-load-services-'));
await chmod(externalDir, 0o755);
const postgres = await startEmbeddedPostgres({ dataDir: join(externalDir, 'postgres'), database: 'codex', log });
const redis = await ensureRedis(undefined, log);
const systems: System[] = [];
process.on('exit', () => systems.forEach((s) => killGroup(s.child, 'SIGKILL')));

const phases: Phase[] = [];
const shutdowns = new Map<string, string>();
let failed = false;
try {
  log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(' ')} (${SECONDS} s per phase, clients ${CONCURRENCY.join(', ')})`);
  await startSystem('embedded', {});
  await startSystem('external', { DATABASE_URL: postgres.url, REDIS_URL: redis.url });
  for (const s of systems) log(`${s.name}: ready in ${s.startSeconds.toFixed(1)} s at ${s.url} (data ${s.dataDir}); ${s.notes.join('; ')}`);
  for (const concurrency of CONCURRENCY) {
    for (const system of systems) {
      log(`${system.name}, ${concurrency} clients…`);
      const phase = await loadPhase(system, concurrency);
      phases.push(phase);
      report(phase);
    }
  }
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  for (const s of systems) shutdowns.set(s.name, await stopSystem(s));
  await postgres.stop();
  redis.stop();
}

log('');
log('| system | clients | requests | req/s (no streams) | by status | 5xx | wrong | not terminal | streams w/o final | p50 | p99 |');
log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const p of phases) {
  const statuses = [...p.byStatus].map(([s, n]) => `${s || 'none'}: ${n}`).join(', ');
  log(`| ${p.system} | ${p.concurrency} | ${p.outcomes.length} | ${p.overall.perSecond.toFixed(1)} | ${statuses} | ${p.fiveXx.length} | ${p.wrong.length} | ${p.unfinished.length} of ${p.tasks} | ${p.streamsWithoutFinal.length} | ${ms(p.overall.p50)} | ${ms(p.overall.p99)} |`);
}
for (const concurrency of CONCURRENCY) {
  const embedded = phases.find((p) => p.system === 'embedded' && p.concurrency === concurrency);
  const external = phases.find((p) => p.system === 'external' && p.concurrency === concurrency);
  if (!embedded || !external) continue;
  const r = (x: number, y: number) => (x / y).toFixed(2);
  log(`ratio external/embedded, ${concurrency} clients: p50 ${r(external.overall.p50, embedded.overall.p50)}, p99 ${r(external.overall.p99, embedded.overall.p99)}, requests/s ${r(external.overall.perSecond, embedded.overall.perSecond)}`);
}
for (const [name, line] of shutdowns) log(`shutdown ${name}: ${line}`);
for (const s of systems) log(`server log ${s.name}: ${serverErrors(s.logFile)}`);

// Logs are kept when something needs looking into; a clean run leaves nothing behind.
const findings = failed || phases.some((p) => p.fiveXx.length || p.transport.length || p.wrong.length || p.unfinished.length || p.streamsWithoutFinal.length) || [...shutdowns.values()].some((l) => !l.startsWith('exit code 0'));
if (findings) log(`server logs kept: ${systems.map((s) => s.logFile).join(', ')}`);
else for (const dir of [...systems.map((s) => s.dir), externalDir]) await rm(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
