/**
 * `npm run bench:orchestration`: an orchestration of 50 parallel built-in agents (wall time from
 * the POST to the completed orchestration) against the slowest single agent run alone (the same
 * agent and files as a plain task, POST to completed), side by side in alternating rounds.
 * Target: ≤ 1.5×. Every agent reviews the same files, so any agent is "the slowest".
 *
 * The same rounds also time the engine's floor for this shape: a bare parent workflow running 50
 * bare child workflows of one no-op activity each, against one bare workflow alone, on the same
 * Temporal server. Its ratio is what the Temporal dev server alone costs for this shape.
 *
 * CPU floor: the built-in agents are CPU-bound, so 50 of them cannot take less than the sum of
 * the single agents' CPU time (this process's: gateway, worker and analysis; the Temporal server
 * and PostgreSQL are other processes) divided by the cores available; the orchestration's wall
 * time is reported against it.
 *
 * Model-backed agents (the real case: they wait on the model): with a stand-in OpenAI-protocol
 * server answering every call after BENCH_MODEL_DELAY_MS (500), an orchestration of 50 `assistant`
 * agents against one `assistant` task alone, alternating. Target: ≤ 1.5×. BENCH_PART=model or
 * cpu runs one part only. BENCH_TRACE=1 then traces one more model orchestration: its phases from
 * Temporal's histories, when each call reached the model, the database pool's and row locks' waits.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from '@temporalio/worker';
import pg from 'pg';
import { metrics } from '../src/metrics.js';
import { databaseUnavailable } from '../src/db/unavailable.js';
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, startBenchInfra, startGateway, unlimited } from './harness.js';
import { startModelServer } from './model-server.js';
import { traceOrchestration } from './orchestration-trace.js';
import { cpuSince, snapshot } from './process-cpu.js';
import { summarize } from './stats.js';

const AGENTS = Number(env.BENCH_AGENTS ?? 50);
const PART = env.BENCH_PART ?? 'all';
const MODEL_DELAY_MS = Number(env.BENCH_MODEL_DELAY_MS ?? 500);
/** BENCH_TRACE=1: after the rounds, one more orchestration, traced phase by phase (see orchestration-trace.ts). */
const TRACE = env.BENCH_TRACE === '1';
const BENCH_ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const model = await startModelServer(MODEL_DELAY_MS);
const infra = await startBenchInfra();
// MODEL_MAX_CONCURRENCY stays at its default (64): the point is that the default lets 50 run at once.
// BENCH_GPU_CONCURRENCY sets a gpu worker's limit instead (4 was the default before MODEL_MAX_CONCURRENCY).
const gpu: Record<string, string> = env.BENCH_GPU_CONCURRENCY ? { WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: env.BENCH_GPU_CONCURRENCY } : {};
// BENCH_POOL_SIZE: the gateway's DATABASE_POOL_SIZE (the harness's 20 otherwise).
const pool: Record<string, string> = env.BENCH_POOL_SIZE ? { DATABASE_POOL_SIZE: env.BENCH_POOL_SIZE } : {};
const gateway = await startGateway(infra, { MODEL_BASE_URL: model.url, MODEL_NAME: 'bench-model', ...gpu, ...pool });
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(gateway.services, connection, gateway.config, ['cpu', 'gpu']);
const { secret, userId } = await createUserWithKey(gateway.services.db, { name: 'bench', tier: 'team' });
await unlimited(gateway.services.db, userId);

// A realistic file: 400 lines the reviewers parse and scan.
const content = Array.from({ length: 400 }, (_, i) => `export function f${i}(a: number) { if (a > ${i}) { return a * ${i}; } return a; }`).join('\n');
const files = [{ path: 'src/big.ts', content }];

const bareQueue = `bench-bare-${randomBytes(3).toString('hex')}`;
const bareWorker = await Worker.create({
  connection,
  taskQueue: bareQueue,
  workflowsPath: new URL('./bare-workflow.ts', import.meta.url).pathname,
  activities: { noop: async () => {} },
});
const bareRun = bareWorker.run();
const bareTimed = async (workflow: 'bareWorkflow' | 'bareParentWorkflow', args: unknown[]) => {
  const t0 = performance.now();
  await gateway.services.temporal.workflow.execute(workflow, { taskQueue: bareQueue, workflowId: `bare-${randomBytes(8).toString('hex')}`, args });
  return performance.now() - t0;
};

const post = async (path: string, body: unknown) => {
  const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, string>;
};
// The status polls use a connection of their own: they neither take the gateway's pooled
// connections nor fail when its pool is busy; a poll the database cannot answer is tried again.
const poller = new pg.Client({ connectionString: infra.dbUrl });
await poller.connect();
const statusOf = async (table: 'agent_tasks' | 'orchestrations', id: string) =>
  (await poller.query<{ status: string; error: unknown }>(`SELECT status::text, ${table === 'agent_tasks' ? 'error' : 'NULL AS error'} FROM ${table} WHERE id = $1`, [id])).rows[0];
const until = async (check: () => Promise<boolean>) => {
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (!databaseUnavailable(err)) throw err;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** CPU time of this process (µs) spent by the single agents timed so far. */
let singleCpuUs = 0;

async function singleAgent(agentType = 'code_expert'): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { task_id } = await post('/v1/agents/execute', { task: 'review', agent_type: agentType, context: { files } });
  await until(async () => {
    const task = await statusOf('agent_tasks', task_id);
    if (task.status === 'failed' || task.status === 'cancelled') throw new Error(`task ended ${task.status}: ${JSON.stringify(task.error)}`);
    return task.status === 'completed';
  });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (agentType === 'code_expert') singleCpuUs += cpu.user + cpu.system;
  return wall;
}

let lastOrchestration = { id: '', postedAt: 0 };

async function orchestration(agentType = 'code_expert'): Promise<number> {
  const t0 = performance.now();
  const postedAt = Date.now();
  const { orchestration_id } = await post('/v1/agents/orchestrate', { goal: 'review', strategy: 'parallel', agents: Array(AGENTS).fill(agentType), context: { files } });
  let o = { status: 'in_progress' };
  await until(async () => (o = await statusOf('orchestrations', orchestration_id)).status !== 'in_progress');
  if (o.status !== 'completed') throw new Error(`orchestration ended ${o.status}`);
  lastOrchestration = { id: orchestration_id, postedAt };
  return performance.now() - t0;
}

const cores = availableParallelism();
if (PART !== 'model') {
  console.log('warming up…');
  await singleAgent(); // warm both paths
  console.log('single agent ok');
  await orchestration();
  await bareTimed('bareParentWorkflow', [AGENTS]);
  singleCpuUs = 0;
  const single: number[] = [];
  const orch: number[] = [];
  const bareOne: number[] = [];
  const bareMany: number[] = [];
  for (let r = 0; r < BENCH_ROUNDS; r++) {
    single.push(await singleAgent());
    orch.push(await orchestration());
    bareOne.push(await bareTimed('bareWorkflow', []));
    bareMany.push(await bareTimed('bareParentWorkflow', [AGENTS]));
    console.log(`round ${r + 1}: single ${single.at(-1)!.toFixed(0)} ms, ${AGENTS} agents ${orch.at(-1)!.toFixed(0)} ms, bare 1 ${bareOne.at(-1)!.toFixed(0)} ms, bare ${AGENTS} ${bareMany.at(-1)!.toFixed(0)} ms`);
  }
  const s = summarize(single, 1);
  const o = summarize(orch, 1);
  const b1 = summarize(bareOne, 1);
  const bn = summarize(bareMany, 1);
  const cpuPerAgentMs = singleCpuUs / single.length / 1000;
  const cpuFloorMs = (cpuPerAgentMs * AGENTS) / cores;
  console.log('');
  console.log('built-in agents (code_expert, CPU-bound):');
  console.log(`slowest single agent alone        p50 ${s.p50.toFixed(0)} ms  p99 ${s.p99.toFixed(0)} ms  (n=${s.count}); this process's CPU time per agent ${cpuPerAgentMs.toFixed(1)} ms`);
  console.log(`orchestration of ${AGENTS} parallel agents p50 ${o.p50.toFixed(0)} ms  p99 ${o.p99.toFixed(0)} ms  (n=${o.count})`);
  console.log(`ratio of medians ${(o.p50 / s.p50).toFixed(2)} (against one agent alone)`);
  console.log(`CPU floor: ${AGENTS} × CPU per agent / ${cores} cores = ${cpuFloorMs.toFixed(0)} ms; orchestration / CPU floor ${(o.p50 / cpuFloorMs).toFixed(2)} (target ≤ 1.5)`);
  console.log('');
  console.log(`engine floor: one bare workflow      p50 ${b1.p50.toFixed(0)} ms  p99 ${b1.p99.toFixed(0)} ms`);
  console.log(`engine floor: ${AGENTS} bare children         p50 ${bn.p50.toFixed(0)} ms  p99 ${bn.p99.toFixed(0)} ms`);
  console.log(`engine floor ratio of medians ${(bn.p50 / b1.p50).toFixed(2)}`);
}

if (PART !== 'cpu') {
  console.log('');
  console.log(`model-backed agents (assistant; the model answers after ${MODEL_DELAY_MS} ms); gpu worker concurrency ${gateway.config.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES}:`);
  await singleAgent('assistant');
  await orchestration('assistant');
  model.stats.peak = 0;
  const single: number[] = [];
  const orch: number[] = [];
  for (let r = 0; r < BENCH_ROUNDS; r++) {
    let cpu0 = snapshot();
    single.push(await singleAgent('assistant'));
    const singleCpu = cpuSince(cpu0);
    cpu0 = snapshot();
    const from = process.hrtime.bigint() / 1000n;
    orch.push(await orchestration('assistant'));
    // The round's window on the monotonic clock (µs), to cut a CPU profile (BENCH_CPU_PROF) to it.
    if (env.BENCH_CPU_PROF) console.log(`  window (µs, monotonic): ${from}-${process.hrtime.bigint() / 1000n}`);
    console.log(`round ${r + 1}: single ${single.at(-1)!.toFixed(0)} ms, ${AGENTS} agents ${orch.at(-1)!.toFixed(0)} ms`);
    // Where each's CPU went: this process (gateway, workers, workflows), the Temporal server, PostgreSQL; and the machine's (all cores, other jobs too).
    console.log(`  single: ${singleCpu}\n  ${AGENTS} agents: ${cpuSince(cpu0)}`);
  }
  const s = summarize(single, 1);
  const o = summarize(orch, 1);
  console.log(`single model agent alone          p50 ${s.p50.toFixed(0)} ms  p99 ${s.p99.toFixed(0)} ms  (n=${s.count})`);
  console.log(`orchestration of ${AGENTS} model agents  p50 ${o.p50.toFixed(0)} ms  p99 ${o.p99.toFixed(0)} ms  (n=${o.count})`);
  console.log(`ratio of medians ${(o.p50 / s.p50).toFixed(2)} (target ≤ 1.5); most model calls at once: ${model.stats.peak}`);
  if (TRACE) {
    model.stats.arrivals.length = 0;
    // The database pool while it runs: are queries waiting for a connection?
    const pool = { waiting: 0, inUse: 0, lockWaits: 0 };
    // And PostgreSQL's side: statements waiting for a lock (another writer's row), from a connection of its own.
    const watcher = new pg.Client({ connectionString: infra.dbUrl });
    await watcher.connect();
    let watching = true;
    const locks = (async () => {
      while (watching) {
        const { rows } = await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`);
        pool.lockWaits = Math.max(pool.lockWaits, rows[0].n);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const sampler = setInterval(() => {
      void Promise.all([metrics.dbWaiting.get(), metrics.dbConnections.get()]).then(([w, c]) => {
        pool.waiting = Math.max(pool.waiting, w.values.reduce((n, v) => n + v.value, 0));
        pool.inUse = Math.max(pool.inUse, c.values.filter((v) => v.labels.state === 'in_use').reduce((n, v) => n + v.value, 0));
      });
    }, 20);
    await orchestration('assistant');
    clearInterval(sampler);
    watching = false;
    await locks;
    await watcher.end();
    console.log(`database pool (DATABASE_POOL_SIZE ${gateway.config.DATABASE_POOL_SIZE}): most connections in use ${pool.inUse}, most queries waiting for one ${pool.waiting}; most statements waiting for a row lock ${pool.lockWaits}`);
    await traceOrchestration(gateway.services.temporal, lastOrchestration.id, lastOrchestration.postedAt, model.stats.arrivals);
  }
}

bareWorker.shutdown();
await bareRun;
await poller.end();
await workers.shutdown();
await connection.close();
await gateway.close();
await infra.close();
await model.close();
process.exit(0);
