import { createServer, connect, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { describeError, retryStartup, StartupError } from '../../src/startup-retry.js';
import { describePostgresTarget, isPermanentPostgresError, probePostgres } from '../../src/db/probe.js';

/** A clock that only moves when the helper sleeps, so backoff is checked without waiting. */
function fakeTime() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

/** A function that fails `times` times with `err`, then returns 'connected'. */
function failing(times: number, err: () => unknown = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.2:5432'), { code: 'ECONNREFUSED' })) {
  let calls = 0;
  const fn = async () => {
    calls++;
    if (calls <= times) throw err();
    return 'connected';
  };
  return { fn, calls: () => calls };
}

describe('retryStartup', () => {
  it('retries a refused connection with doubling delays, capped, logging one line per failure', async () => {
    const time = fakeTime();
    const lines: string[] = [];
    const target = failing(7);
    const result = await retryStartup(target.fn, { what: 'PostgreSQL at postgres:5432/codex', totalSeconds: 120, log: (l) => lines.push(l), ...time });
    expect(result).toBe('connected');
    expect(target.calls()).toBe(8);
    expect(time.sleeps).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe('PostgreSQL at postgres:5432/codex is not reachable yet (attempt 1: connect ECONNREFUSED 10.0.0.2:5432); retrying in 0.5 s');
    expect(lines[6]).toMatch(/attempt 7: .*retrying in 10 s$/);
  });

  it('makes a last attempt at the end of the total, then gives up with one line', async () => {
    const time = fakeTime();
    const lines: string[] = [];
    const target = failing(1000);
    const error = await retryStartup(target.fn, { what: 'Temporal at temporal:7233', totalSeconds: 20, log: (l) => lines.push(l), ...time }).catch((e) => e);
    expect(error).toBeInstanceOf(StartupError);
    // 0.5 + 1 + 2 + 4 + 8 = 15.5 s waited; the next wait is cut to the 4.5 s left.
    expect(time.sleeps).toEqual([500, 1000, 2000, 4000, 8000, 4500]);
    expect(target.calls()).toBe(7);
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatch(/attempt 6: .*retrying in 4\.5 s$/);
    expect(error.message).toBe('Temporal at temporal:7233 is unreachable after 7 attempts in 20 s (STARTUP_RETRY_SECONDS=20): connect ECONNREFUSED 10.0.0.2:5432');
    expect(error.message).not.toContain('\n');
  });

  it('does not retry what waiting cannot fix', async () => {
    const time = fakeTime();
    const denied = () => Object.assign(new Error('password authentication failed for user "codex"'), { code: '28P01' });
    const target = failing(1000, denied);
    const error = await retryStartup(target.fn, { what: 'PostgreSQL at db:5432/codex', totalSeconds: 120, log: () => {}, isPermanent: isPermanentPostgresError, ...time }).catch((e) => e);
    expect(error).toBeInstanceOf(StartupError);
    expect(error.message).toBe('PostgreSQL at db:5432/codex: password authentication failed for user "codex"');
    expect(target.calls()).toBe(1);
    expect(time.sleeps).toEqual([]);
  });

  it('makes one attempt when the total is 0', async () => {
    const time = fakeTime();
    const target = failing(1);
    const error = await retryStartup(target.fn, { what: 'Temporal at 127.0.0.1:7233', totalSeconds: 0, log: () => {}, ...time }).catch((e) => e);
    expect(error.message).toBe('Temporal at 127.0.0.1:7233 is unreachable: connect ECONNREFUSED 10.0.0.2:5432');
    expect(target.calls()).toBe(1);
  });

  describe('with a real socket', () => {
    let server: Server | undefined;
    afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it('waits for a server that starts listening after the first attempts were refused', async () => {
      const port = await freePort();
      const lines: string[] = [];
      const started = Date.now();
      setTimeout(() => {
        server = createServer((socket) => socket.end());
        server.listen(port, '127.0.0.1');
      }, 1200);
      await retryStartup(() => tcpConnect(port), { what: `a listener on ${port}`, totalSeconds: 30, log: (l) => lines.push(l) });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines[0]).toMatch(new RegExp(`attempt 1: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    });

    it('names a refused PostgreSQL by host, port and database, never by its password', async () => {
      const port = await freePort();
      const url = `postgresql://codex:s3cret-pw@127.0.0.1:${port}/codex`;
      const lines: string[] = [];
      const error = await retryStartup(() => probePostgres(url), {
        what: `PostgreSQL at ${describePostgresTarget(url)}`,
        totalSeconds: 1,
        log: (l) => lines.push(l),
        isPermanent: isPermanentPostgresError,
      }).catch((e) => e);
      expect(error).toBeInstanceOf(StartupError);
      expect(error.message).toMatch(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port}/codex is unreachable after \\d attempts in 1 s \\(STARTUP_RETRY_SECONDS=1\\): connect ECONNREFUSED`));
      expect([...lines, error.message].join('\n')).not.toContain('s3cret-pw');
    });
  });
});

describe('describeError', () => {
  it('uses the code of an AggregateError without a message (a refused dual-stack connect)', () => {
    const err = Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')], ''), { code: 'ECONNREFUSED' });
    expect(describeError(err)).toBe('connect ECONNREFUSED ::1:5432');
    expect(describeError(Object.assign(new Error(''), { code: 'ENOTFOUND' }))).toBe('ENOTFOUND');
  });

  it('keeps the first line, adds the cause a wrapper hides, and blanks credentials in URLs', () => {
    const wrapped = new Error('Failed to connect to Temporal server', { cause: new Error('14 UNAVAILABLE: No connection established\n  at stack') });
    expect(describeError(wrapped)).toBe('Failed to connect to Temporal server: 14 UNAVAILABLE: No connection established');
    expect(describeError(new Error('cannot reach postgresql://codex:hunter2@db:5432/codex'))).toBe('cannot reach postgresql://[redacted]@db:5432/codex');
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

function tcpConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
