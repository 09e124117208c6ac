/**
 * What a team's identity provider does over SCIM: it creates accounts that the team manages, makes
 * them team members, gives them roles through groups, and deprovisions them.
 *
 * - A provisioned user is a new account (an e-mail already used by another account is refused:
 *   invite that account instead) and, while active, a member of the team.
 * - Roles come from groups named after a role (`admin`, `member`, `viewer`, any case): a user gets
 *   the highest role of its role groups, and `member` when it is in none. SCIM never makes or
 *   unmakes owners.
 * - Deactivating (`active: false`) or deleting a user ends its access at once: its membership is
 *   removed, its sessions, API keys and OAuth clients are revoked (every gateway forgets them and
 *   closes their sockets and event streams), and the account cannot sign in until it is
 *   reactivated. Deleting also frees its e-mail; the account's team resources stay with the team.
 *
 * Errors are SCIM's own (`SCIMError`: status and scimType), for the /scim/v2 layer to send as is.
 */
import type { Prisma, ScimGroup, ScimUser } from '../../generated/prisma/client.js';
import type { TeamRole } from '../../generated/prisma/enums.js';
import { ValidationError } from '../../errors.js';
import { idKind, newId } from '../../ids.js';
import { checkPasswordPolicy, hashPassword } from '../auth/passwords.js';
import type { ServiceDeps } from '../deps.js';
import { emitTeamEvent } from '../teams.js';
import { scimError } from './scim-error.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'auth'>;
type Tx = Parameters<Parameters<ServiceDeps['db']['$transaction']>[0]>[0];

/** The roles a group can give, by its lower-cased displayName, from least to most. */
export const GROUP_ROLES: readonly TeamRole[] = ['viewer', 'member', 'admin'];
/** The role of a provisioned user in no role group. */
export const DEFAULT_SCIM_ROLE: TeamRole = 'member';

export interface ScimEmail {
  value: string;
  type?: string;
  primary?: boolean;
  display?: string;
}

export interface ScimUserInput {
  userName: string;
  externalId?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  emails: ScimEmail[];
  active: boolean;
  /** The rest of the resource (nickName, title, addresses, …), kept as sent and answered back. */
  attributes: Record<string, unknown>;
  /** Sets the account's password (it then signs in with its e-mail); absent: unchanged. */
  password?: string;
}

export interface ScimGroupInput {
  displayName: string;
  externalId?: string | null;
  /** SCIM User ids of the team. */
  memberIds: string[];
}

export type ScimUserRow = ScimUser & { groups: { group: Pick<ScimGroup, 'id' | 'displayName'> }[] };
export type ScimGroupRow = ScimGroup & { members: { scimUser: Pick<ScimUser, 'id' | 'userName'> }[] };

const USER_INCLUDE = { groups: { include: { group: { select: { id: true, displayName: true } } } } } as const;
const GROUP_INCLUDE = { members: { include: { scimUser: { select: { id: true, userName: true } } } } } as const;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The role a set of groups gives (by their displayNames). */
export function roleOfGroups(names: readonly string[]): TeamRole {
  const ranks = names.map((n) => GROUP_ROLES.indexOf(n.trim().toLowerCase() as TeamRole)).filter((r) => r >= 0);
  return ranks.length ? GROUP_ROLES[Math.max(...ranks)] : DEFAULT_SCIM_ROLE;
}

export function listScimUsers(deps: Pick<ServiceDeps, 'db'>, teamId: string): Promise<ScimUserRow[]> {
  return deps.db.scimUser.findMany({ where: { teamId }, include: USER_INCLUDE, orderBy: { id: 'asc' } });
}

/** A team's SCIM user; 404 for any other id (another team's included). */
export async function getScimUser(deps: Pick<ServiceDeps, 'db'>, teamId: string, id: string): Promise<ScimUserRow> {
  const row = idKind(id) === 'scimUser' ? await deps.db.scimUser.findFirst({ where: { id, teamId }, include: USER_INCLUDE }) : null;
  if (!row) throw scimError(404, null, `Resource ${id} not found`);
  return row;
}

export function listScimGroups(deps: Pick<ServiceDeps, 'db'>, teamId: string): Promise<ScimGroupRow[]> {
  return deps.db.scimGroup.findMany({ where: { teamId }, include: GROUP_INCLUDE, orderBy: { id: 'asc' } });
}

/** A team's SCIM group; 404 for any other id (another team's included). */
export async function getScimGroup(deps: Pick<ServiceDeps, 'db'>, teamId: string, id: string): Promise<ScimGroupRow> {
  const row = idKind(id) === 'scimGroup' ? await deps.db.scimGroup.findFirst({ where: { id, teamId }, include: GROUP_INCLUDE }) : null;
  if (!row) throw scimError(404, null, `Resource ${id} not found`);
  return row;
}

/** The account's e-mail: the primary one, else the first; lower-cased. */
function accountEmail(emails: ScimEmail[]): string | null {
  const chosen = emails.find((e) => e.primary) ?? emails[0];
  if (!chosen) return null;
  const email = chosen.value.trim().toLowerCase();
  if (!EMAIL.test(email) || email.length > 254) throw scimError(400, 'invalidValue', `emails: "${chosen.value}" is not an e-mail address.`);
  return email;
}

function checkUserInput(input: ScimUserInput): void {
  const userName = input.userName.trim();
  if (!userName || userName.length > 200) throw scimError(400, 'invalidValue', 'userName must be 1 to 200 characters.');
  if (input.password !== undefined) {
    try {
      checkPasswordPolicy(input.password);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw scimError(400, 'invalidValue', `password ${err.fieldErrors[0].message}.`);
    }
  }
}

function accountName(input: ScimUserInput): string {
  const full = [input.givenName, input.familyName].filter(Boolean).join(' ');
  return (input.displayName || full || input.userName).slice(0, 200);
}

function userColumns(input: ScimUserInput) {
  return {
    userName: input.userName.trim(),
    userNameKey: input.userName.trim().toLowerCase(),
    externalId: input.externalId ?? null,
    displayName: input.displayName ?? null,
    givenName: input.givenName ?? null,
    familyName: input.familyName ?? null,
    emails: input.emails as unknown as Prisma.InputJsonValue,
    attributes: input.attributes as Prisma.InputJsonValue,
    active: input.active,
  };
}

async function lockTeam(tx: Tx, teamId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM teams WHERE id = ${teamId} FOR UPDATE`;
}

async function checkUnique(tx: Tx, teamId: string, userNameKey: string, email: string | null, self?: { id: string; userId: string }): Promise<void> {
  const sameName = await tx.scimUser.findFirst({ where: { teamId, userNameKey, ...(self ? { NOT: { id: self.id } } : {}) }, select: { id: true } });
  if (sameName) throw scimError(409, 'uniqueness', `userName "${userNameKey}" is already provisioned in this team (as ${sameName.id}).`);
  if (email) {
    const owner = await tx.user.findUnique({ where: { email }, select: { id: true } });
    if (owner && owner.id !== self?.userId) {
      throw scimError(409, 'uniqueness', `The e-mail ${email} belongs to an account this team does not manage; invite that account to the team instead.`);
    }
  }
}

interface MembershipChange {
  userId: string;
  type: 'team.member_added' | 'team.member_removed' | 'team.member_role_changed';
  role: TeamRole;
  previous?: TeamRole;
}

/** Brings the memberships of the given SCIM users in line with their `active` flag and groups. */
async function syncMemberships(tx: Tx, teamId: string, scimUserIds: string[]): Promise<MembershipChange[]> {
  const changes: MembershipChange[] = [];
  const users = await tx.scimUser.findMany({ where: { id: { in: scimUserIds }, teamId }, include: USER_INCLUDE });
  for (const u of users) {
    const current = await tx.teamMember.findUnique({ where: { teamId_userId: { teamId, userId: u.userId } } });
    // An owner's role is the owners' business, not the identity provider's.
    if (current?.role === 'owner') continue;
    const role = roleOfGroups(u.groups.map((g) => g.group.displayName));
    if (!u.active) {
      if (current) {
        await tx.teamMember.delete({ where: { teamId_userId: { teamId, userId: u.userId } } });
        changes.push({ userId: u.userId, type: 'team.member_removed', role: current.role });
      }
    } else if (!current) {
      await tx.teamMember.create({ data: { teamId, userId: u.userId, role } });
      changes.push({ userId: u.userId, type: 'team.member_added', role });
    } else if (current.role !== role) {
      await tx.teamMember.update({ where: { teamId_userId: { teamId, userId: u.userId } }, data: { role } });
      changes.push({ userId: u.userId, type: 'team.member_role_changed', role, previous: current.role });
    }
  }
  return changes;
}

/** Revokes every credential of an account and disables it; returns the ids to broadcast. */
async function cutAccess(tx: Tx, userId: string): Promise<string[]> {
  const now = new Date();
  const [sessions, keys, clients] = await Promise.all([
    tx.session.findMany({ where: { userId, revokedAt: null }, select: { id: true } }),
    tx.apiKey.findMany({ where: { userId, revokedAt: null }, select: { id: true } }),
    tx.oAuthClient.findMany({ where: { ownerId: userId, revokedAt: null }, select: { id: true } }),
  ]);
  await tx.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: now, revokedReason: 'scim_deprovisioned' } });
  await tx.apiKey.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: now } });
  await tx.oAuthClient.updateMany({ where: { ownerId: userId, revokedAt: null }, data: { revokedAt: now } });
  await tx.user.update({ where: { id: userId }, data: { disabledAt: now } });
  return [userId, ...sessions.map((s) => s.id), ...keys.map((k) => k.id), ...clients.map((c) => c.id)];
}

/** After the commit: every gateway forgets the revoked credentials and ends their sockets; webhooks hear of membership changes. */
async function publish(deps: Deps, teamId: string, revoked: string[], changes: MembershipChange[]): Promise<void> {
  await deps.auth.revoke(revoked);
  for (const c of changes) {
    await emitTeamEvent(deps, teamId, c.type, { user_id: c.userId, role: c.role, ...(c.previous ? { previous_role: c.previous } : {}), by: 'scim' });
  }
}

/** Provisions a new account as a member of the team. */
export async function createScimUser(deps: Deps, teamId: string, input: ScimUserInput): Promise<ScimUserRow> {
  checkUserInput(input);
  const email = accountEmail(input.emails);
  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const { id, changes } = await deps.db.$transaction(async (tx) => {
    await lockTeam(tx, teamId);
    const columns = userColumns(input);
    await checkUnique(tx, teamId, columns.userNameKey, email);
    const userId = newId('user');
    await tx.user.create({ data: { id: userId, name: accountName(input), email, passwordHash, disabledAt: input.active ? null : new Date() } });
    const row = await tx.scimUser.create({ data: { id: newId('scimUser'), teamId, userId, ...columns } });
    return { id: row.id, changes: await syncMemberships(tx, teamId, [row.id]) };
  });
  await publish(deps, teamId, [], changes);
  return getScimUser(deps, teamId, id);
}

/** Replaces a user's attributes (PUT, and PATCH once applied); `active: false` deprovisions it, `true` provisions it again. */
export async function replaceScimUser(deps: Deps, teamId: string, id: string, input: ScimUserInput): Promise<ScimUserRow> {
  checkUserInput(input);
  const existing = await getScimUser(deps, teamId, id);
  const email = accountEmail(input.emails);
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
  const { revoked, changes } = await deps.db.$transaction(async (tx) => {
    await lockTeam(tx, teamId);
    const columns = userColumns(input);
    await checkUnique(tx, teamId, columns.userNameKey, email, existing);
    await tx.scimUser.update({ where: { id }, data: columns });
    await tx.user.update({ where: { id: existing.userId }, data: { name: accountName(input), email, passwordHash } });
    let revoked: string[] = [];
    if (existing.active && !input.active) revoked = await cutAccess(tx, existing.userId);
    if (!existing.active && input.active) await tx.user.update({ where: { id: existing.userId }, data: { disabledAt: null } });
    return { revoked, changes: await syncMemberships(tx, teamId, [id]) };
  });
  await publish(deps, teamId, revoked, changes);
  return getScimUser(deps, teamId, id);
}

/** Deprovisions a user for good: access ends at once, the SCIM resource is gone, the e-mail is free again. */
export async function deleteScimUser(deps: Deps, teamId: string, id: string): Promise<void> {
  const existing = await getScimUser(deps, teamId, id);
  const { revoked, changes } = await deps.db.$transaction(async (tx) => {
    await lockTeam(tx, teamId);
    const revoked = await cutAccess(tx, existing.userId);
    await tx.scimUser.update({ where: { id }, data: { active: false } });
    const changes = await syncMemberships(tx, teamId, [id]);
    await tx.scimUser.delete({ where: { id } });
    await tx.user.update({ where: { id: existing.userId }, data: { email: null } });
    return { revoked, changes };
  });
  await publish(deps, teamId, revoked, changes);
}

function checkGroupInput(input: ScimGroupInput): void {
  const name = input.displayName.trim();
  if (!name || name.length > 200) throw scimError(400, 'invalidValue', 'displayName must be 1 to 200 characters.');
}

/** Sets a group's attributes and members (ids of this team's SCIM users; any other answers 400). */
async function writeGroup(tx: Tx, teamId: string, input: ScimGroupInput, existing: ScimGroupRow | null): Promise<{ id: string; touched: string[] }> {
  await lockTeam(tx, teamId);
  const displayName = input.displayName.trim();
  const displayNameKey = displayName.toLowerCase();
  const sameName = await tx.scimGroup.findFirst({ where: { teamId, displayNameKey, ...(existing ? { NOT: { id: existing.id } } : {}) }, select: { id: true } });
  if (sameName) throw scimError(409, 'uniqueness', `A group named "${displayName}" already exists in this team (${sameName.id}).`);
  const memberIds = [...new Set(input.memberIds)];
  const found = await tx.scimUser.findMany({ where: { teamId, id: { in: memberIds.filter((m) => idKind(m) === 'scimUser') } }, select: { id: true } });
  if (found.length !== memberIds.length) {
    const known = new Set(found.map((f) => f.id));
    throw scimError(400, 'invalidValue', `members: no User "${memberIds.find((m) => !known.has(m))}" in this team.`);
  }
  const data = { displayName, displayNameKey, externalId: input.externalId ?? null };
  const id = existing?.id ?? newId('scimGroup');
  if (existing) {
    await tx.scimGroup.update({ where: { id }, data });
    await tx.scimGroupMember.deleteMany({ where: { groupId: id } });
  } else {
    await tx.scimGroup.create({ data: { id, teamId, ...data } });
  }
  await tx.scimGroupMember.createMany({ data: memberIds.map((scimUserId) => ({ groupId: id, scimUserId })) });
  const before = existing?.members.map((m) => m.scimUser.id) ?? [];
  return { id, touched: [...new Set([...before, ...memberIds])] };
}

export async function createScimGroup(deps: Deps, teamId: string, input: ScimGroupInput): Promise<ScimGroupRow> {
  checkGroupInput(input);
  const { id, changes } = await deps.db.$transaction(async (tx) => {
    const { id, touched } = await writeGroup(tx, teamId, input, null);
    return { id, changes: await syncMemberships(tx, teamId, touched) };
  });
  await publish(deps, teamId, [], changes);
  return getScimGroup(deps, teamId, id);
}

/** Replaces a group (PUT, and PATCH once applied); its former and new members' roles follow. */
export async function replaceScimGroup(deps: Deps, teamId: string, id: string, input: ScimGroupInput): Promise<ScimGroupRow> {
  checkGroupInput(input);
  const existing = await getScimGroup(deps, teamId, id);
  const changes = await deps.db.$transaction(async (tx) => {
    const { touched } = await writeGroup(tx, teamId, input, existing);
    return syncMemberships(tx, teamId, touched);
  });
  await publish(deps, teamId, [], changes);
  return getScimGroup(deps, teamId, id);
}

export async function deleteScimGroup(deps: Deps, teamId: string, id: string): Promise<void> {
  const existing = await getScimGroup(deps, teamId, id);
  const changes = await deps.db.$transaction(async (tx) => {
    await lockTeam(tx, teamId);
    await tx.scimGroup.delete({ where: { id } });
    return syncMemberships(tx, teamId, existing.members.map((m) => m.scimUser.id));
  });
  await publish(deps, teamId, [], changes);
}
