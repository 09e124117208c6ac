/**
 * Accounts and sessions: sign-in with e-mail and password (argon2id), access tokens we sign
 * (ES256 or RS256 JWTs, `expires_in` ACCESS_TOKEN_TTL_SECONDS), and rotating refresh tokens. Each refresh
 * token works once; presenting one that was already used means it was stolen or replayed, so the
 * whole session (its token family) is revoked. Logging out revokes the session and its access
 * tokens stop working at once.
 */
import { randomBytes } from 'node:crypto';
import type { User } from '../../generated/prisma/client.js';
import { AuthenticationError, ConflictError, InvalidRequestError, PermissionDeniedError, ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { sha256Hex } from './api-keys.js';
import { accountClaims } from './token-claims.js';
import { ACCESS_TOKEN_TYPE } from './authenticate.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from './passwords.js';
import { checkThrottle, clearFailures, recordFailure, throttleKeys } from './throttle.js';

export interface TokenSet {
  accessToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshToken: string;
}

type Deps = Pick<ServiceDeps, 'db' | 'config' | 'signingKeys' | 'auth'>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const newRefreshToken = () => `v1.${randomBytes(32).toString('base64url')}`;
const INVALID_LOGIN = 'The e-mail or password is wrong.';

function checkEmail(email: string): string {
  const normalised = email.trim().toLowerCase();
  if (!EMAIL.test(normalised) || normalised.length > 254) throw new ValidationError([{ field: 'email', message: 'must be an e-mail address' }]);
  return normalised;
}

/** An access token for a session: the account's claims, `azp` the first-party client (JWT_AUTHORIZED_PARTY). */
async function signAccessToken(deps: Deps, user: User, sessionId: string): Promise<string> {
  return deps.signingKeys.sign(
    { sid: sessionId, ...(await accountClaims(deps.db, user)), azp: deps.config.JWT_AUTHORIZED_PARTY, scope: 'read write generate account' },
    { issuer: deps.config.jwtIssuer, audience: deps.config.jwtIssuer, subject: user.id, ttlSeconds: deps.config.ACCESS_TOKEN_TTL_SECONDS, type: ACCESS_TOKEN_TYPE },
  );
}

async function openSession(deps: Deps, user: User): Promise<TokenSet> {
  const sessionId = newId('session');
  const refreshToken = newRefreshToken();
  await deps.db.session.create({
    data: {
      id: sessionId,
      userId: user.id,
      expiresAt: new Date(Date.now() + deps.config.SESSION_TTL_DAYS * 86_400_000),
      refreshTokens: { create: { id: newId('refreshToken'), tokenHash: sha256Hex(refreshToken) } },
    },
  });
  return { accessToken: await signAccessToken(deps, user, sessionId), tokenType: 'Bearer', expiresIn: deps.config.ACCESS_TOKEN_TTL_SECONDS, refreshToken };
}

/** Creates an account with a password (operator command, or sign-up when ALLOW_SIGNUP is on). */
export async function createAccount(
  deps: Pick<ServiceDeps, 'db'>,
  input: { email: string; password: string; name?: string | null; tier?: string },
): Promise<User> {
  const email = checkEmail(input.email);
  checkPasswordPolicy(input.password);
  const name = (input.name ?? '').trim() || email;
  if (name.length > 200) throw new ValidationError([{ field: 'name', message: 'must be at most 200 characters' }]);
  const passwordHash = await hashPassword(input.password);
  try {
    return await deps.db.user.create({ data: { id: newId('user'), email, name, tier: input.tier ?? 'free', passwordHash } });
  } catch (err) {
    if ((err as { code?: string }).code === 'P2002') throw new ConflictError('email_taken', 'An account with this e-mail already exists: sign in instead.');
    throw err;
  }
}

/**
 * Public sign-up; off unless ALLOW_SIGNUP=true. An e-mail already taken counts as a failed
 * sign-in for the address (and the address and that e-mail), so probing which e-mails have
 * accounts is throttled exactly like guessing passwords.
 */
export async function signup(deps: Deps, input: { email: string; password: string; name?: string | null }, ip: string | null): Promise<TokenSet> {
  if (!deps.config.ALLOW_SIGNUP) throw new PermissionDeniedError('Sign-up is disabled on this server: ask an operator to create your account.');
  const keys = throttleKeys(typeof input.email === 'string' ? input.email : '', ip);
  await checkThrottle(deps.db, keys);
  try {
    return await openSession(deps, await createAccount(deps, input));
  } catch (err) {
    if (err instanceof ConflictError && err.code === 'email_taken') await recordFailure(deps.db, keys);
    throw err;
  }
}

/**
 * Signs in. A wrong password and an unknown e-mail answer the same error after the same work (one
 * argon2 verification); repeated failures for the account or the address are throttled.
 */
export async function login(deps: Deps, input: { email: string; password: string }, ip: string | null): Promise<TokenSet> {
  if (typeof input.email !== 'string' || !input.email.trim()) throw new ValidationError([{ field: 'email', message: 'is required' }]);
  if (!input.password) throw new ValidationError([{ field: 'password', message: 'is required' }]);
  const keys = throttleKeys(input.email, ip);
  await checkThrottle(deps.db, keys);
  const user = await deps.db.user.findUnique({ where: { email: input.email.trim().toLowerCase() } });
  const ok = await verifyPassword(user?.passwordHash, input.password.slice(0, 1024));
  if (!user || !ok) {
    await recordFailure(deps.db, keys);
    throw new AuthenticationError(INVALID_LOGIN);
  }
  await clearFailures(deps.db, keys[0]);
  if (user.disabledAt) throw new AuthenticationError("This account was deactivated by its team's identity provider; ask your administrator.");
  return openSession(deps, user);
}

/** Exchanges a refresh token for a new access token and a new refresh token. */
export async function refresh(deps: Deps, presented: string): Promise<TokenSet> {
  const invalid = new AuthenticationError('The refresh token is invalid, expired or already used: sign in again.');
  if (typeof presented !== 'string' || !/^v1\.[A-Za-z0-9_-]{20,100}$/.test(presented)) throw invalid;
  const token = await deps.db.refreshToken.findUnique({ where: { tokenHash: sha256Hex(presented) }, include: { session: { include: { user: true } } } });
  if (!token) throw invalid;
  const { session } = token;
  if (session.revokedAt || session.expiresAt.getTime() < Date.now()) throw invalid;
  // Claim the token: of two presentations only one can win; the other is a reuse.
  const claimed = await deps.db.refreshToken.updateMany({ where: { id: token.id, usedAt: null }, data: { usedAt: new Date() } });
  if (claimed.count === 0) {
    await revokeSession(deps, session.id, 'refresh_token_reuse');
    throw invalid;
  }
  const next = newRefreshToken();
  await deps.db.refreshToken.create({ data: { id: newId('refreshToken'), sessionId: session.id, tokenHash: sha256Hex(next) } });
  return {
    accessToken: await signAccessToken(deps, session.user, session.id),
    tokenType: 'Bearer',
    expiresIn: deps.config.ACCESS_TOKEN_TTL_SECONDS,
    refreshToken: next,
  };
}

async function revokeSession(deps: Deps, sessionId: string, reason: string): Promise<void> {
  await deps.db.session.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: new Date(), revokedReason: reason } });
  await deps.auth.revoke([sessionId]);
}

/** Ends the caller's session; only sessions log out (keys are revoked, OAuth clients deleted). */
export async function logout(deps: Deps, principal: Principal): Promise<void> {
  if (principal.method !== 'session') {
    throw new InvalidRequestError('Logout ends a session signed in with /v1/auth/login; revoke an API key with DELETE /v1/keys/{key_id} instead.');
  }
  await revokeSession(deps, principal.credentialId, 'logout');
}

/** Sets a password and ends every session of the account (operator command). */
export async function setPassword(deps: Deps, userId: string, password: string): Promise<void> {
  checkPasswordPolicy(password);
  await deps.db.user.update({ where: { id: userId }, data: { passwordHash: await hashPassword(password) } });
  const sessions = await deps.db.session.findMany({ where: { userId, revokedAt: null }, select: { id: true } });
  for (const s of sessions) await revokeSession(deps, s.id, 'password_change');
}
