/** Resource ids: their format, and that ids made in a row are unique and sort in the order made. */
import { describe, expect, it } from 'vitest';
import { idKind, idTime, newId } from '../../src/ids.js';

const UUID_V7 = /^task_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newId', () => {
  it('makes a prefixed UUIDv7 stamped with the time it was made', () => {
    const before = Date.now();
    const id = newId('task');
    expect(id).toMatch(UUID_V7);
    expect(idKind(id)).toBe('task');
    const made = idTime(id)!.getTime();
    expect(made).toBeGreaterThanOrEqual(before);
    expect(made).toBeLessThanOrEqual(Date.now());
  });

  it('makes ids in a row that are unique and sorted, across many refills of its random bytes', () => {
    // 4 KiB of random bytes serve 256 ids: 10,000 ids refill the buffer about 39 times.
    const ids = Array.from({ length: 10_000 }, () => newId('task'));
    for (const id of ids) expect(id).toMatch(UUID_V7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // The random tails differ (the bytes are not reused from one refill to the next).
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBe(ids.length);
  });
});
