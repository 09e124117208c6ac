/**
 * `npm run bench:fanout`: one task's events delivered to BENCH_SUBSCRIBERS graphql-ws subscribers
 * (default 1000; "1000,10000" runs both) across two gateway processes (`npm start`, RUN_WORKER=false,
 * events from another process through PostgreSQL NOTIFY), against a raw `ws` server process
 * broadcasting the same number of messages of the same size to the same number of sockets. The
 * subscribers live in BENCH_CLIENT_PROCESSES load-generator processes (default 4). Each round, in
 * alternating order: a burst of BENCH_EVENTS events as fast as the producer goes (events delivered
 * per second across all subscribers = deliveries / (last arrival − first send); with each side's CPU
 * time from /proc, the servers' and the load generators'), then BENCH_EVENTS
 * events at each paced rate (delivery latency: arrival − the send time carried in the event).
 * BENCH_RATE: the paced rates per second, one entry per BENCH_SUBSCRIBERS entry (or one for all),
 * several rates in an entry joined with "+" ("10,10+1"). By default 10 per second, and where that
 * is over 10,000 deliveries per second (10,000 subscribers) also the rate that delivers 10,000 per
 * second (1 per second to 10,000: the load of 10 per second to 1,000, which raw ws keeps up with).
 * Memory per idle subscriber: the gateways' V8 heap and RSS after garbage collection (forced through
 * bench/memory-probe.mjs) with every subscription open minus before any, / N; the same for the raw ws server.
 * BENCH_HEAP_SNAPSHOT=<dir>: every process probed also writes a heap snapshot there at each probe.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const role = process.argv[2];
const now = () => performance.timeOrigin + performance.now();

/** A round's message: which round, which event, and when it was sent (ms since the epoch, sub-ms). */
interface Stamp {
  r: string;
  i: number;
  t: number;
}

type ToClient = { kind: 'open'; urls: string[]; count: number; protocol: 'graphql-ws' | 'ws'; secret: string; query: string; variables: Record<string, unknown> } | { kind: 'report'; round: string } | { kind: 'count'; round: string };
type FromClient = { kind: 'opened'; failed: number; messageBytes: number } | { kind: 'report'; latencies: number[]; events: number[]; last: number } | { kind: 'count'; count: number; bytes: number };

if (role === 'client') await loadClient();
else if (role === 'ws-server') await rawServer();
else await main();

/** A load-generator process: opens its share of sockets and times each message's arrival. */
async function loadClient() {
  const received = new Map<string, { latencies: number[]; events: number[]; last: number }>();
  let messageBytes = 0;
  let complaints = 0;
  const sockets: WebSocket[] = [];
  const onData = (raw: WebSocket.RawData) => {
    const at = now();
    const text = (raw as Buffer).toString();
    const msg = JSON.parse(text) as { type: string; payload?: { data?: { taskEvents?: { message: string } } } };
    if (msg.type !== 'next') return;
    const event = msg.payload?.data?.taskEvents;
    if (!event) {
      if (!(complaints++)) console.error(`unexpected message: ${text.slice(0, 500)}`);
      return;
    }
    messageBytes = text.length;
    const stamp = JSON.parse(event.message) as Stamp;
    let round = received.get(stamp.r);
    if (!round) received.set(stamp.r, (round = { latencies: [], events: [], last: 0 }));
    round.latencies.push(at - stamp.t);
    round.events.push(stamp.i);
    round.last = at;
  };
  const openOne = (url: string, options: Extract<ToClient, { kind: 'open' }>) =>
    new Promise<boolean>((resolve) => {
      const ws = options.protocol === 'graphql-ws' ? new WebSocket(url, 'graphql-transport-ws') : new WebSocket(url);
      ws.on('error', () => resolve(false));
      ws.on('close', () => resolve(false));
      if (options.protocol === 'ws') {
        ws.on('open', () => resolve(true));
        ws.on('message', onData);
      } else {
        ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${options.secret}` } })));
        ws.on('message', (raw) => {
          if ((raw as Buffer).toString().startsWith('{"type":"connection_ack"')) {
            ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: options.query, variables: options.variables } }));
            ws.on('message', onData);
            resolve(true);
          }
        });
      }
      sockets.push(ws);
    });
  process.on('message', (m: ToClient) => void (async () => {
    const send = (reply: FromClient) => process.send!(reply);
    if (m.kind === 'open') {
      let failed = 0;
      // 25 handshakes at a time per process: the gateways' accept queues stay short.
      for (let i = 0; i < m.count; i += 25) {
        const batch = Array.from({ length: Math.min(25, m.count - i) }, (_, j) => openOne(m.urls[(i + j) % m.urls.length], m));
        failed += (await Promise.all(batch)).filter((ok) => !ok).length;
      }
      send({ kind: 'opened', failed, messageBytes });
    } else if (m.kind === 'count') {
      send({ kind: 'count', count: received.get(m.round)?.latencies.length ?? 0, bytes: messageBytes });
    } else {
      const round = received.get(m.round) ?? { latencies: [], events: [], last: 0 };
      received.delete(m.round);
      send({ kind: 'report', latencies: round.latencies, events: round.events, last: round.last });
    }
  })());
  process.send!({ kind: 'count', count: 0, bytes: 0 } satisfies FromClient);
}

/** The baseline: a raw `ws` server that sends each message to every socket it holds. */
async function rawServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  process.on('message', (m: { round: string; events: number; rate: number; bytes: number }) => void (async () => {
    const gap = m.rate > 0 ? 1000 / m.rate : 0;
    const t0 = performance.now();
    for (let i = 0; i < m.events; i++) {
      const wait = t0 + i * gap - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else if (gap === 0 && i > 0) await new Promise((r) => setImmediate(r)); // one event per turn, as a producer sends them
      const message = JSON.stringify({ r: m.round, i, t: now() } satisfies Stamp);
      const body = `{"id":"1","type":"next","payload":{"data":{"taskEvents":{"seq":${i + 1},"message":${JSON.stringify(message)}}},"extensions":{"pad":"`;
      const text = body + 'x'.repeat(Math.max(0, m.bytes - body.length - 4)) + '"}}}';
      for (const client of wss.clients) client.send(text);
    }
    process.send!({ sent: m.events });
  })());
  process.send!({ port: (wss.address() as { port: number }).port, pid: process.pid });
}

async function main() {
  const { newId } = await import('../src/ids.js');
  const { createDb } = await import('../src/db/client.js');
  const { PostgresEventBus } = await import('../src/events/event-bus.js');
  const { appendEvent } = await import('../src/events/event-store.js');
  const { createLogger } = await import('../src/logger.js');
  const { createUserWithKey } = await import('../src/services/auth/api-keys.js');
  const { Cluster, exitOf } = await import('../test/helpers/cluster.js');
  const { env, ROUNDS, startBenchInfra, unlimited } = await import('./harness.js');
  const { median, summarize } = await import('./stats.js');
  const { snapshot } = await import('./process-cpu.js');
  type CpuSnapshot = ReturnType<typeof snapshot>;

  const SUBSCRIBERS = (env.BENCH_SUBSCRIBERS ?? '1000').split(',').map(Number);
  const CLIENTS = Number(env.BENCH_CLIENT_PROCESSES ?? 4);
  const EVENTS = Number(env.BENCH_EVENTS ?? 20);
  const RATES = pacedRates(SUBSCRIBERS, env.BENCH_RATE);
  const self = fileURLToPath(import.meta.url);
  const probeDir = mkdtempSync(join(tmpdir(), 'codex-fanout-memory-'));
  const memoryProbe = fileURLToPath(new URL('./memory-probe.mjs', import.meta.url));
  const spawnRole = (name: string) => fork(self, [name], { execArgv: ['--import', 'tsx', ...(name === 'ws-server' ? ['--import', memoryProbe] : [])], env: { ...process.env, BENCH_MEMORY_PROBE: probeDir }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  /** RSS and V8 heap (MB) of each process after garbage collection. */
  async function settledMemory(pids: number[]) {
    for (const pid of pids) rmSync(join(probeDir, `${pid}.json`), { force: true });
    for (const pid of pids) process.kill(pid, 'SIGUSR2');
    // A heap snapshot of a few hundred MB takes a while to write.
    const until = performance.now() + (env.BENCH_HEAP_SNAPSHOT ? 600_000 : 30_000);
    while (!pids.every((pid) => existsSync(join(probeDir, `${pid}.json`)))) {
      if (performance.now() > until) throw new Error('the memory probe did not answer');
      await sleep(100);
    }
    await sleep(100); // written whole
    return pids.map((pid) => {
      const m = JSON.parse(readFileSync(join(probeDir, `${pid}.json`), 'utf8')) as { rss: number; heapUsed: number };
      return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
    });
  }
  const perItemKb = (before: Array<{ rss: number; heap: number }>, after: Array<{ rss: number; heap: number }>, n: number, key: 'rss' | 'heap') =>
    (after.reduce((s, m, i) => s + m[key] - before[i][key], 0) * 1024) / n;
  const mb = (ms: Array<{ rss: number; heap: number }>, key: 'rss' | 'heap') => ms.map((m) => m[key].toFixed(0)).join('+');
  const reply = <T>(child: ChildProcess) => new Promise<T>((resolve) => child.once('message', (m) => resolve(m as T)));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

  const infra = await startBenchInfra();
  const dataDir = mkdtempSync(join(tmpdir(), 'codex-fanout-'));
  const cluster = new Cluster({
    PATH: env.PATH ?? '',
    HOME: env.HOME ?? '/tmp',
    DATA_DIR: dataDir,
    DATABASE_URL: infra.dbUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TASK_QUEUE_PREFIX: 'benchfanout',
    LOG_LEVEL: 'warn',
    // One credential from one address holds every socket: the per-process caps are raised for the benchmark.
    WS_MAX_SOCKETS_PER_CREDENTIAL: '100000',
    WS_MAX_SOCKETS_PER_ADDRESS: '100000',
    // Thousands of subscriptions start at once on a loaded machine: wait for a connection rather than report the database unreachable.
    DATABASE_POOL_SIZE: '20',
    DATABASE_CONNECT_TIMEOUT_MS: '60000',
    // Memory read after garbage collection (bench/memory-probe.mjs); BENCH_CPU_PROF=<dir>: each gateway writes a CPU profile there when it stops.
    BENCH_MEMORY_PROBE: probeDir,
    NODE_OPTIONS: [`--import ${memoryProbe}`, ...(env.BENCH_CPU_PROF ? [`--import ${fileURLToPath(new URL('./cpu-profile.mjs', import.meta.url))}`] : [])].join(' '),
    ...(env.BENCH_CPU_PROF ? { BENCH_CPU_PROF: env.BENCH_CPU_PROF } : {}),
    ...(env.BENCH_HEAP_SNAPSHOT ? { BENCH_HEAP_SNAPSHOT: env.BENCH_HEAP_SNAPSHOT } : {}),
  });
  const children: ChildProcess[] = [];
  // Stopped early (Ctrl-C, a timeout): nothing it started is left running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().finally(() => process.exit(130)));
  const db = createDb(infra.dbUrl, 4);
  const bus = await PostgresEventBus.connect(infra.dbUrl, createLogger('warn'));
  try {
    const [a, b] = await Promise.all([cluster.startGateway(), cluster.startGateway()]);
    const gatewayPids = [a.child.pid!, b.child.pid!];
    const { userId, secret } = await createUserWithKey(db, { name: 'fanout', tier: 'enterprise' });
    await unlimited(db, userId);
    const raw = spawnRole('ws-server');
    children.push(raw);
    const { port: rawPort, pid: rawPid } = await reply<{ port: number; pid: number }>(raw);

    let sequence = 0;
    const roundId = () => `r${++sequence}`;
    /** Sends `events` task events from this process (stored, then NOTIFY), at `rate` per second or back to back. */
    async function produce(taskId: string, round: string, events: number, rate: number) {
      const gap = rate > 0 ? 1000 / rate : 0;
      const t0 = performance.now();
      for (let i = 0; i < events; i++) {
        const wait = t0 + i * gap - performance.now();
        if (wait > 0) await sleep(wait);
        const message = JSON.stringify({ r: round, i, t: now() } satisfies Stamp);
        await appendEvent(db, bus, { streamId: taskId, type: 'progress', key: `${round}-${i}`, data: { status: 'running', progress: 0, message } });
      }
    }

    for (const [index, n] of SUBSCRIBERS.entries()) {
      const rates = RATES[index];
      log(`\n${n} subscribers, ${CLIENTS} load-generator processes, ${EVENTS} events per round (load average ${load()})`);
      const taskId = newId('task');
      await db.agentTask.create({ data: { id: taskId, ownerId: userId, agentType: 'code-review', prompt: 'fan-out benchmark', input: {}, status: 'running', timeoutSeconds: 3600, estimatedDurationSeconds: 60 } });
      const clients = Array.from({ length: CLIENTS }, () => spawnRole('client'));
      children.push(...clients);
      await Promise.all(clients.map((c) => reply(c)));
      const share = (k: number) => Math.floor(n / CLIENTS) + (k < n % CLIENTS ? 1 : 0);
      const ask = async <T extends FromClient>(m: ToClient) => Promise.all(clients.map(async (c) => { const r = reply<T>(c); c.send(m); return r; }));

      // graphql-ws subscribers, half on each gateway; readiness: every one has received a probe event.
      const memoryBefore = await settledMemory(gatewayPids);
      const query = 'subscription($taskId: ID!) { taskEvents(taskId: $taskId) { seq message } }';
      const opening = performance.now();
      const opened = await Promise.all(clients.map(async (c, k) => { const r = reply<Extract<FromClient, { kind: 'opened' }>>(c); c.send({ kind: 'open', urls: [`${a.wsUrl}/graphql`, `${b.wsUrl}/graphql`], count: share(k), protocol: 'graphql-ws', secret, query, variables: { taskId } } satisfies ToClient); return r; }));
      const failed = opened.reduce((s, o) => s + o.failed, 0);
      if (failed) throw new Error(`${failed} of ${n} graphql-ws sockets failed to open`);
      const probe = roundId();
      let probes = 0;
      for (;;) {
        await produce(taskId, probe, 1, 0);
        probes++;
        await sleep(1000);
        const counts = await ask<Extract<FromClient, { kind: 'count' }>>({ kind: 'count', round: probe });
        if (counts.every((c, k) => c.count >= share(k))) break;
        if (probes > 300) throw new Error('subscribers never all received the probe');
      }
      const gqlBytes = (await ask<Extract<FromClient, { kind: 'count' }>>({ kind: 'count', round: probe }))[0].bytes;
      await ask({ kind: 'report', round: probe });
      log(`  graphql-ws: ${n} subscriptions open and live in ${((performance.now() - opening) / 1000).toFixed(1)} s; messages ${gqlBytes} bytes`);
      await sleep(2000);
      const memoryIdle = await settledMemory(gatewayPids);

      const rawBefore = await settledMemory([rawPid]);
      const rawOpened = await Promise.all(clients.map(async (c, k) => { const r = reply<Extract<FromClient, { kind: 'opened' }>>(c); c.send({ kind: 'open', urls: [`ws://127.0.0.1:${rawPort}`], count: share(k), protocol: 'ws', secret, query, variables: {} } satisfies ToClient); return r; }));
      if (rawOpened.some((o) => o.failed)) throw new Error('raw ws sockets failed to open');
      await sleep(2000);
      const rawIdle = await settledMemory([rawPid]);
      log(
        `  idle memory per subscriber, after garbage collection: gateways heap ${perItemKb(memoryBefore, memoryIdle, n, 'heap').toFixed(1)} KB, RSS ${perItemKb(memoryBefore, memoryIdle, n, 'rss').toFixed(1)} KB` +
          ` (heap ${mb(memoryBefore, 'heap')} → ${mb(memoryIdle, 'heap')} MB, RSS ${mb(memoryBefore, 'rss')} → ${mb(memoryIdle, 'rss')} MB);` +
          ` raw ws per socket heap ${perItemKb(rawBefore, rawIdle, n, 'heap').toFixed(1)} KB, RSS ${perItemKb(rawBefore, rawIdle, n, 'rss').toFixed(1)} KB`,
      );

      /** Waits until every subscriber has the round's events (or the deadline), then collects arrivals. */
      async function collect(round: string, expected: number, deadlineMs: number) {
        const until = performance.now() + deadlineMs;
        for (;;) {
          const counts = await ask<Extract<FromClient, { kind: 'count' }>>({ kind: 'count', round });
          const total = counts.reduce((s, c) => s + c.count, 0);
          if (total >= expected || performance.now() > until) break;
          await sleep(100);
        }
        const reports = await ask<Extract<FromClient, { kind: 'report' }>>({ kind: 'report', round });
        return { latencies: reports.flatMap((r) => r.latencies), events: reports.flatMap((r) => r.events), last: Math.max(...reports.map((r) => r.last)) };
      }
      /** The p99 latency of each event of a round, in the order sent (which events make the round's p99: the first after idle, or a run of them). */
      const perEventP99 = (p: { latencies: number[]; events: number[] }) => {
        const byEvent = Array.from({ length: EVENTS }, () => [] as number[]);
        p.latencies.forEach((l, k) => byEvent[p.events[k]]?.push(l));
        return byEvent.map((ls) => summarize(ls, 1).p99.toFixed(0)).join(' ');
      };
      /** CPU ms of `pids` since `before`. */
      const cpuSince = (before: CpuSnapshot, pids: number[]) => {
        const after = snapshot();
        return pids.reduce((sum, pid) => sum + (after.byPid.get(pid)?.ms ?? 0) - (before.byPid.get(pid)?.ms ?? 0), 0);
      };
      const clientPids = clients.map((c) => c.pid!);
      async function gatewayRound(rate: number) {
        const round = roundId();
        const cpu = snapshot();
        const start = now();
        await produce(taskId, round, EVENTS, rate);
        const stored = now() - start;
        const arrivals = await collect(round, EVENTS * n, 120_000);
        return { start, stored, serverCpu: cpuSince(cpu, gatewayPids), clientCpu: cpuSince(cpu, clientPids), ...arrivals };
      }
      async function rawRound(rate: number) {
        const round = roundId();
        const cpu = snapshot();
        const start = now();
        raw.send({ round, events: EVENTS, rate, bytes: gqlBytes });
        await reply(raw);
        const arrivals = await collect(round, EVENTS * n, 120_000);
        return { start, stored: 0, serverCpu: cpuSince(cpu, [rawPid]), clientCpu: cpuSince(cpu, clientPids), ...arrivals };
      }
      type Paced = { gwP50: number; gwP99: number; rawP50: number; rawP99: number };
      const rows: Array<{ gw: number; raw: number; lost: number; paced: Paced[] }> = [];
      for (let r = 0; r < ROUNDS + 1; r++) {
        const order = r % 2 === 0 ? (['gw', 'raw'] as const) : (['raw', 'gw'] as const);
        const burst: Record<string, { rate: number; lost: number; stored: number; serverCpu: number; clientCpu: number }> = {};
        const paced: Array<Record<string, ReturnType<typeof summarize>>> = rates.map(() => ({}));
        const pacedEvents: Array<Record<string, string>> = rates.map(() => ({}));
        for (const side of order) {
          const run = side === 'gw' ? gatewayRound : rawRound;
          const b = await run(0);
          burst[side] = { rate: (b.latencies.length / (b.last - b.start)) * 1000, lost: EVENTS * n - b.latencies.length, stored: b.stored, serverCpu: b.serverCpu, clientCpu: b.clientCpu };
          for (const [k, rate] of rates.entries()) {
            const p = await run(rate);
            paced[k][side] = summarize(p.latencies, p.last - p.start);
            pacedEvents[k][side] = perEventP99(p);
          }
        }
        if (r === 0) continue; // warm-up
        const row = { gw: burst.gw.rate, raw: burst.raw.rate, lost: burst.gw.lost + burst.raw.lost, paced: paced.map((p) => ({ gwP50: p.gw.p50, gwP99: p.gw.p99, rawP50: p.raw.p50, rawP99: p.raw.p99 })) };
        rows.push(row);
        log(`  round ${r}: burst events/s graphql-ws ${row.gw.toFixed(0)}, raw ws ${row.raw.toFixed(0)}, ratio ${(row.gw / row.raw).toFixed(2)}; undelivered ${row.lost} (load ${load()})`);
        log(
          `    the bursts' CPU ms: graphql-ws gateways ${burst.gw.serverCpu}, their load generators ${burst.gw.clientCpu}; raw ws server ${burst.raw.serverCpu}, its load generators ${burst.raw.clientCpu}` +
            ` (the producer stored the ${EVENTS} events in ${burst.gw.stored.toFixed(0)} ms)`,
        );
        for (const [k, rate] of rates.entries()) {
          const p = row.paced[k];
          log(`    at ${rate}/s latency graphql-ws p50 ${p.gwP50.toFixed(1)} p99 ${p.gwP99.toFixed(1)} ms, raw ws p50 ${p.rawP50.toFixed(1)} p99 ${p.rawP99.toFixed(1)} ms`);
          log(`    at ${rate}/s, p99 of each event in order (ms): graphql-ws ${pacedEvents[k].gw}; raw ws ${pacedEvents[k].raw}`);
        }
      }
      const m = (f: (row: (typeof rows)[0]) => number) => median(rows.map(f));
      const p99s = rates.map((rate, k) => `at ${rate}/s graphql-ws p99 ${m((x) => x.paced[k].gwP99).toFixed(1)} ms, raw ws p99 ${m((x) => x.paced[k].rawP99).toFixed(1)} ms`);
      log(`  median: events/s ratio ${m((x) => x.gw / x.raw).toFixed(2)} (target ≥ 0.4); ${p99s.join('; ')} (p99 target ≤ ${n <= 1000 ? '100 ms' : '1 s'})`);
      for (const c of clients) c.kill();
      await sleep(1000);
    }
  } finally {
    await stop();
  }
  async function stop() {
    for (const c of children) c.kill();
    if (env.BENCH_CPU_PROF) {
      // A profile is written on a clean exit: stop the gateways as an orchestrator does.
      for (const g of cluster.gateways) g.child.kill('SIGTERM');
      await Promise.race([Promise.all(cluster.gateways.map((g) => exitOf(g.child))), sleep(30_000)]);
    }
    cluster.killAll();
    await bus.close();
    await db.$disconnect();
    await infra.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(probeDir, { recursive: true, force: true });
  }
  function log(line: string) {
    console.log(line);
  }
}

/**
 * The paced rates for each subscriber count (see the header): BENCH_RATE's entries, else 10 per
 * second, plus 10,000 deliveries per second where 10 per second is more than that.
 */
function pacedRates(subscribers: number[], given: string | undefined): number[][] {
  if (!given) return subscribers.map((n) => (n * 10 > 10_000 ? [10, 10_000 / n] : [10]));
  const entries = given.split(',').map((entry) => entry.split('+').map(Number));
  if (entries.length !== 1 && entries.length !== subscribers.length) throw new Error(`BENCH_RATE has ${entries.length} entries for ${subscribers.length} subscriber counts; give one, or one per count`);
  if (entries.flat().some((rate) => !(rate > 0))) throw new Error(`BENCH_RATE must be rates per second above 0 ("10", "10,10+1"), not ${given}`);
  return subscribers.map((_, k) => entries[entries.length === 1 ? 0 : k]);
}
