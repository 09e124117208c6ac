/**
 * Redis (the shared rate-limit counters) becoming unreachable: with LIMITS_ON_REDIS_FAILURE=open the
 * gateway keeps serving with in-memory limits and says so in health; with `closed` it refuses with
 * 503 rather than serve unmetered. Never a 500. A TCP proxy plays the outage for one gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const systems: Record<'open' | 'closed', { sys: TestSystem; proxy: TcpProxy; key: string }> = {} as never;

beforeAll(async () => {
  const redis = new URL(inject('redisUrl'));
  for (const mode of ['open', 'closed'] as const) {
    const proxy = await startTcpProxy(Number(redis.port));
    const sys = await startTestSystem({ worker: false, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, LIMITS_ON_REDIS_FAILURE: mode } });
    systems[mode] = { sys, proxy, key: (await sys.createUser(`Redis ${mode}`, { tier: 'pro' })).apiKey };
  }
});
afterAll(async () => {
  for (const { sys, proxy } of Object.values(systems)) {
    await proxy.restore();
    await sys.close();
    await proxy.close();
  }
});

describe('Redis unreachable', () => {
  it('open: requests are served with in-memory limits (headers still sent); health says degraded; shared again after', async () => {
    const { sys, proxy, key } = systems.open;
    const api = restClient(sys.url, key);
    await proxy.down();
    try {
      const res = await api.get('/v1/agents/tasks');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
      const gql = await graphql(sys.url, key, '{ viewer { id } }');
      expect(gql.body.errors).toBeUndefined();
      const health = await api.get('/v1/health');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'degraded', redis: { status: 'unreachable', on_failure: 'open' } });
    } finally {
      await proxy.restore();
    }
    await waitFor(async () => ((await api.get('/v1/health')).body.redis?.status === 'ok' ? true : undefined), 20_000, 250);
    expect((await api.get('/v1/agents/tasks')).status).toBe(200);
  });

  it('closed: limited requests answer 503 service_unavailable with Retry-After, health 503; served again after', async () => {
    const { sys, proxy, key } = systems.closed;
    const api = restClient(sys.url, key);
    await proxy.down();
    try {
      const res = await api.get('/v1/agents/tasks');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('service_unavailable');
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      const gql = await graphql(sys.url, key, '{ viewer { id } }');
      expect(gql.body.errors?.[0]?.extensions.code).toBe('SERVICE_UNAVAILABLE');
      const health = await api.get('/v1/health');
      expect(health.status).toBe(503);
      expect(health.body.redis).toEqual({ status: 'unreachable', on_failure: 'closed' });
    } finally {
      await proxy.restore();
    }
    await waitFor(async () => ((await api.get('/v1/agents/tasks')).status === 200 ? true : undefined), 20_000, 250);
  });
});
