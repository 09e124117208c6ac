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

interface KeyRow {
  id: string;
  user_id: string;
  kind: 'secret' | 'publishable';
  secret_hash: string;
  revoked_at: Date | null;
  last_used_at: Date | null;
  tier: string;
}

/**
 * Verifies API keys. One indexed join per verification; a verified key is remembered for
 * `cacheSeconds` (by its hash, never the secret) so a busy client does not pay for it on every
 * request. `forget` drops a key at once (revocation).
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private static readonly MAX_CACHED = 10_000;

  constructor(
    private readonly db: Db,
    private readonly cacheSeconds: number,
  ) {}

  /** The principal of a presented key, or 401 without saying which part was wrong. */
  async verify(presented: string): Promise<Principal> {
    if (!KEY_PATTERN.test(presented)) {
      throw new AuthenticationError('The API key is malformed: keys look like cdx_sk_… or cdx_pk_….');
    }
    const hash = hashApiKey(presented);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const rows = await this.db.$queryRaw<KeyRow[]>`
      SELECT k.id, k.user_id, k.kind::text AS kind, k.secret_hash, k.revoked_at, k.last_used_at, u.tier
      FROM api_keys k JOIN users u ON u.id = k.user_id
      WHERE k.secret_hash = ${hash}`;
    const key = rows[0];
    if (!key || !timingSafeEqual(Buffer.from(key.secret_hash, 'hex'), Buffer.from(hash, 'hex')) || key.revoked_at) {
      this.cache.delete(hash);
      throw new AuthenticationError('The API key is invalid or revoked.');
    }
    if (!key.last_used_at || now - key.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      // Recorded at minute resolution so that a busy key does not write on every request.
      await this.db.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date(now) } });
    }
    const principal: Principal = { userId: key.user_id, apiKeyId: key.id, keyKind: key.kind, tier: key.tier };
    if (this.cacheSeconds > 0) {
      if (this.cache.size >= ApiKeyVerifier.MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(hash, { principal, until: now + this.cacheSeconds * 1000 });
    }
    return principal;
  }

  /** Drops every cached verification of the given key ids (call after revoking them). */
  forget(apiKeyIds: string[]): void {
    for (const [hash, entry] of this.cache) if (apiKeyIds.includes(entry.principal.apiKeyId)) this.cache.delete(hash);
  }
}

/** Verifies a key without caching (scripts and tests). */
export function authenticateApiKey(db: Db, presented: string): Promise<Principal> {
  return new ApiKeyVerifier(db, 0).verify(presented);
}
