/**
 * OAuth 2.0 clients for the client credentials grant (RFC 6749 §4.4). A client's id is its
 * `client_id`; its secret (`cdx_cs_…`, 256 random bits) is shown once and stored as SHA-256.
 * Tokens are access tokens we sign with `client_id` in them, valid OAUTH_TOKEN_TTL_SECONDS;
 * revoking the client ends them at once. A client created for a team acts for that team only and
 * never holds the `account` scope. A client holds the scopes it was created with (by default read,
 * write and generate); its tokens get `account` only when the client holds it and the token
 * request asks for it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { OAuthClient } from '../../generated/prisma/client.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { idKind, newId } from '../../ids.js';
import { FULL_SCOPES, type Principal, type Scope, type ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { paginate, type PageArgs } from '../pagination.js';
import { requireTeamRole } from '../teams.js';
import { isStorableText } from '../text.js';
import { accountClaims } from './token-claims.js';
import { sha256Hex } from './api-keys.js';
import { ACCESS_TOKEN_TYPE } from './authenticate.js';

export const CLIENT_PAGE_MAX = 100;
/** What a client holds when created without `scopes`: everything but managing the account. */
export const DEFAULT_CLIENT_SCOPES: readonly Scope[] = ['read', 'write', 'generate'];

function checkClientScopes(principal: Principal, teamId: string | null, scopes: readonly string[] | null | undefined): Scope[] {
  const wanted = [...new Set(scopes ?? DEFAULT_CLIENT_SCOPES)];
  const unknown = wanted.find((s) => !(FULL_SCOPES as readonly string[]).includes(s));
  if (unknown !== undefined || wanted.length === 0) {
    throw new ValidationError([{ field: 'scopes', message: `must list one or more of ${FULL_SCOPES.join(', ')}${unknown !== undefined ? ` (not ${JSON.stringify(unknown)})` : ''}` }]);
  }
  if (teamId && wanted.includes('account')) {
    throw new ValidationError([{ field: 'scopes', message: 'a client for a team cannot hold account: keys, clients and billing belong to a person, not a team' }]);
  }
  const beyond = wanted.filter((s) => !principal.scopes.includes(s as Scope));
  if (beyond.length) throw new ValidationError([{ field: 'scopes', message: `your credential does not hold ${beyond.join(', ')}, so a client made with it cannot either` }]);
  return wanted as Scope[];
}

type ClientInput = { name: string; teamId?: string | null; scopes?: readonly string[] | null };

/** Creates a client once per idempotency key; its secret is in the first response only (null on a replay). */
export async function createOAuthClient(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  input: ClientInput,
  idempotencyKey?: string | null,
): Promise<{ client: OAuthClient; secret: string | null; replayed: boolean }> {
  let secret: string | null = null;
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'createOAuthClient', request: input }, async () => {
    const created = await createNewOAuthClient(deps, principal, input);
    secret = created.secret;
    return created.client.id;
  });
  return { client: await getOAuthClient(deps, principal, resourceId), secret, replayed };
}

async function createNewOAuthClient(deps: Pick<ServiceDeps, 'db'>, principal: Principal, input: ClientInput): Promise<{ client: OAuthClient; secret: string }> {
  const name = input.name.trim();
  if (!name || name.length > 100) throw new ValidationError([{ field: 'name', message: 'must be 1 to 100 characters' }]);
  if (!isStorableText(name)) throw new ValidationError([{ field: 'name', message: 'must be text (no NUL characters or lone UTF-16 surrogates)' }]);
  const teamId = input.teamId ?? principal.teamId;
  const scopes = checkClientScopes(principal, teamId, input.scopes);
  // An empty team id is a team that does not exist (404), not "no team".
  if (teamId != null) await requireTeamRole(deps, principal, teamId, 'admin');
  const secret = `cdx_cs_${randomBytes(32).toString('base64url')}`;
  try {
    const client = await deps.db.oAuthClient.create({
      data: { id: newId('oauthClient'), ownerId: principal.userId, teamId, name, scopes, secretHash: sha256Hex(secret) },
    });
    return { client, secret };
  } catch (err) {
    // The team was deleted between the role check and the insert.
    if (teamId != null && (err as { code?: string }).code === 'P2003') throw new NotFoundError('team', teamId);
    throw err;
  }
}

/** The caller's client; a credential bound to a team sees only that team's clients. */
export async function getOAuthClient(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<OAuthClient> {
  const client = idKind(id) === 'oauthClient' ? await deps.db.oAuthClient.findUnique({ where: { id } }) : null;
  if (!client || client.ownerId !== principal.userId || (principal.teamId && client.teamId !== principal.teamId)) throw new NotFoundError('OAuth client', id);
  return client;
}

export function listOAuthClients(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs) {
  const team = principal.teamId ? { teamId: principal.teamId } : {};
  return paginate(args, CLIENT_PAGE_MAX, 'oauthClient', (cursor, order, take) =>
    deps.db.oAuthClient.findMany({ where: { ownerId: principal.userId, ...team, ...cursor }, orderBy: { id: order }, take }),
  );
}

/** Revokes a client: its tokens stop working on the next request. */
export async function revokeOAuthClient(deps: Pick<ServiceDeps, 'db' | 'auth'>, principal: Principal, id: string): Promise<OAuthClient> {
  const client = await getOAuthClient(deps, principal, id);
  if (client.revokedAt) return client;
  const revoked = await deps.db.oAuthClient.update({ where: { id }, data: { revokedAt: new Date() } });
  await deps.auth.revoke([id]);
  return revoked;
}

/** An RFC 6749 §5.2 error: the token endpoint answers these instead of the API's envelope. */
export class OAuthError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope',
    readonly description: string,
    readonly status = error === 'invalid_client' ? 401 : 400,
  ) {
    super(description);
  }
}

/**
 * Issues an access token for verified client credentials. Without `requested` scopes the token
 * gets what the client holds except `account`, which must be asked for by name.
 */
export async function issueClientToken(
  deps: Pick<ServiceDeps, 'db' | 'config' | 'signingKeys'>,
  clientId: string,
  clientSecret: string,
  requested?: readonly string[],
  /** Told who the client is once it authenticated (its answer, even a refusal, is then to a known caller). */
  authenticated?: (client: { id: string; ownerId: string }) => void,
): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string }> {
  const client = idKind(clientId) === 'oauthClient' ? await deps.db.oAuthClient.findUnique({ where: { id: clientId } }) : null;
  const presented = Buffer.from(sha256Hex(clientSecret), 'hex');
  const ok = !!client && timingSafeEqual(Buffer.from(client.secretHash, 'hex'), presented) && !client.revokedAt;
  if (!ok) throw new OAuthError('invalid_client', 'Client authentication failed: unknown client, wrong secret, or revoked client.');
  authenticated?.(client);
  const held = FULL_SCOPES.filter((s) => client.scopes.includes(s));
  const beyond = requested?.filter((s) => !(held as readonly string[]).includes(s)) ?? [];
  if (beyond.length) throw new OAuthError('invalid_scope', `This client holds only ${held.join(', ')}; it was not created with ${beyond.join(', ')}.`);
  const scopes = requested ?? held.filter((s) => s !== 'account');
  await deps.db.oAuthClient.update({ where: { id: client.id }, data: { lastUsedAt: new Date() } });
  const ttl = deps.config.OAUTH_TOKEN_TTL_SECONDS;
  const owner = await deps.db.user.findUniqueOrThrow({ where: { id: client.ownerId } });
  const accessToken = await deps.signingKeys.sign(
    { client_id: client.id, azp: client.id, ...(await accountClaims(deps.db, owner)), scope: scopes.join(' ') },
    { issuer: deps.config.jwtIssuer, audience: deps.config.jwtIssuer, subject: client.id, ttlSeconds: ttl, type: ACCESS_TOKEN_TYPE },
  );
  return { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, scope: scopes.join(' ') };
}
