/**
 * `npm run bench`: the foundation's benchmarks, each side by side with its baseline in one run.
 *  (a) authenticated GraphQL task(id:) vs a bare Apollo Server 5 on Fastify answering { hello }
 *  (b) agent tasks completed/s end to end (GraphQL mutation → RESULT on a graphql-ws subscription)
 *      vs a bare Temporal workflow with one no-op activity, on the same Temporal server
 *  (c) submit → first progress event seen by a subscriber, p50/p99
 * Rounds alternate project and baseline so machine noise hits both; compare ratios, not times.
 */
import { randomBytes } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import { Worker } from '@temporalio/worker';
import Fastify from 'fastify';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { schema } from '../schema/index.js';
import { childEnv, loadConfig } from '../src/config.js';
import { applyMigrations } from '../src/db/migrate.js';
import { freePort } from '../src/embedded/postgres.js';
import { findTemporalCli, startTemporalDevServer } from '../src/embedded/temporal.js';
import { createLogger } from '../src/logger.js';
import { connectWorkerTo, createServices } from '../src/runtime.js';
import { createServer } from '../src/server.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { ensurePostgres } from '../test/setup/local-postgres.js';
import { closedLoop, fmt, summarize, type Stats } from './stats.js';

const env = childEnv({});
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(env.BENCH_SECONDS ?? 5);
const log = (line: string) => console.log(line);

const postgres = ensurePostgres(env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL, log);
const dbName = `codex_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: postgres.url });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const dbUrl = Object.assign(new URL(postgres.url), { pathname: `/${dbName}` }).toString();
await applyMigrations(dbUrl);

const baseConfig = loadConfig({});
const temporal = await startTemporalDevServer({
  cli: await findTemporalCli({ cacheDir: baseConfig.cacheDir, explicitPath: baseConfig.TEMPORAL_CLI_PATH, log }),
  port: await freePort(),
  uiPort: null,
  dbFile: null,
  namespace: 'default',
});
const port = await freePort();
const config = loadConfig({ DATABASE_URL: dbUrl, TEMPORAL_ADDRESS: temporal.address, PORT: String(port), LOG_LEVEL: 'warn', TASK_QUEUE_PREFIX: 'bench', DATABASE_POOL_SIZE: '20' });
const logger = createLogger('warn');
const services = await createServices(config, logger, { databaseUrl: dbUrl, temporalAddress: temporal.address });
const workerConnection = await connectWorkerTo(config, temporal.address);
const workers = await startWorkers(services, workerConnection, config, ['cpu']);
const gateway = await createServer(services, schema);
await gateway.app.listen({ host: '127.0.0.1', port });
const url = `http://127.0.0.1:${port}`;
const { secret: key } = await createUserWithKey(services.db, { name: 'bench', tier: 'team' });

// Baseline server for (a): Apollo Server 5 on Fastify, hello world, no auth.
const bare = Fastify();
const bareApollo = new ApolloServer({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } });
await bareApollo.start();
await bare.register(fastifyApollo(bareApollo));
const barePort = await freePort();
await bare.listen({ host: '127.0.0.1', port: barePort });

const gql = async (target: string, body: unknown, auth?: string) => {
  const res = await fetch(`${target}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { data?: any; errors?: unknown[] };
  if (json.errors) throw new Error(JSON.stringify(json.errors));
  return json.data;
};

const EXECUTE = `mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { task { id } } }`;
const input = { task: 'bench', agentType: 'security_expert', context: { files: [{ path: 'a.js', content: 'const q = "SELECT * FROM t WHERE id = " + id;\n' }] } };
const firstTask = (await gql(url, { query: EXECUTE, variables: { input } }, key)).executeAgentTask.task.id;

function merge(parts: Stats[]): Stats {
  const count = parts.reduce((s, p) => s + p.count, 0);
  return { count, perSecond: parts.reduce((s, p) => s + p.perSecond, 0) / parts.length, p50: median(parts.map((p) => p.p50)), p99: median(parts.map((p) => p.p99)) };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// (a) Read path.
const TASK_QUERY = { query: `query($id: ID!) { task(id: $id) { id status progress result { summary } } }`, variables: { id: firstTask } };
const HELLO = { query: '{ hello }' };
const aProject: Stats[] = [];
const aBase: Stats[] = [];
for (let r = 0; r < ROUNDS; r++) {
  aBase.push(await closedLoop(async () => void (await gql(`http://127.0.0.1:${barePort}`, HELLO)), { concurrency: 16, durationMs: SECONDS * 1000 }));
  aProject.push(await closedLoop(async () => void (await gql(url, TASK_QUERY, key)), { concurrency: 16, durationMs: SECONDS * 1000 }));
}
const a = { project: merge(aProject), base: merge(aBase) };

// (b) + (c) Task throughput and first-event latency.
const wsClient = createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` } });
const firstEventMs: number[] = [];
const firstRunningMs: number[] = [];
async function gatewayTask() {
  const t0 = performance.now();
  const id = (await gql(url, { query: EXECUTE, variables: { input } }, key)).executeAgentTask.task.id;
  await new Promise<void>((resolve, reject) => {
    let first = true;
    let running = true;
    wsClient.subscribe(
      { query: `subscription($id: ID!) { taskEvents(taskId: $id) { seq type status } }`, variables: { id } },
      {
        next: ({ data }: any) => {
          if (first) firstEventMs.push(performance.now() - t0), (first = false);
          if (running && data.taskEvents.status === 'RUNNING') firstRunningMs.push(performance.now() - t0), (running = false);
          if (data.taskEvents.type === 'RESULT') resolve();
        },
        error: reject,
        complete: () => resolve(),
      },
    );
  });
}

const bareQueue = `bench-bare-${randomBytes(3).toString('hex')}`;
const bareWorker = await Worker.create({
  connection: workerConnection,
  taskQueue: bareQueue,
  workflowsPath: new URL('./bare-workflow.ts', import.meta.url).pathname,
  activities: { noop: async () => {} },
});
const bareRun = bareWorker.run();
async function bareTask() {
  await services.temporal.workflow.execute('bareWorkflow', { taskQueue: bareQueue, workflowId: `bare-${randomBytes(8).toString('hex')}` });
}

const TASKS = Number(env.BENCH_TASKS ?? 60);
await closedLoop(bareTask, { concurrency: 4, total: 8 }); // warm both paths
await closedLoop(gatewayTask, { concurrency: 4, total: 8 });
firstEventMs.length = 0;
firstRunningMs.length = 0;
const bProject: Stats[] = [];
const bBase: Stats[] = [];
for (let r = 0; r < ROUNDS; r++) {
  bBase.push(await closedLoop(bareTask, { concurrency: 8, total: TASKS }));
  bProject.push(await closedLoop(gatewayTask, { concurrency: 8, total: TASKS }));
}
const b = { project: merge(bProject), base: merge(bBase) };
// (c) on its own: one task at a time, so the figure is the path's latency, not queueing under load.
firstEventMs.length = 0;
firstRunningMs.length = 0;
const bareFirst = await closedLoop(bareTask, { concurrency: 1, total: 30 });
await closedLoop(gatewayTask, { concurrency: 1, total: 30 });
const c = { firstEvent: summarize(firstEventMs, 1), firstRunning: summarize(firstRunningMs, 1) };

console.log('');
console.log(`(a) GraphQL task(id:) with API-key auth   ${fmt(a.project)}`);
console.log(`    bare Apollo 5 on Fastify { hello }     ${fmt(a.base)}`);
console.log(`    ratio ${(a.project.perSecond / a.base.perSecond).toFixed(2)} (target ≥ 0.5)`);
console.log(`(b) gateway tasks end to end              ${fmt(b.project)}`);
console.log(`    bare workflow + no-op activity         ${fmt(b.base)}`);
console.log(`    ratio ${(b.project.perSecond / b.base.perSecond).toFixed(2)} (target ≥ 0.7)`);
console.log(`(c) submit → first event (queued) seen     p50 ${c.firstEvent.p50.toFixed(1)} ms  p99 ${c.firstEvent.p99.toFixed(1)} ms  (n=${c.firstEvent.count})`);
console.log(`    submit → first running event seen      p50 ${c.firstRunning.p50.toFixed(1)} ms  p99 ${c.firstRunning.p99.toFixed(1)} ms  (target p99 < 150 ms)`);
console.log(`    bare workflow start → completion       p50 ${bareFirst.p50.toFixed(1)} ms  p99 ${bareFirst.p99.toFixed(1)} ms  (one at a time)`);

await wsClient.dispose();
bareWorker.shutdown();
await bareRun;
await gateway.close();
await bare.close();
await workers.shutdown();
await workerConnection.close();
await services.close();
await temporal.stop();
await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
await admin.end();
postgres.stop();
process.exit(0);
