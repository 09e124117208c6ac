/**
 * `npm run bench:projects`: the semantic index (issue #7). Indexes a generated TypeScript/Python
 * snapshot (BENCH_FILES files, 500 by default; POST to ready), re-indexes it unchanged (every file
 * skipped by hash) and with 10% of the files changed, then measures search latency over REST
 * (closed loop, one client) for symbol names and multi-word queries.
 */
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, startBenchInfra, startGateway, SECONDS, unlimited } from './harness.js';
import { closedLoop, fmt } from './stats.js';

const FILES = Number(env.BENCH_FILES ?? 500);
const infra = await startBenchInfra();
const gateway = await startGateway(infra);
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(gateway.services, connection, gateway.config, ['cpu']);
const { secret, userId } = await createUserWithKey(gateway.services.db, { name: 'bench', tier: 'team' });
await unlimited(gateway.services.db, userId);

const tsFile = (i: number, v = 0) => ({
  path: `src/module${i}/service${i}.ts`,
  content: Array.from({ length: 20 }, (_, j) => `export function handleOrder${i}Step${j}(orderId: string, amount: number) {\n  return { orderId, total: amount * ${j + v} };\n}\n`).join('\n'),
});
const pyFile = (i: number, v = 0) => ({
  path: `py/pkg${i}/billing_${i}.py`,
  content: Array.from({ length: 20 }, (_, j) => `def compute_invoice_${i}_${j}(amount):\n    return amount * ${j + v}\n`).join('\n'),
});
const snapshot = (changedEvery = 0) => Array.from({ length: FILES }, (_, i) => (i % 2 ? pyFile : tsFile)(i, changedEvery && i % changedEvery === 0 ? 1 : 0));

/** A project as GET /v1/projects/{id} answers it, the fields this benchmark reads. */
type Project = { id: string; index: { status: string; symbols: number; chunks: number; last_run: { files_indexed: number; files_unchanged: number } } };

const call = async <T = unknown>(method: string, path: string, body?: unknown) => {
  const res = await fetch(`${gateway.url}${path}`, { method, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const ready = async (id: string) => {
  for (;;) {
    const p = await call<Project>('GET', `/v1/projects/${id}`);
    if (p.index.status !== 'indexing') return p;
    await new Promise((r) => setTimeout(r, 20));
  }
};

let t0 = performance.now();
const created = await call<Project>('POST', '/v1/projects', { name: 'bench', files: snapshot() });
const first = await ready(created.id);
const firstMs = performance.now() - t0;
t0 = performance.now();
await call('POST', `/v1/projects/${created.id}/index`, { files: snapshot() });
const unchanged = await ready(created.id);
const unchangedMs = performance.now() - t0;
t0 = performance.now();
await call('POST', `/v1/projects/${created.id}/index`, { files: snapshot(10) });
const tenth = await ready(created.id);
const tenthMs = performance.now() - t0;

const queries = ['handleOrder42Step7', 'compute invoice', 'order total amount', 'billing_17'];
let q = 0;
const search = await closedLoop(async () => {
  await call('GET', `/v1/projects/${created.id}/search?q=${encodeURIComponent(queries[q++ % queries.length])}&limit=10`);
}, { concurrency: 1, durationMs: SECONDS * 1000 });

console.log('');
console.log(`index ${FILES} files (${first.index.symbols} symbols, ${first.index.chunks} chunks): ${firstMs.toFixed(0)} ms (${first.index.status})`);
console.log(`re-index unchanged: ${unchangedMs.toFixed(0)} ms (${unchanged.index.last_run.files_unchanged} skipped)`);
console.log(`re-index with 10% changed: ${tenthMs.toFixed(0)} ms (${tenth.index.last_run.files_indexed} indexed, ${tenth.index.last_run.files_unchanged} skipped)`);
console.log(`search over REST: ${fmt(search)}`);

await workers.shutdown();
await connection.close();
await gateway.close();
await infra.close();
process.exit(0);
