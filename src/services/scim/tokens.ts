/**
 * SCIM tokens: the bearer tokens with which a team's identity provider provisions and deprovisions
 * the team's users over SCIM 2.0 (`/scim/v2`). Only the team's owners create, list and revoke
 * them. A token is `cdx_scim_` and 256 random bits, stored as its SHA-256 like an API key and
 * compared in constant time; it is shown once, at creation, and acts for its team only. It is
 * not an API key: the rest of the API refuses it, and /scim/v2 accepts nothing else.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ScimToken } from '../../generated/prisma/client.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { idKind, newId } from '../../ids.js';
import { sha256Hex } from '../auth/api-keys.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { requireTeamRole } from '../teams.js';

export const SCIM_TOKEN_PATTERN = /^cdx_scim_[A-Za-z0-9_-]{43}$/;
export const MAX_ACTIVE_SCIM_TOKENS = 10;
const LAST_USED_RESOLUTION_MS = 60_000;

/** A new token for `teamId` (owners only; at most 10 active per team); the only time its secret is returned. */
export async function createScimToken(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  teamId: string,
  input: { name: string },
): Promise<{ token: ScimToken; secret: string }> {
  await requireTeamRole(deps, principal, teamId, 'owner');
  const name = input.name.trim();
  if (!name || name.length > 100) throw new ValidationError([{ field: 'name', message: 'must be 1 to 100 characters' }]);
  const secret = `cdx_scim_${randomBytes(32).toString('base64url')}`;
  const token = await deps.db.$transaction(async (tx) => {
    // The team's row lock serialises concurrent creations, so the limit holds under a race.
    await tx.$queryRaw`SELECT id FROM teams WHERE id = ${teamId} FOR UPDATE`;
    const active = await tx.scimToken.count({ where: { teamId, revokedAt: null } });
    if (active >= MAX_ACTIVE_SCIM_TOKENS) {
      throw new ConflictError('scim_token_limit_reached', `A team can have at most ${MAX_ACTIVE_SCIM_TOKENS} active SCIM tokens; revoke one it no longer uses first.`, {
        limit: MAX_ACTIVE_SCIM_TOKENS,
      });
    }
    return tx.scimToken.create({
      data: { id: newId('scimToken'), teamId, createdBy: principal.userId, name, displayPrefix: secret.slice(0, 13), secretHash: sha256Hex(secret) },
    });
  });
  return { token, secret };
}

/** A team's SCIM tokens, active and revoked, newest first (owners only). */
export async function listScimTokens(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string): Promise<ScimToken[]> {
  await requireTeamRole(deps, principal, teamId, 'owner');
  return deps.db.scimToken.findMany({ where: { teamId }, orderBy: { id: 'desc' } });
}

/** Revokes a team's SCIM token (owners only): the identity provider's next request with it answers 401. Revoking twice is harmless. */
export async function revokeScimToken(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string, id: string): Promise<ScimToken> {
  await requireTeamRole(deps, principal, teamId, 'owner');
  const token = idKind(id) === 'scimToken' ? await deps.db.scimToken.findUnique({ where: { id } }) : null;
  if (!token || token.teamId !== teamId) throw new NotFoundError('SCIM token', id);
  if (token.revokedAt) return token;
  return deps.db.scimToken.update({ where: { id }, data: { revokedAt: new Date() } });
}

/**
 * The team a presented SCIM token acts for, or null when it is malformed, unknown or revoked.
 * Read from the database on every request, so a revocation holds at once on every gateway.
 */
export async function teamOfScimToken(deps: Pick<ServiceDeps, 'db'>, presented: string): Promise<{ teamId: string; tokenId: string } | null> {
  if (!SCIM_TOKEN_PATTERN.test(presented)) return null;
  const hash = sha256Hex(presented);
  const token = await deps.db.scimToken.findUnique({ where: { secretHash: hash } });
  if (!token || !timingSafeEqual(Buffer.from(token.secretHash, 'hex'), Buffer.from(hash, 'hex')) || token.revokedAt) return null;
  const now = Date.now();
  if (!token.lastUsedAt || now - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    // Minute resolution, so a busy identity provider does not write on every request.
    await deps.db.scimToken.update({ where: { id: token.id }, data: { lastUsedAt: new Date(now) } });
  }
  return { teamId: token.teamId, tokenId: token.id };
}
