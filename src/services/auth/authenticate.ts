/**
 * Turns the credential of a request into its principal: an API key (`cdx_sk_…`, `cdx_pk_…`), an
 * access token this gateway signed (a session's or an OAuth client's), or a token of the
 * configured OpenID Connect provider. Any failure is a 401 that does not say which part was wrong
 * and never repeats the credential.
 *
 * A verified credential is remembered for AUTH_CACHE_SECONDS under the SHA-256 of the credential
 * (never the credential itself). Revoking a key, a session or an OAuth client drops it here at
 * once and in every other process as soon as PostgreSQL's NOTIFY reaches it (same commit).
 * Checks that depend on the request (CIDR allow-list, a publishable key's daily quota) run on
 * every request, cached or not.
 */
import { timingSafeEqual } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { AppError, AuthenticationError, PermissionDeniedError } from '../../errors.js';
import type { EventBus } from '../../events/event-bus.js';
import type { Logger } from '../../logger.js';
import { FULL_SCOPES, PUBLISHABLE_SCOPES, type Principal } from '../deps.js';
import { KEY_PATTERN, sha256Hex } from './api-keys.js';
import { ipAllowed } from './cidr.js';
import { OidcVerifier, upsertExternalUser } from './oidc.js';
import type { SigningKeys } from './signing-keys.js';

/** The `typ` header of the access tokens we sign (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';
const REVOKED_TOPIC = 'auth.revoked';
const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_CACHED = 10_000;
const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

interface KeyRow {
  id: string;
  user_id: string;
  kind: 'secret' | 'publishable';
  secret_hash: string;
  revoked_at: Date | null;
  last_used_at: Date | null;
  allowed_cidrs: string[];
  read_resources: string[] | null;
  tier: string;
}

export class QuotaExceededError extends AppError {
  constructor(limit: number, resetAt: Date) {
    const retryAfter = Math.max(1, Math.ceil((resetAt.getTime() - Date.now()) / 1000));
    super(
      'rate_limit_exceeded',
      429,
      `This publishable key has used its daily quota of ${limit} requests. Retry after ${retryAfter} seconds (00:00 UTC), or use a secret key from a server.`,
      { limit, reset_at: resetAt.toISOString(), retry_after: retryAfter },
      { 'Retry-After': String(retryAfter) },
    );
  }
}

export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly oidc: OidcVerifier | null;
  private readonly unsubscribe: () => void;
  private readonly revokedListeners = new Set<(ids: ReadonlySet<string>) => void>();

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly signingKeys: SigningKeys,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.oidc = config.OIDC_ISSUER ? new OidcVerifier(config.OIDC_ISSUER, config.OIDC_AUDIENCE!, config.OIDC_JWKS_URL, config.OIDC_JWKS_COOLDOWN_SECONDS) : null;
    this.unsubscribe = bus.onBroadcast(REVOKED_TOPIC, (message) => {
      const ids = new Set(message.split(','));
      this.forget(ids);
      for (const listener of this.revokedListeners) listener(ids);
    });
  }

  /** The principal of a presented credential, after the request-bound checks. */
  async authenticate(credential: string, ip: string | null): Promise<Principal> {
    const principal = await this.principalOf(credential);
    this.checkAddress(principal, ip);
    if (principal.keyKind === 'publishable') await this.countPublishableUse(principal.credentialId);
    return principal;
  }

  /** 403 when the credential's CIDR allow-list leaves out `ip`. */
  checkAddress(principal: Principal, ip: string | null): void {
    if (!ipAllowed(ip, principal.allowedCidrs)) {
      throw new PermissionDeniedError('This API key is limited to certain IP ranges and this request comes from outside them.');
    }
  }

  /**
   * The principal of a credential without the request-bound checks: from the cache, or (`fresh`,
   * or not cached) from the database, for a connection that must know whether it still holds.
   */
  async principalOf(credential: string, options: { fresh?: boolean } = {}): Promise<Principal> {
    const hash = sha256Hex(credential);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now && !options.fresh) return cached.principal;
    const principal = await this.verify(credential, hash);
    const until = Math.min(now + this.config.AUTH_CACHE_SECONDS * 1000, principal.expiresAt ?? Infinity);
    if (this.config.AUTH_CACHE_SECONDS > 0 && until > now) {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(hash, { principal, until });
    }
    return principal;
  }

  /**
   * Calls `listener` with the ids (credentials, or users whose principals changed) of every
   * revocation, here or in another process, after the cache forgot them; returns the unsubscribe.
   */
  onRevoked(listener: (ids: ReadonlySet<string>) => void): () => void {
    this.revokedListeners.add(listener);
    return () => void this.revokedListeners.delete(listener);
  }

  /**
   * Revokes credentials everywhere: this process forgets them before returning, others when the
   * notification arrives. Call after the revocation is committed.
   */
  async revoke(credentialIds: string[]): Promise<void> {
    if (credentialIds.length === 0) return;
    this.forget(new Set(credentialIds));
    await this.bus.broadcast(REVOKED_TOPIC, credentialIds.join(','));
  }

  close(): void {
    this.unsubscribe();
    this.revokedListeners.clear();
  }

  private forget(ids: ReadonlySet<string>): void {
    for (const [hash, entry] of this.cache) if (ids.has(entry.principal.credentialId) || ids.has(entry.principal.userId)) this.cache.delete(hash);
  }

  /** `hash` is the credential's SHA-256 (for a key, also what the database stores). */
  private async verify(credential: string, hash: string): Promise<Principal> {
    if (KEY_PATTERN.test(credential)) return this.verifyKey(hash);
    if (!JWT_PATTERN.test(credential)) {
      throw new AuthenticationError('The credential is malformed: send an API key (cdx_sk_… or cdx_pk_…) or an access token.');
    }
    let issuer: string | undefined;
    try {
      decodeProtectedHeader(credential);
      issuer = decodeJwt(credential).iss;
    } catch {
      throw new AuthenticationError('The access token is malformed.');
    }
    if (issuer === this.config.jwtIssuer) return this.verifyOwnToken(credential);
    if (this.oidc && issuer === this.oidc.issuer) return this.verifyExternalToken(credential);
    throw new AuthenticationError('The access token is invalid or expired.');
  }

  private async verifyKey(hash: string): Promise<Principal> {
    const rows = await this.db.$queryRaw<KeyRow[]>`
      SELECT k.id, k.user_id, k.kind::text AS kind, k.secret_hash, k.revoked_at, k.last_used_at, k.allowed_cidrs, k.read_resources, u.tier
      FROM api_keys k JOIN users u ON u.id = k.user_id
      WHERE k.secret_hash = ${hash}`;
    const key = rows[0];
    if (!key || !timingSafeEqual(Buffer.from(key.secret_hash, 'hex'), Buffer.from(hash, 'hex')) || key.revoked_at) {
      throw new AuthenticationError('The API key is invalid or revoked.');
    }
    const now = Date.now();
    if (!key.last_used_at || now - key.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
      // Minute resolution, so a busy key does not write on every request.
      await this.db.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date(now) } });
    }
    return {
      userId: key.user_id,
      method: 'api_key',
      credentialId: key.id,
      keyKind: key.kind,
      scopes: key.kind === 'publishable' ? PUBLISHABLE_SCOPES : FULL_SCOPES,
      tier: key.tier,
      teamId: null,
      allowedCidrs: key.allowed_cidrs,
      readResources: key.kind === 'publishable' ? (key.read_resources ?? []) : null,
    };
  }

  private async verifyOwnToken(token: string): Promise<Principal> {
    let claims: JWTPayload;
    try {
      claims = await this.signingKeys.verify(token, { issuer: this.config.jwtIssuer, audience: this.config.jwtIssuer, type: ACCESS_TOKEN_TYPE });
    } catch {
      throw new AuthenticationError('The access token is invalid or expired.');
    }
    const expiresAt = claims.exp! * 1000;
    if (typeof claims.sid === 'string') {
      const session = await this.db.session.findUnique({ where: { id: claims.sid }, include: { user: { select: { id: true, tier: true } } } });
      if (!session || session.revokedAt || session.userId !== claims.sub) throw new AuthenticationError('The session has ended: sign in again.');
      return { userId: session.userId, method: 'session', credentialId: session.id, keyKind: null, scopes: FULL_SCOPES, tier: session.user.tier, teamId: null, allowedCidrs: [], expiresAt };
    }
    if (typeof claims.client_id === 'string') {
      const client = await this.db.oAuthClient.findUnique({ where: { id: claims.client_id }, include: { owner: { select: { tier: true } } } });
      if (!client || client.revokedAt) throw new AuthenticationError('The OAuth client was revoked.');
      return {
        userId: client.ownerId,
        method: 'oauth_client',
        credentialId: client.id,
        keyKind: null,
        // What the token was issued with, never more than the client holds now; a client bound to a
        // team never manages the account (keys, clients, billing are personal).
        scopes: FULL_SCOPES.filter(
          (s) => String((claims.scope as string | undefined) ?? '').split(' ').includes(s) && client.scopes.includes(s) && !(client.teamId && s === 'account'),
        ),
        tier: client.owner.tier,
        teamId: client.teamId,
        allowedCidrs: [],
        expiresAt,
      };
    }
    throw new AuthenticationError('The access token is invalid or expired.');
  }

  private async verifyExternalToken(token: string): Promise<Principal> {
    let claims: JWTPayload;
    try {
      claims = await this.oidc!.verify(token);
    } catch (err) {
      this.logger.debug({ reason: (err as Error).message }, 'external token rejected');
      throw new AuthenticationError('The access token is invalid or expired.');
    }
    const user = await upsertExternalUser(this.db, claims);
    return { userId: user.id, method: 'external', credentialId: user.id, keyKind: null, scopes: FULL_SCOPES, tier: user.tier, teamId: null, allowedCidrs: [], expiresAt: claims.exp! * 1000 };
  }

  /** Counts one request of a publishable key today (UTC); 429 past its daily quota. */
  private async countPublishableUse(apiKeyId: string): Promise<void> {
    const rows = await this.db.$queryRaw<{ count: number }[]>`
      INSERT INTO key_daily_usage (api_key_id, day, count) VALUES (${apiKeyId}, (now() AT TIME ZONE 'UTC')::date, 1)
      ON CONFLICT (api_key_id, day) DO UPDATE SET count = key_daily_usage.count + 1
      RETURNING count`;
    const limit = this.config.PUBLISHABLE_KEY_DAILY_QUOTA;
    if (Number(rows[0].count) > limit) {
      const reset = new Date();
      reset.setUTCHours(24, 0, 0, 0);
      throw new QuotaExceededError(limit, reset);
    }
  }
}
