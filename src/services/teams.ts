/**
 * Teams: a group of users that owns resources together. Roles, from least to most: viewer (reads
 * team resources), member (also creates and cancels them), admin (also manages members and the
 * team's name), owner (also manages owners and deletes the team). A team keeps at least one owner.
 * Membership changes are stored as events on the team's stream (`team.member_added`, …) for
 * webhook delivery. People join by accepting an invitation (team-invitations.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Team, TeamMember } from '../generated/prisma/client.js';
import type { TeamRole } from '../generated/prisma/enums.js';
import { ConflictError, NotFoundError, PermissionDeniedError, ValidationError } from '../errors.js';
import { appendEvent } from '../events/event-store.js';
import { idKind, newId } from '../ids.js';
import type { Principal, ServiceDeps } from './deps.js';
import { withIdempotency } from './idempotency.js';
import { paginate, type PageArgs } from './pagination.js';
import { publishWebhookEvent, type WebhookEventType } from './webhooks/events.js';

export const TEAM_PAGE_MAX = 100;
export const TEAM_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
const RANK: Record<TeamRole, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;

/** The caller's role in a team; 404 when the caller is not a member (ids cannot be probed), 403 below `min`. */
export async function requireTeamRole(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string, min: TeamRole): Promise<TeamRole> {
  const membership =
    idKind(teamId) === 'team' && (!principal.teamId || principal.teamId === teamId)
      ? await deps.db.teamMember.findUnique({ where: { teamId_userId: { teamId, userId: principal.userId } } })
      : null;
  return checkTeamRole(teamId, membership?.role ?? null, min);
}

/**
 * Refuses a credential bound to a team: keys, OAuth clients, the subscription and account
 * settings belong to the person, and a team's credential must not reach them by any route.
 */
export function requirePersonalCredential(principal: Principal, what: string): void {
  if (principal.teamId) {
    throw new PermissionDeniedError(`This credential acts for team ${principal.teamId} and cannot reach ${what}, which belong to the account: use a personal key or a signed-in session.`);
  }
}

/**
 * Whether the caller may see a resource that is personal (`teamId` null: its owner only, and not
 * through a credential bound to a team) or a team's (any member).
 */
export async function canSee(deps: Pick<ServiceDeps, 'db'>, principal: Principal, resource: { ownerId: string; teamId: string | null }): Promise<boolean> {
  if (resource.teamId) return hasTeamRole(deps, principal, resource.teamId, 'viewer');
  return resource.ownerId === principal.userId && !principal.teamId;
}

/**
 * The filter of a list: a team's resources with `teamId` (or the team a credential is bound to),
 * after checking the caller belongs to it; else the caller's personal ones.
 */
export async function listScope(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamIdArg: string | null | undefined) {
  const teamId = teamIdArg ?? principal.teamId;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'viewer');
  return teamId ? { teamId } : { ownerId: principal.userId, teamId: null };
}

/** Whether the caller may read (viewer) or change (member) a resource that belongs to `teamId`. */
export async function hasTeamRole(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string, min: TeamRole): Promise<boolean> {
  if (principal.teamId && principal.teamId !== teamId) return false;
  const m = await deps.db.teamMember.findUnique({ where: { teamId_userId: { teamId, userId: principal.userId } } });
  return !!m && RANK[m.role] >= RANK[min];
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) throw new ValidationError([{ field: 'name', message: 'must be 1 to 100 characters' }]);
  return trimmed;
}

export function checkRole(role: string): TeamRole {
  if (!(TEAM_ROLES as readonly string[]).includes(role)) {
    throw new ValidationError([{ field: 'role', message: `must be one of ${TEAM_ROLES.join(', ')}` }]);
  }
  return role as TeamRole;
}

export async function emitTeamEvent(deps: Deps, teamId: string, type: string, data: Record<string, unknown>) {
  await appendEvent(deps.db, deps.bus, { streamId: teamId, type, key: randomUUID(), data: { team_id: teamId, ...data } });
  await publishWebhookEvent(deps, { type: type as WebhookEventType, resourceId: teamId, ownerId: null, teamId, data: { team_id: teamId, ...data } });
}

/** Creates a team with the caller as its owner, once per idempotency key. */
export async function createTeam(deps: Deps, principal: Principal, input: { name: string }, idempotencyKey?: string | null): Promise<{ team: Team; replayed: boolean }> {
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'createTeam', request: input }, async () => (await createNewTeam(deps, principal, input)).id);
  return { team: await getTeam(deps, principal, resourceId), replayed };
}

async function createNewTeam(deps: Deps, principal: Principal, input: { name: string }): Promise<Team> {
  const name = checkName(input.name);
  const id = newId('team');
  const team = await deps.db.team.create({
    data: { id, name, members: { create: { userId: principal.userId, role: 'owner' } } },
  });
  await emitTeamEvent(deps, id, 'team.member_added', { user_id: principal.userId, role: 'owner' });
  return team;
}

export async function getTeam(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string): Promise<Team> {
  await requireTeamRole(deps, principal, teamId, 'viewer');
  return deps.db.team.findUniqueOrThrow({ where: { id: teamId } });
}

/** Teams the caller belongs to, newest first. */
export function listTeams(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs) {
  return paginate(args, TEAM_PAGE_MAX, 'team', (cursor, order, take) =>
    deps.db.team.findMany({
      where: { ...cursor, members: { some: { userId: principal.userId } }, ...(principal.teamId ? { id: principal.teamId } : {}) },
      orderBy: { id: order },
      take,
    }),
  );
}

export async function updateTeam(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string, input: { name?: string | null }): Promise<Team> {
  await requireTeamRole(deps, principal, teamId, 'admin');
  if (input.name == null) return deps.db.team.findUniqueOrThrow({ where: { id: teamId } });
  return deps.db.team.update({ where: { id: teamId }, data: { name: checkName(input.name) } });
}

/** Deletes a team and what it owns; refused while it has queued or running tasks. */
export async function deleteTeam(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string): Promise<Team> {
  await requireTeamRole(deps, principal, teamId, 'owner');
  const active = await deps.db.agentTask.count({ where: { teamId, status: { in: ['queued', 'running'] } } });
  if (active > 0) {
    throw new ConflictError('team_has_active_tasks', `Team ${teamId} has ${active} queued or running tasks; cancel them or wait for them to finish, then delete it.`);
  }
  return deps.db.team.delete({ where: { id: teamId } });
}

export function listMembers(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string) {
  return requireTeamRole(deps, principal, teamId, 'viewer').then(async () => (await membersOfTeams(deps, [teamId]))[0]);
}

/** The members (with their users) of each team, oldest first, in one statement; the caller has checked access. */
export async function membersOfTeams(deps: Pick<ServiceDeps, 'db'>, teamIds: readonly string[]) {
  const rows = await deps.db.teamMember.findMany({ where: { teamId: { in: [...teamIds] } }, orderBy: { createdAt: 'asc' }, include: { user: true } });
  return teamIds.map((id) => rows.filter((m) => m.teamId === id));
}

/** The caller's role in each team (null where it is not a member, or its credential is bound to another team), in one statement. */
export async function teamRolesOf(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamIds: readonly string[]): Promise<Array<TeamRole | null>> {
  const reachable = teamIds.filter((id) => !principal.teamId || principal.teamId === id);
  const rows = reachable.length ? await deps.db.teamMember.findMany({ where: { userId: principal.userId, teamId: { in: reachable } }, select: { teamId: true, role: true } }) : [];
  const roles = new Map(rows.map((m) => [m.teamId, m.role]));
  return teamIds.map((id) => roles.get(id) ?? null);
}

/** Refuses a role below `min` as requireTeamRole does (404 for no role at all). */
export function checkTeamRole(teamId: string, role: TeamRole | null, min: TeamRole): TeamRole {
  if (!role) throw new NotFoundError('team', teamId);
  if (RANK[role] < RANK[min]) throw new PermissionDeniedError(`This needs the ${min} role in team ${teamId} or higher; you are ${role}.`);
  return role;
}

type Tx = Parameters<Parameters<ServiceDeps['db']['$transaction']>[0]>[0];

/**
 * Runs `change` on a member in a transaction that holds the team's row lock (so membership reads
 * and writes of concurrent requests are serialised), then refuses it if the team would have no
 * owner left (two owners leaving at once cannot both succeed). 404 when `userId` is not a member.
 */
async function changeMember<T>(
  deps: Pick<ServiceDeps, 'db'>,
  teamId: string,
  userId: string,
  change: (tx: Tx, member: TeamMember) => Promise<T>,
): Promise<T> {
  return deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM teams WHERE id = ${teamId} FOR UPDATE`;
    const member = idKind(userId) === 'user' ? await tx.teamMember.findUnique({ where: { teamId_userId: { teamId, userId } } }) : null;
    if (!member) throw new NotFoundError('team member', userId);
    const result = await change(tx, member);
    if ((await tx.teamMember.count({ where: { teamId, role: 'owner' } })) === 0) {
      throw new ConflictError('last_owner', `Team ${teamId} must keep at least one owner: make someone else owner first, or delete the team.`);
    }
    return result;
  });
}

export async function changeMemberRole(deps: Deps, principal: Principal, teamId: string, userId: string, roleInput: string): Promise<TeamMember> {
  const myRole = await requireTeamRole(deps, principal, teamId, 'admin');
  const role = checkRole(roleInput);
  const { updated, previous } = await changeMember(deps, teamId, userId, async (tx, member) => {
    if ((role === 'owner' || member.role === 'owner') && myRole !== 'owner') throw new PermissionDeniedError('Only an owner can make or unmake owners.');
    if (member.role === role) return { updated: member, previous: role };
    return { updated: await tx.teamMember.update({ where: { teamId_userId: { teamId, userId } }, data: { role } }), previous: member.role };
  });
  if (previous !== role) {
    await emitTeamEvent(deps, teamId, 'team.member_role_changed', { user_id: userId, role, previous_role: previous, by: principal.userId });
  }
  return updated;
}

/** Removes a member. Anyone may leave; admins remove non-owners; owners remove anyone; the last owner stays. */
export async function removeMember(deps: Deps, principal: Principal, teamId: string, userId: string): Promise<TeamMember> {
  const self = userId === principal.userId;
  const myRole = await requireTeamRole(deps, principal, teamId, self ? 'viewer' : 'admin');
  const removed = await changeMember(deps, teamId, userId, async (tx, member) => {
    if (!self && member.role === 'owner' && myRole !== 'owner') throw new PermissionDeniedError('Only an owner can remove an owner.');
    return tx.teamMember.delete({ where: { teamId_userId: { teamId, userId } } });
  });
  await emitTeamEvent(deps, teamId, 'team.member_removed', { user_id: userId, role: removed.role, by: principal.userId });
  return removed;
}
