/**
 * `npm run bench:orchestration`: an orchestration of 50 parallel built-in agents (wall time from
 * the POST to the completed orchestration) against the slowest single agent run alone (the same
 * agent and files as a plain task, POST to completed), side by side in alternating rounds.
 * Target: ≤ 1.5×. Every agent reviews the same files, so any agent is "the slowest".
 */
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
const single: number[] = [];
const orch: number[] = [];
for (let r = 0; r < Math.max(ROUNDS, 5); r++) {
  single.push(await singleAgent());
  orch.push(await orchestration());
}
const s = summarize(single, 1);
const o = summarize(orch, 1);
console.log('');
console.log(`slowest single agent alone        p50 ${s.p50.toFixed(0)} ms  p99 ${s.p99.toFixed(0)} ms  (n=${s.count})`);
console.log(`orchestration of ${AGENTS} parallel agents p50 ${o.p50.toFixed(0)} ms  p99 ${o.p99.toFixed(0)} ms  (n=${o.count})`);
console.log(`ratio of medians ${(o.p50 / s.p50).toFixed(2)} (target ≤ 1.5)`);

await workers.shutdown();
await connection.close();
await gateway.close();
await infra.close();
process.exit(0);
