/** Checks of a REST route's Idempotency-Key that every such route must pass. */
import { expect } from 'vitest';
import type { HttpResult } from './client.js';

const sameAnswer = (a: HttpResult, b: HttpResult) => {
  expect(b.status).toBe(a.status);
  expect(b.body).toEqual(a.body);
};

/**
 * Sends one request (the same key each time) twice at once, then once more: the first succeeds,
 * the concurrent and the later repeat answer the same status and body with `Idempotent-Replayed:
 * true`. Returns the first answer.
 */
export async function expectRepeatsReplayed(send: () => Promise<HttpResult>): Promise<HttpResult> {
  const [a, b] = await Promise.all([send(), send()]);
  const first = a.headers.get('idempotent-replayed') ? b : a;
  expect(first.status, JSON.stringify(first.body)).toBeLessThan(300);
  sameAnswer(a, b);
  expect([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')].filter(Boolean)).toEqual(['true']);
  const later = await send();
  sameAnswer(a, later);
  expect(later.headers.get('idempotent-replayed')).toBe('true');
  return first;
}

/** Another request with a key already used: 409 idempotency_conflict. */
export function expectIdempotencyConflict(res: HttpResult) {
  expect(res.status).toBe(409);
  expect(res.body.error).toMatchObject({ code: 'idempotency_conflict', message: expect.any(String) });
}
