/** GET /v1/health: the only open endpoint; reports whether the database and Temporal answer. */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services/deps.js';

async function probe(check: () => Promise<unknown>, timeoutMs = 2000) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), timeoutMs))),
    ]);
    return { status: 'ok' as const, latency_ms: Math.round(performance.now() - started) };
  } catch {
    return { status: 'unreachable' as const, latency_ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: FastifyInstance, deps: ServiceDeps, version: string) {
  app.get('/v1/health', async (_request, reply) => {
    const [database, temporal, redis] = await Promise.all([
      probe(() => deps.db.$queryRaw`SELECT 1`),
      probe(() => deps.temporal.workflowService.getSystemInfo({})),
      deps.limiter.redisHealth(),
    ]);
    // Redis down with LIMITS_ON_REDIS_FAILURE=open still serves (limits in memory): degraded, not down.
    const serving = database.status === 'ok' && temporal.status === 'ok' && (redis?.status !== 'unreachable' || redis.on_failure === 'open');
    const ok = serving && redis?.status !== 'unreachable';
    return reply
      .status(serving ? 200 : 503)
      .send({ status: ok ? 'ok' : 'degraded', version, database, temporal, ...(redis ? { redis } : {}), time: new Date().toISOString() });
  });
}
