/**
 * Growing delays for failed sign-ins, per account and client address together (the e-mail as
 * typed, whether or not it exists, so the answer reveals nothing) and per client address. A
 * stranger who guesses passwords from one address delays only that address, never the owner
 * signing in from another one. The first FREE_FAILURES failures cost nothing; each further one
 * doubles the wait before the next attempt is even checked, up to MAX_DELAY. A success clears the
 * (account, address) counter; counters fade after FORGET_AFTER idle. Sign-ups that name an
 * e-mail already taken count against the address too, so sign-up cannot probe accounts faster
 * than sign-in.
 */
import type { Db } from '../../db/client.js';
import { AppError } from '../../errors.js';

/** Failures without delay: per account, and per address (higher: many people may share one). */
const FREE_FAILURES = { account: 5, ip: 20 };
const MAX_DELAY_MS = 15 * 60_000;
const FORGET_AFTER_MS = 60 * 60_000;

export class LoginThrottledError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(
      'rate_limit_exceeded',
      429,
      `Too many failed sign-in attempts. Retry after ${retryAfterSeconds} seconds.`,
      { retry_after: retryAfterSeconds },
      { 'Retry-After': String(retryAfterSeconds) },
    );
  }
}

/** The counters of a sign-in: (account, address) first, then the address alone. */
export const throttleKeys = (email: string, ip: string | null) => [`account:${email.trim().toLowerCase()} ip:${ip ?? '-'}`, ...(ip ? [`ip:${ip}`] : [])];

/** Throws 429 with Retry-After while any of `keys` is locked. */
export async function checkThrottle(db: Db, keys: string[]): Promise<void> {
  const rows = await db.loginThrottle.findMany({ where: { key: { in: keys }, lockedUntil: { gt: new Date() } } });
  const until = Math.max(0, ...rows.map((r) => r.lockedUntil.getTime()));
  if (until > 0) throw new LoginThrottledError(Math.max(1, Math.ceil((until - Date.now()) / 1000)));
}

/** Counts a failure against each key and locks it for a doubling delay past the free attempts. */
export async function recordFailure(db: Db, keys: string[]): Promise<void> {
  for (const key of keys) {
    const free = key.startsWith('ip:') ? FREE_FAILURES.ip : FREE_FAILURES.account;
    await db.$executeRaw`
      INSERT INTO login_throttles (key, failures, last_failure_at, locked_until)
      VALUES (${key}, 1, now(), now())
      ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN login_throttles.last_failure_at < now() - ${FORGET_AFTER_MS} * interval '1 millisecond'
                        THEN 1 ELSE login_throttles.failures + 1 END,
        last_failure_at = now()`;
    await db.$executeRaw`
      UPDATE login_throttles
      SET locked_until = now() + LEAST(${MAX_DELAY_MS}::bigint, (1000 * power(2, failures - ${free} - 1))::bigint) * interval '1 millisecond'
      WHERE key = ${key} AND failures > ${free}`;
  }
}

export async function clearFailures(db: Db, key: string): Promise<void> {
  await db.loginThrottle.deleteMany({ where: { key } });
}
