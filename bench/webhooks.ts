/**
 * `npm run bench:webhooks`: event-to-delivery latency at a fixed rate (BENCH_RATE, default 200
 * events/s for BENCH_SECONDS) to a local HTTP receiver, against the start-to-first-activity latency
 * of a bare Temporal workflow started at the same rate on the same server. Counts lost and doubled
 * deliveries. Targets: webhook p99 ≤ 2× the bare p99, and < 500 ms absolute on loopback.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { newId } from '../src/ids.js';
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { publishWebhookEvent } from '../src/services/webhooks/events.js';
import { createWebhook } from '../src/services/webhooks/endpoints.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, SECONDS, startBenchInfra, startGateway } from './harness.js';
import { median, summarize, type Stats } from './stats.js';

const RATE = Number(env.BENCH_RATE ?? 200);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
// Per-step timestamps, when the code under test calls globalThis.__probe (a profiling patch).
const marks = new Map<string, Record<string, number>>();
const eventToDelivery = new Map<string, string>();
(globalThis as { __probe?: (id: string, step: string) => void }).__probe = (id: string, step: string) => {
  const key = eventToDelivery.get(id) ?? id;
  const m = marks.get(key) ?? {};
  if (m[step] === undefined) m[step] = performance.now();
  marks.set(key, m);
};
const infra = await startBenchInfra();
const gateway = await startGateway(infra, { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.0/8', WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), WORKER_MAX_CONCURRENT_ACTIVITIES: '200' });
const { services } = gateway;
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(services, connection, gateway.config, ['cpu']);

// The receiver: when each event arrived, and how often.
const sentAt = new Map<string, number>();
const keyToDelivery = new Map<string, string>();
const arrivals = new Map<string, number[]>();
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const now = performance.now();
    const key = (JSON.parse(body) as { data: { key: string } }).data.key;
    arrivals.set(key, [...(arrivals.get(key) ?? []), now]);
    res.end('ok');
  });
});
await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
const port = (receiver.address() as AddressInfo).port;

const { userId } = await createUserWithKey(services.db, { name: 'bench', tier: 'team' });
const project = await services.db.project.create({ data: { id: newId('project'), ownerId: userId, name: 'bench' } });
const principal = { userId, method: 'api_key' as const, credentialId: 'bench', keyKind: 'secret' as const, scopes: ['read', 'write', 'generate', 'account'] as const, tier: 'team', teamId: null, allowedCidrs: [] };
await createWebhook(services, principal, { projectId: project.id, url: `http://127.0.0.1:${port}/hook`, eventTypes: ['task.completed'] });

// The baseline: a bare workflow whose one activity notes when it started.
const bareQueue = `bench-bare-${randomBytes(4).toString('hex')}`;
const bareStarted = new Map<string, number>();
const bareFirst = new Map<string, number>();
const bareWorker = await Worker.create({
  connection,
  taskQueue: bareQueue,
  workflowsPath: new URL('./bare-workflow.ts', import.meta.url).pathname,
  activities: {
    noop: async () => {
      const id = Context.current().info.workflowExecution?.workflowId ?? "";
      if (!bareFirst.has(id)) bareFirst.set(id, performance.now());
    },
  },
  maxConcurrentActivityTaskExecutions: 200,
});
const bareRun = bareWorker.run();

/** Calls `op(i)` RATE times a second for `seconds` (open loop: a slow call does not delay the next). */
async function atRate(seconds: number, op: (i: number) => Promise<void>) {
  const total = Math.round(RATE * seconds);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / RATE - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(op(i));
  }
  await Promise.all(pending);
}

const waitUntil = async (check: () => boolean, ms: number) => {
  const deadline = performance.now() + ms;
  while (!check() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
};

let bareFailed = 0;
let publishFailed = 0;
async function bare(seconds: number): Promise<Stats> {
  bareStarted.clear();
  bareFirst.clear();
  await atRate(seconds, async () => {
    const id = `bare-${randomBytes(8).toString('hex')}`;
    bareStarted.set(id, performance.now());
    // On an overloaded machine a start can fail (the gateway's guard then refuses calls for a few
    // seconds): counted, and left out of the figures like a lost delivery would be.
    await services.temporal.workflow.start('bareWorkflow', { taskQueue: bareQueue, workflowId: id }).catch(() => {
      bareStarted.delete(id);
      bareFailed++;
    });
  });
  await waitUntil(() => bareFirst.size >= bareStarted.size, 60_000);
  return summarize([...bareStarted].filter(([id]) => bareFirst.has(id)).map(([id, t]) => bareFirst.get(id)! - t), seconds * 1000);
}

async function webhooks(seconds: number): Promise<Stats & { lost: number; doubled: number }> {
  sentAt.clear();
  arrivals.clear();
  marks.clear();
  keyToDelivery.clear();
  await atRate(seconds, async (i) => {
    const key = `${i}-${randomBytes(4).toString('hex')}`;
    sentAt.set(key, performance.now());
    const published = await publishWebhookEvent(services, { type: 'task.completed', resourceId: newId('task'), ownerId: userId, data: { key } }).catch(() => null);
    if (!published) {
      // Refused by an overloaded database (pool wait past its limit): counted, left out like a refused bare start.
      sentAt.delete(key);
      publishFailed++;
      return;
    }
    eventToDelivery.set(published.eventId, published.deliveryIds[0]);
    keyToDelivery.set(key, published.deliveryIds[0]);
  });
  await waitUntil(() => arrivals.size >= sentAt.size, 60_000);
  const steps = ['recorded', 'startRequested', 'started', 'activityStarted', 'loaded', 'httpSent', 'received', 'recordingAttempt'];
  const cum: Record<string, number[]> = {};
  for (const [k, t] of sentAt) {
    const m: Record<string, number | undefined> = { ...marks.get(keyToDelivery.get(k) ?? ''), received: arrivals.get(k)?.[0] };
    for (const st of steps) if (m[st] !== undefined) (cum[st] ??= []).push(m[st] - t);
  }
  if (Object.keys(cum).length > 1) console.log('  steps (ms after publish, p50/p99): ' + steps.filter((st) => cum[st]).map((st) => `${st} ${summarize(cum[st], 1).p50.toFixed(0)}/${summarize(cum[st], 1).p99.toFixed(0)}`).join(', '));
  const latencies = [...sentAt].filter(([k]) => arrivals.has(k)).map(([k, t]) => arrivals.get(k)![0] - t);
  return {
    ...summarize(latencies, seconds * 1000),
    lost: [...sentAt.keys()].filter((k) => !arrivals.has(k)).length,
    doubled: [...arrivals.values()].filter((a) => a.length > 1).length,
  };
}

console.log('warming up…');
await bare(1);
await webhooks(1);
const fmt = (s: Stats) => `n=${s.count}, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`;
const bases: Stats[] = [];
const hooks: Stats[] = [];
let lost = 0;
let doubled = 0;
console.log(`rate ${RATE}/s for ${SECONDS} s each, ${ROUNDS} alternating rounds`);
for (let r = 0; r < ROUNDS; r++) {
  const load = loadavg()[0].toFixed(1);
  // Alternate which path goes first, so neither always runs after the other's backlog.
  let base: Stats;
  let hook: Awaited<ReturnType<typeof webhooks>>;
  if (r % 2 === 0) {
    base = await bare(SECONDS);
    hook = await webhooks(SECONDS);
  } else {
    hook = await webhooks(SECONDS);
    base = await bare(SECONDS);
  }
  await new Promise((res) => setTimeout(res, 1000)); // let any late duplicate arrive before counting
  const roundDoubled = [...arrivals.values()].filter((a) => a.length > 1).length;
  lost += hook.lost;
  doubled += roundDoubled;
  bases.push(base);
  hooks.push(hook);
  console.log(`round ${r + 1} (load average ${load}): bare ${fmt(base)} | webhook ${fmt(hook)}, lost ${hook.lost}, doubled ${roundDoubled} | ratio p50 ${(hook.p50 / base.p50).toFixed(2)}, p99 ${(hook.p99 / base.p99).toFixed(2)}`);
}
const m = (xs: Stats[], k: 'p50' | 'p99') => median(xs.map((s) => s[k]));
console.log('');
console.log(`medians over ${ROUNDS} rounds at ${RATE}/s:`);
if (bareFailed || publishFailed) console.log(`refused and left out: bare workflow starts ${bareFailed}, webhook events ${publishFailed}`);
console.log(`bare workflow start → first activity   p50 ${m(bases, 'p50').toFixed(1)} ms, p99 ${m(bases, 'p99').toFixed(1)} ms`);
console.log(`webhook event → delivery received      p50 ${m(hooks, 'p50').toFixed(1)} ms, p99 ${m(hooks, 'p99').toFixed(1)} ms, lost ${lost}, doubled ${doubled}`);
console.log(`ratio (median of rounds) p50 ${median(hooks.map((h, i) => h.p50 / bases[i].p50)).toFixed(2)}, p99 ${median(hooks.map((h, i) => h.p99 / bases[i].p99)).toFixed(2)} (target ≤ 2); absolute webhook p99 ${m(hooks, 'p99') < 500 ? '<' : '≥'} 500 ms`);

bareWorker.shutdown();
await bareRun;
await workers.shutdown();
await connection.close();
receiver.close();
await gateway.close();
await infra.close();
process.exit(0);
