/**
 * `npm run bench:orchestration`: an orchestration of 50 parallel built-in agents (wall time from
 * the POST to the completed orchestration) against the slowest single agent run alone (the same
 * agent and files as a plain task, POST to completed), side by side in alternating rounds.
 * Target: ≤ 1.5×. Every agent reviews the same files, so any agent is "the slowest".
 *
 * The same rounds also time the engine's floor for this shape: a bare parent workflow running 50
 * bare child workflows of one no-op activity each, against one bare workflow alone, on the same
 * Temporal server. Its ratio is what the Temporal dev server alone costs for 50 children here.
 */
import { randomBytes } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, ROUNDS, startBenchInfra, startGateway, unlimited } from './harness.js';
import { summarize } from './stats.js';

const AGENTS = Number(env.BENCH_AGENTS ?? 50);
const infra = await startBenchInfra();
const gateway = await startGateway(infra);
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(gateway.services, connection, gateway.config, ['cpu']);
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
const until = async (check: () => Promise<boolean>) => {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
};

async function singleAgent(): Promise<number> {
  const t0 = performance.now();
  const { task_id } = await post('/v1/agents/execute', { task: 'review', agent_type: 'code_expert', context: { files } });
  await until(async () => (await gateway.services.db.agentTask.findUniqueOrThrow({ where: { id: task_id } })).status === 'completed');
  return performance.now() - t0;
}

async function orchestration(): Promise<number> {
  const t0 = performance.now();
  const { orchestration_id } = await post('/v1/agents/orchestrate', { goal: 'review', strategy: 'parallel', agents: Array(AGENTS).fill('code_expert'), context: { files } });
  await until(async () => (await gateway.services.db.orchestration.findUniqueOrThrow({ where: { id: orchestration_id } })).status !== 'in_progress');
  const o = await gateway.services.db.orchestration.findUniqueOrThrow({ where: { id: orchestration_id } });
  if (o.status !== 'completed') throw new Error(`orchestration ended ${o.status}`);
  return performance.now() - t0;
}

console.log('warming up…');
await singleAgent(); // warm both paths
console.log('single agent ok');
await orchestration();
await bareTimed('bareParentWorkflow', [AGENTS]);
const single: number[] = [];
const orch: number[] = [];
const bareOne: number[] = [];
const bareMany: number[] = [];
for (let r = 0; r < Math.max(ROUNDS, 5); r++) {
  single.push(await singleAgent());
  orch.push(await orchestration());
  bareOne.push(await bareTimed('bareWorkflow', []));
  bareMany.push(await bareTimed('bareParentWorkflow', [AGENTS]));
}
const s = summarize(single, 1);
const o = summarize(orch, 1);
const b1 = summarize(bareOne, 1);
const bn = summarize(bareMany, 1);
console.log('');
console.log(`slowest single agent alone        p50 ${s.p50.toFixed(0)} ms  p99 ${s.p99.toFixed(0)} ms  (n=${s.count})`);
console.log(`orchestration of ${AGENTS} parallel agents p50 ${o.p50.toFixed(0)} ms  p99 ${o.p99.toFixed(0)} ms  (n=${o.count})`);
console.log(`ratio of medians ${(o.p50 / s.p50).toFixed(2)} (target ≤ 1.5)`);
console.log('');
console.log(`engine floor: one bare workflow      p50 ${b1.p50.toFixed(0)} ms  p99 ${b1.p99.toFixed(0)} ms`);
console.log(`engine floor: ${AGENTS} bare children         p50 ${bn.p50.toFixed(0)} ms  p99 ${bn.p99.toFixed(0)} ms`);
console.log(`engine floor ratio of medians ${(bn.p50 / b1.p50).toFixed(2)}`);

bareWorker.shutdown();
await bareRun;
await workers.shutdown();
await connection.close();
await gateway.close();
await infra.close();
process.exit(0);
