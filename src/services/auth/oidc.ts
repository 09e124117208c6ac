/**
 * Tokens from an external OpenID Connect provider (Auth0, Okta, Keycloak, …): verified against
 * its JWKS (jose's remote key set: cached, refetched when a token names an unknown `kid`), with
 * `iss`, `aud`, `exp` and `nbf` checked. The user is created on first sight; `codex_tier` and
 * `codex_subscription_id` (the spec's JWT structure) are kept in step with the token.
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Db } from '../../db/client.js';
import { newId } from '../../ids.js';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const TIER_NAMES: Record<string, string> = { free: 'free', starter: 'free', pro: 'pro', professional: 'pro', team: 'team', enterprise: 'enterprise' };

export class OidcVerifier {
  private jwks: ReturnType<typeof createRemoteJWKSet> | null = null;

  constructor(
    readonly issuer: string,
    private readonly audience: string,
    private readonly jwksUrl: string | undefined,
    /** The least time between two fetches of the key set (a token with an unknown kid refetches). */
    private readonly cooldownSeconds = 30,
  ) {}

  private async keySet() {
    if (this.jwks) return this.jwks;
    let url = this.jwksUrl;
    if (!url) {
      // OpenID discovery names the key set; a provider without it serves the conventional path.
      const discovery = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(discovery, { signal: AbortSignal.timeout(5000) }).catch(() => null);
      const doc = res?.ok ? ((await res.json().catch(() => null)) as { jwks_uri?: string } | null) : null;
      url = doc?.jwks_uri ?? `${this.issuer.replace(/\/$/, '')}/.well-known/jwks.json`;
    }
    this.jwks = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: this.cooldownSeconds * 1000, cacheMaxAge: 10 * 60_000 });
    return this.jwks;
  }

  /** The verified claims; throws on a bad signature, issuer, audience, expiry or not-before. */
  async verify(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, await this.keySet(), {
      issuer: this.issuer,
      audience: this.audience,
      algorithms: ALGORITHMS,
      requiredClaims: ['sub', 'exp'],
    });
    return payload;
  }
}

/** The local user for a verified external token, created on first sight and kept in step with its claims. */
export async function upsertExternalUser(db: Db, claims: JWTPayload): Promise<{ id: string; tier: string }> {
  const subject = `${claims.iss} ${claims.sub}`;
  const tierClaim = typeof claims.codex_tier === 'string' ? TIER_NAMES[claims.codex_tier.toLowerCase()] : undefined;
  const subscriptionRef = typeof claims.codex_subscription_id === 'string' ? claims.codex_subscription_id.slice(0, 200) : undefined;
  const existing = await db.user.findUnique({ where: { externalSubject: subject }, select: { id: true, tier: true, subscriptionRef: true } });
  if (existing) {
    if ((tierClaim && tierClaim !== existing.tier) || (subscriptionRef && subscriptionRef !== existing.subscriptionRef)) {
      const updated = await db.user.update({ where: { id: existing.id }, data: { tier: tierClaim, subscriptionRef }, select: { id: true, tier: true } });
      return updated;
    }
    return existing;
  }
  const email = typeof claims.email === 'string' && claims.email_verified === true ? claims.email.toLowerCase() : null;
  // An address already used by another account is not linked: that would hand the account over.
  const emailFree = email && !(await db.user.findUnique({ where: { email }, select: { id: true } }));
  const name = typeof claims.name === 'string' ? claims.name.slice(0, 200) : (email ?? String(claims.sub));
  try {
    return await db.user.create({
      data: { id: newId('user'), externalSubject: subject, email: emailFree ? email : null, name, tier: tierClaim ?? 'free', subscriptionRef },
      select: { id: true, tier: true },
    });
  } catch {
    // Two first requests at once: the other one created it.
    return db.user.findUniqueOrThrow({ where: { externalSubject: subject }, select: { id: true, tier: true } });
  }
}
