/**
 * `npm run bench:isolation`: does a heavy job slow the gateway? Latency (median, p99) of a trivial
 * authenticated GraphQL query (`{ apiKeys(first: 1) { edges { cursor } } }`, one client, one
 * request at a time) with no jobs, against the same while a 1,000-file review and the index run of
 * a 1,000-file project are in progress, in alternating rounds; target ratio (busy p99 / idle p99)
 * ≤ 2. Measured with the worker as `npm start` runs it (a child process) and, for comparison, with
 * the worker inside the gateway's process (how `npm start` ran it before). BENCH_FILES=1000
 * BENCH_ROUNDS=3 by default; each idle window lasts as long as the busy one before it (BENCH_SECONDS=5 at least).
 */
import { connectWorkerTo } from '../src/runtime.js';
import { createLogger } from '../src/logger.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkerChild } from '../src/temporal/worker-child.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, gql, log, ROUNDS, SECONDS, startBenchInfra, startGateway, unlimited } from './harness.js';
import { median, summarize, type Stats } from './stats.js';

const FILES = Number(env.BENCH_FILES ?? 1000);
const QUERY = { query: '{ apiKeys(first: 1) { edges { cursor } } }' };

/** A 40-line module; every tenth one has an injectable query (findings for the review to store). */
const moduleSource = (i: number, round: number) =>
  [
    `// round ${round}`,
    `export function price${i}(items: Array<{ price: number; quantity: number }>): number {`,
    `  let total = 0;`,
    `  for (const item of items) total += item.price * item.quantity;`,
    `  return total > ${i} ? total - ${i} : total;`,
    `}`,
    ...Array.from({ length: 30 }, (_, k) => `export const limit${i}_${k} = ${i * 31 + k};`),
    i % 10 === 0 ? `export const find${i} = (db: any, req: any) => db.query("SELECT * FROM t WHERE id = " + req.query.id);` : '',
  ].join('\n');
const snapshot = (round: number) => Array.from({ length: FILES }, (_, i) => ({ path: `src/pkg${Math.floor(i / 50)}/module-${i}.ts`, content: moduleSource(i, round) }));

const infra = await startBenchInfra();
// On a loaded machine two heavy jobs in one worker hold its event loop past the 5 s connect timeout.
const TIMEOUTS = { DATABASE_CONNECT_TIMEOUT_MS: '30000' };
const gateway = await startGateway(infra, { REVIEW_WAIT_SECONDS: '0', ...TIMEOUTS });
const { db } = gateway.services;
const { secret, userId } = await createUserWithKey(db, { name: 'bench', tier: 'team' });
await unlimited(db, userId);

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string };
};

/** Starts a review and a project index run of FILES files each; resolves when both have ended. */
async function heavyJobs(round: number): Promise<{ reviewMs: number; indexMs: number; outcome: string }> {
  const t0 = performance.now();
  const files = snapshot(round);
  const [review, project] = await Promise.all([post('/v1/reviews', { files }), post('/v1/projects', { name: `bench ${round}`, files })]);
  const ended = async (check: () => Promise<boolean>) => {
    while (!(await check())) await new Promise((r) => setTimeout(r, 100));
    return performance.now() - t0;
  };
  const [reviewMs, indexMs] = await Promise.all([
    ended(async () => ['completed', 'failed'].includes((await db.review.findUniqueOrThrow({ where: { id: review.id } })).status)),
    ended(async () => (await db.project.findUniqueOrThrow({ where: { id: project.id } })).indexStatus !== 'indexing'),
  ]);
  const [r, p] = [await db.review.findUniqueOrThrow({ where: { id: review.id } }), await db.project.findUniqueOrThrow({ where: { id: project.id } })];
  // Either way the jobs ran for the whole measurement; a failure (a loaded machine's timeouts) is reported.
  return { reviewMs, indexMs, outcome: `review ${r.status}, index ${p.indexStatus}` };
}

/** Query latencies, one request at a time, until `until` resolves or for `ms`. */
async function probe(until: Promise<unknown> | number): Promise<Stats & { ms: number }> {
  let done = false;
  const stop = (typeof until === 'number' ? new Promise((r) => setTimeout(r, until)) : until).then(() => (done = true));
  const latencies: number[] = [];
  const started = performance.now();
  while (!done) {
    const t = performance.now();
    await gql(gateway.url, QUERY, secret);
    latencies.push(performance.now() - t);
  }
  await stop;
  const ms = performance.now() - started;
  return { ...summarize(latencies, ms), ms };
}

interface Worker {
  close(): Promise<void>;
}
const shapes: Array<{ name: string; start(): Promise<Worker> }> = [
  {
    name: 'worker process (npm start now)',
    async start() {
      const child = await startWorkerChild({ databaseUrl: infra.dbUrl, temporalAddress: infra.temporalAddress }, createLogger('warn'), {
        TASK_QUEUE_PREFIX: gateway.config.TASK_QUEUE_PREFIX,
        WORKER_QUEUES: 'cpu',
        LOG_LEVEL: 'warn',
        ...TIMEOUTS,
      });
      return { close: () => child.shutdown() };
    },
  },
  {
    name: "worker in the gateway's process (before)",
    async start() {
      const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
      const workers = await startWorkers(gateway.services, connection, gateway.config, ['cpu']);
      return { close: async () => (await workers.shutdown(), await connection.close()) };
    },
  },
];

const rows: string[] = [];
for (const shape of shapes) {
  const worker = await shape.start();
  log(`${shape.name}: warming up…`);
  // Idle windows last as long as the busy window before them (SECONDS at least): a p99 over the same span.
  let windowMs = Math.max(SECONDS * 1000, (await probe(heavyJobs(-1))).ms);
  const idle: Stats[] = [];
  const busy: Array<Stats & { ms: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    idle.push(await probe(windowMs));
    const jobs = heavyJobs(round);
    busy.push(await probe(jobs));
    windowMs = Math.max(SECONDS * 1000, busy.at(-1)!.ms);
    const { reviewMs, indexMs, outcome } = await jobs;
    log(
      `  round ${round + 1}: idle p50 ${idle.at(-1)!.p50.toFixed(1)} ms p99 ${idle.at(-1)!.p99.toFixed(1)} ms (n=${idle.at(-1)!.count}); ` +
        `busy p50 ${busy.at(-1)!.p50.toFixed(1)} ms p99 ${busy.at(-1)!.p99.toFixed(1)} ms (n=${busy.at(-1)!.count}); review ${reviewMs.toFixed(0)} ms, index ${indexMs.toFixed(0)} ms (${outcome})`,
    );
  }
  await worker.close();
  const [i50, i99, b50, b99] = [median(idle.map((s) => s.p50)), median(idle.map((s) => s.p99)), median(busy.map((s) => s.p50)), median(busy.map((s) => s.p99))];
  rows.push(`| ${shape.name} | ${i50.toFixed(1)} ms | ${i99.toFixed(1)} ms | ${b50.toFixed(1)} ms | ${b99.toFixed(1)} ms | **${(b99 / i99).toFixed(2)}** ${b99 / i99 <= 2 ? '✓' : '✗'} |`);
}

log('');
log(`| worker | idle p50 | idle p99 | busy p50 | busy p99 | p99 ratio (target ≤ 2) |`);
log(`|---|---|---|---|---|---|`);
for (const row of rows) log(row);

await gateway.close();
await infra.close();
process.exit(0);
