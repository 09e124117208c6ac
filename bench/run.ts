/**
 * `npm run bench`: the foundation's benchmarks, each side by side with its baseline in one run.
 *  (a) authenticated GraphQL task(id:) (one task from every client, then 20 tasks in turn) and a
 *      20-task page with nested fields vs a bare Apollo
 *      Server 5 on Fastify answering the same documents from memory (BENCH_PART=read)
 *  (b) agent tasks completed/s end to end (GraphQL mutation → RESULT on a graphql-ws subscription)
 *      vs a bare Temporal workflow with one no-op activity, on the same Temporal server, closed
 *      loop and open loop at BENCH_RATE tasks/s (BENCH_PART=tasks)
 *  (c) submit → first progress event seen by a subscriber, p50/p99
 * Rounds alternate project and baseline so machine noise hits both; compare ratios, not times.
 * `npm run bench` sets NODE_ENV=production unless it is set (both servers share this process).
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
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
import { env, gql, log, merge, ROUNDS, SECONDS, startBenchInfra, startGateway, unlimited } from './harness.js';
import { closedLoop, fmt, median, summarize, type Stats } from './stats.js';

const infra = await startBenchInfra();
const gateway = await startGateway(infra);
const { services, config, url } = gateway;
const workerConnection = await connectWorkerTo(config, infra.temporalAddress);
const workers = await startWorkers(services, workerConnection, config, ['cpu']);
const { secret: key, userId } = await createUserWithKey(services.db, { name: 'bench', tier: 'team' });
await unlimited(services.db, userId);

type Executed = { executeAgentTask: { task: { id: string } } };
const EXECUTE = `mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { task { id } } }`;
const input = { task: 'bench', agentType: 'security_expert', context: { files: [{ path: 'a.js', content: 'const q = "SELECT * FROM t WHERE id = " + id;\n' }] } };
const firstTask = (await gql<Executed>(url, { query: EXECUTE, variables: { input } }, key)).executeAgentTask.task.id;

// (a) Read path: the same two documents against the gateway (API key, limits, cost, the database)
// and against a bare Apollo Server 5 on Fastify whose schema has the same shape and whose default
// resolvers return the gateway's own answer from memory (no auth, no database).
const TASK_DOC = `query($id: ID!) { task(id: $id) { id status progress result { summary } } }`;
const PAGE_DOC = `query($first: Int) { tasks(first: $first) { edges { cursor node { id agentType status progress createdAt completedAt durationSeconds tokensUsed { prompt completion total } result { summary findings { ruleId severity title file line } } error { code message } } } pageInfo { hasNextPage endCursor } } }`;
const TASK_QUERY = { query: TASK_DOC, variables: { id: firstTask } };
const PAGE_QUERY = { query: PAGE_DOC, variables: { first: 20 } };
// 20 finished tasks for the page (8 more are started by the warm-up of (b), after (a)).
for (let i = 0; i < 19; i++) await gql<Executed>(url, { query: EXECUTE, variables: { input } }, key);
const taskAnswer = await gql<{ task: unknown }>(url, TASK_QUERY, key);
let pageAnswer = await gql<{ tasks: { edges: { node: { status: string } }[] } }>(url, PAGE_QUERY, key);
for (let waited = 0; pageAnswer.tasks.edges.some((e) => e.node.status !== 'COMPLETED'); waited += 200) {
  if (waited > 60_000) throw new Error('the 20 tasks of the page did not complete within a minute');
  await new Promise((r) => setTimeout(r, 200));
  pageAnswer = await gql(url, PAGE_QUERY, key);
}
if (pageAnswer.tasks.edges.length !== 20) throw new Error(`the page has ${pageAnswer.tasks.edges.length} tasks, not 20`);
// task(id:) over the page's 20 tasks in turn: requests in flight together ask for different rows
// (the gateway batches reads of one turn; the same id from every client would be one row for all).
const pageIds = pageAnswer.tasks.edges.map((e) => (e.node as unknown as { id: string }).id);
const taskAnswers = new Map<string, unknown>();
for (const id of pageIds) taskAnswers.set(id, (await gql<{ task: unknown }>(url, { query: TASK_DOC, variables: { id } }, key)).task);
let turn = 0;
const nextTaskQuery = () => ({ query: TASK_DOC, variables: { id: pageIds[turn++ % pageIds.length] } });
const BARE_SDL = `
  type Query { task(id: ID!): Task! tasks(first: Int): TaskConnection! }
  type TaskConnection { edges: [TaskEdge!]! pageInfo: PageInfo! }
  type TaskEdge { cursor: String! node: Task! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type Task { id: ID! agentType: String! status: String! progress: Int! createdAt: String! completedAt: String durationSeconds: Float tokensUsed: TokensUsed! result: TaskResult error: TaskError }
  type TokensUsed { prompt: Int! completion: Int! total: Int! }
  type TaskResult { summary: String! findings: [Finding!]! }
  type Finding { ruleId: String! severity: String! title: String! file: String! line: Int! }
  type TaskError { code: String! message: String! }`;
const bare = Fastify();
const bareApollo = new ApolloServer({ typeDefs: BARE_SDL, resolvers: { Query: { task: (_: unknown, args: { id: string }) => taskAnswers.get(args.id) ?? taskAnswer.task, tasks: () => pageAnswer.tasks } } });
await bareApollo.start();
await bare.register(fastifyApollo(bareApollo));
const barePort = await freePort();
await bare.listen({ host: '127.0.0.1', port: barePort });
const bareUrl = `http://127.0.0.1:${barePort}`;
// The bare server answers exactly what the gateway answers.
for (const q of [TASK_QUERY, PAGE_QUERY, nextTaskQuery()]) {
  if (JSON.stringify(await gql(bareUrl, q)) !== JSON.stringify(await gql(url, q, key))) throw new Error('the bare server answers differently');
}

/** A closed loop's stats with this process's CPU time per operation and its event loop's utilisation (both servers and the load generator share the process). */
async function cpuOf(run: () => Promise<Stats>) {
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  const stats = await run();
  const used = process.cpuUsage(cpu);
  return { stats, msPerOp: ((used.user + used.system) / 1000 / stats.count).toFixed(2), busy: performance.eventLoopUtilization(loop).utilization.toFixed(2) };
}

/** Alternating rounds of the gateway and the bare server on one document (a body, or one per request): per-round stats of each. */
async function readRounds(request: unknown) {
  const bodyOf = typeof request === 'function' ? (request as () => unknown) : () => request;
  const project: Stats[] = [];
  const base: Stats[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const bareCpu = await cpuOf(() => closedLoop(async () => void (await gql(bareUrl, bodyOf())), { concurrency: 16, durationMs: SECONDS * 1000 }));
    const cpu = await cpuOf(() => closedLoop(async () => void (await gql(url, bodyOf(), key)), { concurrency: 16, durationMs: SECONDS * 1000 }));
    base.push(bareCpu.stats);
    project.push(cpu.stats);
    log(`    round ${r + 1}: gateway ${fmt(project[r])} | bare ${fmt(base[r])} | ratio ${(project[r].perSecond / base[r].perSecond).toFixed(2)} | process CPU per request (load generator included) ${cpu.msPerOp} vs ${bareCpu.msPerOp} ms, event loop busy ${cpu.busy} vs ${bareCpu.busy}`);
  }
  return { project: merge(project), base: merge(base), ratio: median(project.map((p, i) => p.perSecond / base[i].perSecond)) };
}
const PART = env.BENCH_PART ?? 'all';
log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (NODE_ENV ${env.NODE_ENV ?? 'unset'})`);
if (PART === 'all' || PART === 'read') {
  await closedLoop(async () => void (await gql(url, PAGE_QUERY, key)), { concurrency: 16, durationMs: 1000 }); // warm up
  await closedLoop(async () => void (await gql(bareUrl, PAGE_QUERY)), { concurrency: 16, durationMs: 1000 });
  log('(a1) task(id:)');
  const a1 = await readRounds(TASK_QUERY);
  log('(a1b) task(id:), 20 different tasks in turn');
  const a1b = await readRounds(nextTaskQuery);
  log('(a2) tasks(first: 20) with nested fields');
  const a2 = await readRounds(PAGE_QUERY);
  log('');
  log(`(a1) GraphQL task(id:) with API-key auth   ${fmt(a1.project)}`);
  log(`     bare Apollo 5 on Fastify, same shape   ${fmt(a1.base)}`);
  log(`     median ratio ${a1.ratio.toFixed(2)} (target ≥ 0.6)`);
  log(`(a1b) task(id:), 20 tasks in turn         ${fmt(a1b.project)}`);
  log(`     bare Apollo 5 on Fastify, same shape   ${fmt(a1b.base)}`);
  log(`     median ratio ${a1b.ratio.toFixed(2)} (target ≥ 0.6)`);
  log(`(a2) tasks(first: 20), nested fields      ${fmt(a2.project)}`);
  log(`     bare Apollo 5 on Fastify, same shape   ${fmt(a2.base)}`);
  log(`     median ratio ${a2.ratio.toFixed(2)} (target ≥ 0.5)`);
  log(`load average after (a): ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

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

/**
 * Open loop: `total` tasks submitted at `rate` per second whatever the answers (a closed loop
 * would slow its own arrivals down). Completed/s = tasks ÷ (first submission → last completion),
 * which equals the offered rate while the path keeps up and falls below it when it does not.
 */
async function openLoop(op: () => Promise<void>, rate: number, total: number): Promise<Stats> {
  const latencies: number[] = [];
  const started = performance.now();
  const runs: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    runs.push(
      (async () => {
        const t = performance.now();
        await op();
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(runs);
  return summarize(latencies, performance.now() - started);
}

if (PART === 'all' || PART === 'tasks') {
  await closedLoop(bareTask, { concurrency: 4, total: 8 }); // warm both paths
  await closedLoop(gatewayTask, { concurrency: 4, total: 8 });
  firstEventMs.length = 0;
  firstRunningMs.length = 0;
  // Closed loop (8 at a time): the most each path completes.
  const bProject: Stats[] = [];
  const bBase: Stats[] = [];
  log('(b) closed loop, 8 concurrent');
  for (let r = 0; r < ROUNDS; r++) {
    bBase.push(await closedLoop(bareTask, { concurrency: 8, total: TASKS }));
    bProject.push(await closedLoop(gatewayTask, { concurrency: 8, total: TASKS }));
    log(`    round ${r + 1}: gateway ${fmt(bProject[r])} | bare ${fmt(bBase[r])} | ratio ${(bProject[r].perSecond / bBase[r].perSecond).toFixed(2)}`);
  }
  const b = { project: merge(bProject), base: merge(bBase), ratio: median(bProject.map((p, i) => p.perSecond / bBase[i].perSecond)) };
  // Open loop at a rate the bare workflow keeps up with: BENCH_RATE, by default 80% of the bare
  // workflow's closed-loop rate above.
  const rate = Number(env.BENCH_RATE ?? Math.max(1, Math.floor(b.base.perSecond * 0.8)));
  const oProject: Stats[] = [];
  const oBase: Stats[] = [];
  log(`(b) open loop, ${rate} tasks/s offered`);
  for (let r = 0; r < ROUNDS; r++) {
    oBase.push(await openLoop(bareTask, rate, TASKS));
    oProject.push(await openLoop(gatewayTask, rate, TASKS));
    log(`    round ${r + 1}: gateway ${fmt(oProject[r])} | bare ${fmt(oBase[r])} | completed/s ratio ${(oProject[r].perSecond / oBase[r].perSecond).toFixed(2)} | p50 bare/gateway ${(oBase[r].p50 / oProject[r].p50).toFixed(2)}`);
  }
  const o = { project: merge(oProject), base: merge(oBase), ratio: median(oProject.map((p, i) => p.perSecond / oBase[i].perSecond)) };
  // (c) on its own: one task at a time, so the figure is the path's latency, not queueing under load.
  firstEventMs.length = 0;
  firstRunningMs.length = 0;
  const bareFirst = await closedLoop(bareTask, { concurrency: 1, total: 30 });
  await closedLoop(gatewayTask, { concurrency: 1, total: 30 });
  const c = { firstEvent: summarize(firstEventMs, 1), firstRunning: summarize(firstRunningMs, 1) };
  log('');
  log(`(b) gateway tasks end to end, 8 concurrent  ${fmt(b.project)}`);
  log(`    bare workflow + no-op activity          ${fmt(b.base)}`);
  log(`    median ratio ${b.ratio.toFixed(2)}`);
  log(`(b) gateway tasks end to end, ${rate}/s offered ${fmt(o.project)}`);
  log(`    bare workflow + no-op activity          ${fmt(o.base)}`);
  log(`    median completed/s ratio ${o.ratio.toFixed(2)} (target ≥ 0.8)`);
  log(`(c) submit → first event (queued) seen     p50 ${c.firstEvent.p50.toFixed(1)} ms  p99 ${c.firstEvent.p99.toFixed(1)} ms  (n=${c.firstEvent.count})`);
  log(`    submit → first running event seen      p50 ${c.firstRunning.p50.toFixed(1)} ms  p99 ${c.firstRunning.p99.toFixed(1)} ms  (target p99 < 150 ms)`);
  log(`    bare workflow start → completion       p50 ${bareFirst.p50.toFixed(1)} ms  p99 ${bareFirst.p99.toFixed(1)} ms  (one at a time)`);
  log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await wsClient.dispose();
bareWorker.shutdown();
await bareRun;
await bare.close();
await workers.shutdown();
await workerConnection.close();
await gateway.close();
await infra.close();
process.exit(0);
