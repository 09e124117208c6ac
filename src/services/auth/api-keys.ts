/**
 * API keys: `cdx_sk_…` (secret) and `cdx_pk_…` (publishable). A key is 256 random bits, so one
 * SHA-256 is enough to store it safely (a slow hash such as argon2 is for low-entropy passwords
 * and would cost every request); the lookup is by hash and the final check is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/client.js';
import { AuthenticationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Principal } from '../deps.js';

const KEY_PATTERN = /^cdx_(sk|pk)_[A-Za-z0-9_-]{20,200}$/;

/** SHA-256 of a key, hex encoded: what the database stores. */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A fresh key of the given kind. */
export function generateApiKey(kind: 'secret' | 'publishable'): string {
  return `cdx_${kind === 'secret' ? 'sk' : 'pk'}_${randomBytes(32).toString('base64url')}`;
}

/** Stores a key for a user; returns its id and the secret, which is never shown again. */
export async function createApiKey(
  db: Db,
  input: { userId: string; name: string; kind?: 'secret' | 'publishable'; secret?: string },
): Promise<{ id: string; secret: string }> {
  const kind = input.kind ?? 'secret';
  const secret = input.secret ?? generateApiKey(kind);
  const id = newId('apiKey');
  await db.apiKey.create({
    data: {
      id,
      userId: input.userId,
      name: input.name,
      kind,
      displayPrefix: secret.slice(0, 11),
      secretHash: hashApiKey(secret),
    },
  });
  return { id, secret };
}

/** Creates a user with one secret key. */
export async function createUserWithKey(
  db: Db,
  input: { name: string; email?: string; tier?: string; secret?: string },
): Promise<{ userId: string; apiKeyId: string; secret: string }> {
  const userId = newId('user');
  await db.user.create({ data: { id: userId, name: input.name, email: input.email, tier: input.tier ?? 'free' } });
  const key = await createApiKey(db, { userId, name: 'default', secret: input.secret });
  return { userId, apiKeyId: key.id, secret: key.secret };
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** Resolves a presented key to its principal, or throws 401 without saying which part was wrong. */
export async function authenticateApiKey(db: Db, presented: string): Promise<Principal> {
  if (!KEY_PATTERN.test(presented)) {
    throw new AuthenticationError('The API key is malformed: keys look like cdx_sk_… or cdx_pk_….');
  }
  const hash = hashApiKey(presented);
  const key = await db.apiKey.findUnique({ where: { secretHash: hash }, include: { user: { select: { tier: true } } } });
  if (!key || !timingSafeEqual(Buffer.from(key.secretHash, 'hex'), Buffer.from(hash, 'hex')) || key.revokedAt) {
    throw new AuthenticationError('The API key is invalid or revoked.');
  }
  const now = Date.now();
  if (!key.lastUsedAt || now - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    // Recorded at minute resolution so that a busy key does not write on every request.
    await db.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date(now) } });
  }
  return { userId: key.userId, apiKeyId: key.id, keyKind: key.kind, tier: key.user.tier };
}
