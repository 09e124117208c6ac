/**
 * Idempotency keys for every create: the same key with the same request returns the first
 * result (waiting for it while the first is still running); the same key with a different
 * request is an idempotency_conflict. Keys are scoped to the caller and live 24 hours.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db/client.js';
import type { Prisma } from '../generated/prisma/client.js';
import { AppError, IdempotencyConflictError, InvalidRequestError } from '../errors.js';

const TTL_MS = 24 * 60 * 60 * 1000;
const WAIT_FOR_FIRST_MS = 30_000;
/**
 * A claim (a request with this key in progress) is a lease its process renews while it works: when
 * the process dies (a gateway killed mid-request), the claim lapses within this time and a retry
 * with the same key proceeds instead of waiting for 24 hours.
 */
const CLAIM_LEASE_MS = 15_000;
const CLAIM_RENEW_MS = 5_000;

/** Stable hash of a request: object keys sorted, so key order in the JSON does not matter. */
export function requestHash(operation: string, request: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>)
              .filter(([, x]) => x !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, x]) => [k, canonical(x)]),
          )
        : v;
  return createHash('sha256').update(operation).update('\0').update(JSON.stringify(canonical(request))).digest('hex');
}

export interface IdempotentResult {
  resourceId: string;
  replayed: boolean;
}

export interface IdempotencyScope {
  principalId: string;
  key: string | null | undefined;
  operation: string;
  request: unknown;
}

/** Runs `create` at most once per (principal, key); `create` returns the id of what it made. */
export async function withIdempotency(db: Db, scope: IdempotencyScope, create: () => Promise<string>): Promise<IdempotentResult> {
  const { resourceId, replayed } = await once(db, scope, async () => ({ resourceId: await create() }));
  return { resourceId, replayed };
}

/**
 * Runs `change` at most once per (principal, key) for a change whose answer cannot be read back
 * from a row (a plan change's proration, a model-written file): the answer is kept with the key
 * and a replay returns it. It must be JSON and hold no secret (tokens, keys).
 */
export async function withIdempotentResult<T extends Prisma.InputJsonValue>(db: Db, scope: IdempotencyScope, change: () => Promise<T>): Promise<{ result: T; replayed: boolean }> {
  const { result, replayed } = await once(db, scope, async () => {
    const value = await change();
    return { resourceId: '', result: value };
  });
  return { result: result as T, replayed };
}

/**
 * A change behind a PATCH or DELETE route (a revocation, a deletion) at most once per key: `keep`
 * picks what a replay needs from the first payload (JSON, no secret), `recall` builds the payload
 * again from it, so a repeat answers the first payload instead of a 404 or a 409.
 */
export async function changeOnce<P extends object, K extends Prisma.InputJsonValue>(
  db: Db,
  scope: IdempotencyScope,
  change: () => Promise<P>,
  keep: (payload: P) => K,
  recall: (kept: K) => P | Promise<P>,
): Promise<P & { replayed: boolean }> {
  const first: { payload?: P } = {};
  const { result, replayed } = await withIdempotentResult(db, scope, async () => keep((first.payload = await change())));
  return { ...(first.payload ?? (await recall(result))), replayed };
}

async function once(
  db: Db,
  scope: IdempotencyScope,
  create: () => Promise<{ resourceId: string; result?: Prisma.InputJsonValue }>,
): Promise<{ resourceId: string; result: unknown; replayed: boolean }> {
  if (!scope.key) return { result: undefined, ...(await create()), replayed: false };
  if (scope.key.length > 255 || !/^[\x21-\x7e]+$/.test(scope.key)) {
    throw new InvalidRequestError('Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).');
  }
  const key = scope.key;
  const hash = requestHash(scope.operation, scope.request);
  const where = { principalId_key: { principalId: scope.principalId, key: scope.key } };
  await db.idempotencyRecord.deleteMany({ where: { principalId: scope.principalId, key: scope.key, expiresAt: { lt: new Date() } } });
  const claimed = await db.idempotencyRecord.createMany({
    data: [{ principalId: scope.principalId, key: scope.key, operation: scope.operation, requestHash: hash, expiresAt: new Date(Date.now() + CLAIM_LEASE_MS) }],
    skipDuplicates: true,
  });
  if (claimed.count === 0) {
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    for (;;) {
      const record = await db.idempotencyRecord.findUnique({ where });
      if (!record) return once(db, scope, create); // the first attempt failed and released the key
      if (record.requestHash !== hash) throw new IdempotencyConflictError();
      if (record.state === 'completed' && record.resourceId !== null) return { resourceId: record.resourceId, result: record.result, replayed: true };
      if (record.expiresAt.getTime() < Date.now()) {
        // The claim's owner stopped renewing it (it died): take the key over.
        await db.idempotencyRecord.deleteMany({ where: { principalId: scope.principalId, key: scope.key, state: { not: 'completed' }, expiresAt: { lt: new Date() } } });
        return once(db, scope, create);
      }
      if (Date.now() > deadline) {
        throw new AppError('idempotency_conflict', 409, 'A request with this Idempotency-Key is still being processed. Retry in a few seconds.');
      }
      await delay(50);
    }
  }
  const renew = setInterval(() => {
    void db.idempotencyRecord
      .updateMany({ where: { principalId: scope.principalId, key, state: { not: 'completed' } }, data: { expiresAt: new Date(Date.now() + CLAIM_LEASE_MS) } })
      .catch(() => {}); // a missed renewal shortens the lease; the next one restores it
  }, CLAIM_RENEW_MS);
  try {
    const { resourceId, result } = await create();
    await db.idempotencyRecord.update({ where, data: { state: 'completed', resourceId, result, expiresAt: new Date(Date.now() + TTL_MS) } });
    return { resourceId, result, replayed: false };
  } catch (err) {
    // A failed request is not remembered: the caller may fix it and retry with the same key.
    await db.idempotencyRecord.delete({ where }).catch(() => {});
    throw err;
  } finally {
    clearInterval(renew);
  }
}

/**
 * Requests that hand out tokens (sign-in, sign-up, refresh, the OAuth token endpoint): the key is
 * scoped to a hash of the account or credential the request names (there is no caller yet), the
 * record keeps no token and no password (not even hashed: `request` must leave them out), and
 * tokens are handed out once. A repeat with the same key, whatever its body, runs nothing (no
 * second account, no second session, no reuse of a refresh token) and answers 409: only the first
 * request gets the tokens, so a replay can never give them to someone else.
 */
export async function issueOnce<T>(db: Db, scope: { subject: string; key: string | null | undefined; operation: string; request: unknown }, issue: () => Promise<T>): Promise<T> {
  if (!scope.key) return issue();
  let issued: { value: T } | null = null;
  const principalId = `${scope.operation}:${createHash('sha256').update(scope.subject).digest('hex')}`;
  await withIdempotency(db, { principalId, key: scope.key, operation: scope.operation, request: scope.request }, async () => {
    issued = { value: await issue() };
    return 'issued';
  });
  if (!issued) {
    throw new AppError(
      'idempotency_conflict',
      409,
      'This Idempotency-Key already issued tokens, which are handed out once and never replayed: use the tokens of the first answer, or send the request again with a new key.',
    );
  }
  return (issued as { value: T }).value;
}
