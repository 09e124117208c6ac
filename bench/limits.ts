/**
 * `npm run bench:limits`: what limits cost per request. The same authenticated REST request
 * (`GET /v1/agents/tasks?limit=1`) against three gateways on one database: limits off
 * (RATE_LIMITS=false), limits on with in-memory counters, and limits on with Redis counters, in
 * rounds that rotate which goes first. The account's limits are raised out of reach, so every
 * request is admitted and the figure is the price of checking.
 */
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { ensureRedis } from '../test/setup/local-redis.js';
import { env, log, merge, ROUNDS, SECONDS, startBenchInfra, startGateway, unlimited, type BenchGateway } from './harness.js';
import { closedLoop, fmt, type Stats } from './stats.js';

const CONCURRENCY = 16;
const infra = await startBenchInfra();
const redis = await ensureRedis(env.BENCH_REDIS_URL, log);
const gateways: Record<'off' | 'memory' | 'redis', BenchGateway> = {
  off: await startGateway(infra, { RATE_LIMITS: 'false' }),
  memory: await startGateway(infra, {}),
  redis: await startGateway(infra, { REDIS_URL: redis.url }),
};
const { userId, secret } = await createUserWithKey(gateways.off.services.db, { name: 'bench', tier: 'team' });
await unlimited(gateways.off.services.db, userId);

async function request(gateway: BenchGateway) {
  const res = await fetch(`${gateway.url}/v1/agents/tasks?limit=1`, { headers: { authorization: `Bearer ${secret}` } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`unexpected ${res.status}`);
}

const kinds = ['off', 'memory', 'redis'] as const;
const runs: Record<(typeof kinds)[number], Stats[]> = { off: [], memory: [], redis: [] };
for (const kind of kinds) await closedLoop(() => request(gateways[kind]), { concurrency: CONCURRENCY, total: 200 }); // warm
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of [...kinds.slice(r % 3), ...kinds.slice(0, r % 3)]) {
    runs[kind].push(await closedLoop(() => request(gateways[kind]), { concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }));
  }
}
const off = merge(runs.off);
const memory = merge(runs.memory);
const onRedis = merge(runs.redis);
console.log('');
console.log(`limits off                 ${fmt(off)}`);
console.log(`limits on, in memory       ${fmt(memory)}  ratio ${(memory.perSecond / off.perSecond).toFixed(2)} (target ≥ 0.9)`);
console.log(`limits on, Redis           ${fmt(onRedis)}  ratio ${(onRedis.perSecond / off.perSecond).toFixed(2)} (target ≥ 0.8)`);

for (const g of Object.values(gateways)) await g.close();
redis.stop();
await infra.close();
process.exit(0);
