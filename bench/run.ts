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
import WebSocket from 'ws';
import { freePort } from '../src/embedded/postgres.js';
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, gql, merge, ROUNDS, SECONDS, startBenchInfra, startGateway, unlimited } from './harness.js';
import { closedLoop, fmt, summarize, type Stats } from './stats.js';

const infra = await startBenchInfra();
const gateway = await startGateway(infra);
const { services, config, url } = gateway;
const workerConnection = await connectWorkerTo(config, infra.temporalAddress);
const workers = await startWorkers(services, workerConnection, config, ['cpu']);
const { secret: key, userId } = await createUserWithKey(services.db, { name: 'bench', tier: 'team' });
await unlimited(services.db, userId);

// Baseline server for (a): Apollo Server 5 on Fastify, hello world, no auth.
const bare = Fastify();
const bareApollo = new ApolloServer({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } });
await bareApollo.start();
await bare.register(fastifyApollo(bareApollo));
const barePort = await freePort();
await bare.listen({ host: '127.0.0.1', port: barePort });

type Executed = { executeAgentTask: { task: { id: string } } };
const EXECUTE = `mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { task { id } } }`;
const input = { task: 'bench', agentType: 'security_expert', context: { files: [{ path: 'a.js', content: 'const q = "SELECT * FROM t WHERE id = " + id;\n' }] } };
const firstTask = (await gql<Executed>(url, { query: EXECUTE, variables: { input } }, key)).executeAgentTask.task.id;

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
  const id = (await gql<Executed>(url, { query: EXECUTE, variables: { input } }, key)).executeAgentTask.task.id;
  await new Promise<void>((resolve, reject) => {
    let first = true;
    let running = true;
    wsClient.subscribe<{ taskEvents: { seq: number; type: string; status: string } }>(
      { query: `subscription($id: ID!) { taskEvents(taskId: $id) { seq type status } }`, variables: { id } },
      {
        next: ({ data }) => {
          const event = data!.taskEvents;
          if (first) {
            firstEventMs.push(performance.now() - t0);
            first = false;
          }
          if (running && event.status === 'RUNNING') {
            firstRunningMs.push(performance.now() - t0);
            running = false;
          }
          if (event.type === 'RESULT') resolve();
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
await bare.close();
await workers.shutdown();
await workerConnection.close();
await gateway.close();
await infra.close();
process.exit(0);
