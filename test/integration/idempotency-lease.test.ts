/**
 * A request that claimed an Idempotency-Key and then died with its process (a gateway killed mid-
 * request) must not block the key: its claim is a lease that lapses, and the client's retry with the
 * same key goes through instead of waiting 30 s for a 409, again and again for 24 hours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let api: ReturnType<typeof restClient>;
let userId: string;

beforeAll(async () => {
  sys = await startTestSystem();
  const user = await sys.createUser();
  userId = user.userId;
  api = restClient(sys.url, user.apiKey);
});
afterAll(() => sys?.close());

describe('Idempotency-Key claims of a dead process', () => {
  it('lapse, and the retry with the same key and body proceeds', async () => {
    const body = executeBody();
    // A completed request tells us how this body is recorded (its hash does not depend on the key).
    const first = await api.post('/v1/agents/execute', body, { 'idempotency-key': 'lease-probe' });
    expect(first.status).toBeLessThan(300);
    const probe = await sys.services.db.idempotencyRecord.findUniqueOrThrow({ where: { principalId_key: { principalId: userId, key: 'lease-probe' } } });
    expect(probe.state).toBe('completed');
    expect(probe.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000); // a finished key lives 24 h

    // What a killed gateway leaves: the same request claimed, in progress, its lease no longer renewed.
    await sys.services.db.idempotencyRecord.create({
      data: { principalId: userId, key: 'orphaned', operation: probe.operation, requestHash: probe.requestHash, expiresAt: new Date(Date.now() + 1000) },
    });
    const retry = await api.post('/v1/agents/execute', body, { 'idempotency-key': 'orphaned' });
    expect(retry.status).toBeLessThan(300);
    expect(retry.body.task_id).not.toBe(first.body.task_id);
    // The key now belongs to the retry: the same request again replays it.
    const again = await api.post('/v1/agents/execute', body, { 'idempotency-key': 'orphaned' });
    expect(again.body.task_id).toBe(retry.body.task_id);
  });

  it('a live claim is renewed while its request runs, so a concurrent retry waits for it rather than taking over', async () => {
    const body = executeBody();
    const [a, b] = await Promise.all([
      api.post('/v1/agents/execute', body, { 'idempotency-key': 'concurrent' }),
      api.post('/v1/agents/execute', body, { 'idempotency-key': 'concurrent' }),
    ]);
    expect([a.status, b.status].every((s) => s < 300)).toBe(true);
    expect(a.body.task_id).toBe(b.body.task_id);
  });
});
