/**
 * `npm run bench:webhooks`: event-to-delivery latency at a fixed rate (BENCH_RATE, default 200
 * events/s for BENCH_SECONDS) to a local HTTP receiver, against the start-to-first-activity latency
 * of a bare Temporal workflow started at the same rate on the same server. Counts lost and doubled
 * deliveries. Targets: webhook p99 ≤ 2× the bare p99, and < 500 ms absolute on loopback.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
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
import { summarize, type Stats } from './stats.js';

const RATE = Number(env.BENCH_RATE ?? 200);
const infra = await startBenchInfra();
const gateway = await startGateway(infra, { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.0/8', WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64'), WORKER_MAX_CONCURRENT_ACTIVITIES: '200' });
const { services } = gateway;
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(services, connection, gateway.config, ['cpu']);

// The receiver: when each event arrived, and how often.
const sentAt = new Map<string, number>();
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

async function bare(seconds: number): Promise<Stats> {
  bareStarted.clear();
  bareFirst.clear();
  await atRate(seconds, async () => {
    const id = `bare-${randomBytes(8).toString('hex')}`;
    bareStarted.set(id, performance.now());
    await services.temporal.workflow.start('bareWorkflow', { taskQueue: bareQueue, workflowId: id });
  });
  await waitUntil(() => bareFirst.size >= bareStarted.size, 60_000);
  return summarize([...bareStarted].filter(([id]) => bareFirst.has(id)).map(([id, t]) => bareFirst.get(id)! - t), seconds * 1000);
}

async function webhooks(seconds: number): Promise<Stats & { lost: number; doubled: number }> {
  sentAt.clear();
  arrivals.clear();
  await atRate(seconds, async (i) => {
    const key = `${i}-${randomBytes(4).toString('hex')}`;
    sentAt.set(key, performance.now());
    await publishWebhookEvent(services, { type: 'task.completed', resourceId: newId('task'), ownerId: userId, data: { key } });
  });
  await waitUntil(() => arrivals.size >= sentAt.size, 60_000);
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
const base = await bare(SECONDS);
const hook = await webhooks(SECONDS);
await new Promise((r) => setTimeout(r, 1000)); // let any late duplicate arrive before counting
const doubled = [...arrivals.values()].filter((a) => a.length > 1).length;

const fmt = (s: Stats) => `n=${s.count}, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`;
console.log('');
console.log(`rate ${RATE}/s for ${SECONDS} s each`);
console.log(`bare workflow start → first activity   ${fmt(base)}`);
console.log(`webhook event → delivery received      ${fmt(hook)}, lost ${hook.lost}, doubled ${doubled}`);
console.log(`p99 ratio ${(hook.p99 / base.p99).toFixed(2)} (target ≤ 2), p50 ratio ${(hook.p50 / base.p50).toFixed(2)}; absolute p99 ${hook.p99 < 500 ? '<' : '≥'} 500 ms`);

bareWorker.shutdown();
await bareRun;
await workers.shutdown();
await connection.close();
receiver.close();
await gateway.close();
await infra.close();
process.exit(0);
