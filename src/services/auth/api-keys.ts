/**
 * API keys: `cdx_sk_…` (secret) and `cdx_pk_…` (publishable). A key is 256 random bits, so one
 * SHA-256 is enough to store it safely (a slow hash such as argon2 is for low-entropy passwords
 * and would cost every request); the lookup is by hash and the final check is constant-time.
 * The secret is returned once, at creation. Revocation reaches every gateway process at once
 * (see Authenticator.revoke).
 */
import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKey } from '../../generated/prisma/client.js';
import type { Db } from '../../db/client.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { appendEvent } from '../../events/event-store.js';
import { publishWebhookEvent } from '../webhooks/events.js';
import { idKind, newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { paginate, type PageArgs } from '../pagination.js';
import { parseCidrs } from './cidr.js';
import { checkReadResources, DEFAULT_READ_RESOURCES } from './read-resources.js';
import { requirePersonalCredential } from '../teams.js';

export const KEY_PATTERN = /^cdx_(sk|pk)_[A-Za-z0-9_-]{20,200}$/;
export const MAX_ACTIVE_KEYS = 25;
export const KEY_PAGE_MAX = 100;

/**
 * SHA-256, hex encoded: how every high-entropy secret is stored and looked up (API keys, OAuth
 * client secrets, refresh tokens). Low-entropy passwords use argon2id instead (passwords.ts).
 */
export function sha256Hex(secret: string): string {
  // The one-shot hash: every authenticated request hashes its credential (a cache lookup), and a
  // Hash object costs more than the digest of so short an input.
  return hash('sha256', secret, 'hex');
}

/** SHA-256 of a key, hex encoded: what the database stores. */
export const hashApiKey = sha256Hex;

/** A fresh key of the given kind. */
export function generateApiKey(kind: 'secret' | 'publishable'): string {
  return `cdx_${kind === 'secret' ? 'sk' : 'pk'}_${randomBytes(32).toString('base64url')}`;
}

/** Stores a key for a user; returns its id and the secret, which is never shown again. */
export async function createApiKey(
  db: Db,
  input: { userId: string; name: string; kind?: 'secret' | 'publishable'; secret?: string; allowedCidrs?: string[]; readResources?: string[] },
): Promise<{ key: ApiKey; secret: string }> {
  const kind = input.kind ?? 'secret';
  const secret = input.secret ?? generateApiKey(kind);
  const key = await db.apiKey.create({
    data: {
      id: newId('apiKey'),
      userId: input.userId,
      name: input.name,
      kind,
      displayPrefix: secret.slice(0, 11),
      secretHash: hashApiKey(secret),
      allowedCidrs: input.allowedCidrs ?? [],
      readResources: input.readResources ?? (kind === 'publishable' ? [...DEFAULT_READ_RESOURCES] : []),
    },
  });
  return { key, secret };
}

/** Creates a user with one secret key. */
export async function createUserWithKey(
  db: Db,
  input: { name: string; email?: string; tier?: string; secret?: string },
): Promise<{ userId: string; apiKeyId: string; secret: string }> {
  const userId = newId('user');
  await db.user.create({ data: { id: userId, name: input.name, email: input.email?.toLowerCase(), tier: input.tier ?? 'free' } });
  const { key, secret } = await createApiKey(db, { userId, name: 'default', secret: input.secret });
  return { userId, apiKeyId: key.id, secret };
}

type IssueKeyInput = { name: string; kind?: 'secret' | 'publishable' | null; allowedCidrs?: string[] | null; readResources?: readonly string[] | null };

/**
 * A new key for the caller (at most 25 active), once per idempotency key; the first response is
 * the only time its secret is returned (a replay returns the key without it).
 */
export async function issueApiKey(
  deps: Pick<ServiceDeps, 'db' | 'bus'>,
  principal: Principal,
  input: IssueKeyInput,
  idempotencyKey?: string | null,
): Promise<{ key: ApiKey; secret: string | null; replayed: boolean }> {
  let secret: string | null = null;
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'createApiKey', request: input }, async () => {
    const created = await issueNewApiKey(deps, principal, input);
    secret = created.secret;
    return created.key.id;
  });
  return { key: await getApiKey(deps, principal, resourceId), secret, replayed };
}

async function issueNewApiKey(deps: Pick<ServiceDeps, 'db' | 'bus'>, principal: Principal, input: IssueKeyInput): Promise<{ key: ApiKey; secret: string }> {
  requirePersonalCredential(principal, 'API keys');
  const readResources = checkReadResources(input.kind ?? 'secret', input.readResources);
  const errors = [];
  const name = input.name.trim();
  if (!name || name.length > 100) errors.push({ field: 'name', message: 'must be 1 to 100 characters' });
  const cidrs = parseCidrs(input.allowedCidrs ?? []);
  if (!cidrs.ok) errors.push({ field: `allowed_cidrs.${cidrs.index}`, message: cidrs.message });
  else if (cidrs.cidrs.length > 50) errors.push({ field: 'allowed_cidrs', message: 'must list at most 50 ranges' });
  if (errors.length) throw new ValidationError(errors);
  const created = await deps.db.$transaction(async (tx) => {
    // The user's row lock serialises concurrent creations, so the limit holds under a race.
    await tx.$queryRaw`SELECT id FROM users WHERE id = ${principal.userId} FOR UPDATE`;
    const active = await tx.apiKey.count({ where: { userId: principal.userId, revokedAt: null } });
    if (active >= MAX_ACTIVE_KEYS) {
      throw new ConflictError('key_limit_reached', `An account can have at most ${MAX_ACTIVE_KEYS} active keys; revoke one you no longer use first.`, {
        limit: MAX_ACTIVE_KEYS,
      });
    }
    return createApiKey(tx as unknown as Db, { userId: principal.userId, name, kind: input.kind ?? 'secret', allowedCidrs: cidrs.ok ? cidrs.cidrs : [], readResources });
  });
  await appendEvent(deps.db, deps.bus, {
    streamId: principal.userId,
    type: 'key.created',
    key: randomUUID(),
    data: { key_id: created.key.id, kind: created.key.kind, name: created.key.name },
  });
  await publishWebhookEvent(deps, { type: 'key.created', resourceId: created.key.id, ownerId: principal.userId, data: { key_id: created.key.id, kind: created.key.kind, name: created.key.name } });
  return created;
}

export async function getApiKey(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<ApiKey> {
  requirePersonalCredential(principal, 'API keys');
  const key = idKind(id) === 'apiKey' ? await deps.db.apiKey.findUnique({ where: { id } }) : null;
  if (!key || key.userId !== principal.userId) throw new NotFoundError('API key', id);
  return key;
}

/** The caller's keys (active and revoked), newest first. */
export function listApiKeys(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs) {
  requirePersonalCredential(principal, 'API keys');
  return paginate(args, KEY_PAGE_MAX, 'apiKey', (cursor, order, take) =>
    deps.db.apiKey.findMany({ where: { userId: principal.userId, ...cursor }, orderBy: { id: order }, take }),
  );
}

/** Revokes a key for good; the very next request with it answers 401. Revoking twice is harmless. */
export async function revokeApiKey(deps: Pick<ServiceDeps, 'db' | 'bus' | 'auth'>, principal: Principal, id: string): Promise<ApiKey> {
  const key = await getApiKey(deps, principal, id);
  if (key.revokedAt) return key;
  const revoked = await deps.db.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
  await deps.auth.revoke([id]);
  await appendEvent(deps.db, deps.bus, { streamId: principal.userId, type: 'key.revoked', key: `key.revoked:${id}`, data: { key_id: id } });
  await publishWebhookEvent(deps, { type: 'key.revoked', resourceId: id, ownerId: principal.userId, data: { key_id: id, name: key.name } });
  return revoked;
}
