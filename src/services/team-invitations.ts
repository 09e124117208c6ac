/**
 * Joining a team takes the invitee's consent: an admin invites an e-mail address or an account
 * id, and the addressed account accepts (or declines) the invitation. Inviting answers the same
 * whether or not an account exists behind the address, and the inviter sees nothing of the
 * invitee (name, e-mail, tier) until they accept and become a member. The invitee hears of it as
 * a notification (and an e-mail when SMTP_URL is set); an address without an account gets the
 * e-mail only. Invitations expire after INVITATION_TTL_DAYS.
 */
import type { TeamInvitation, TeamMember } from '../generated/prisma/client.js';
import { AppError, ConflictError, NotFoundError, PermissionDeniedError, ValidationError } from '../errors.js';
import { idKind, newId } from '../ids.js';
import type { Principal, ServiceDeps } from './deps.js';
import { checkRole, emitTeamEvent, requirePersonalCredential, requireTeamRole } from './teams.js';
import { notifyUser, sendMail } from './webhooks/notify.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'config' | 'logger'>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class InvitationExpiredError extends AppError {
  constructor(id: string) {
    super('invitation_expired', 410, `Invitation ${id} has expired: ask a team admin to invite you again.`);
  }
}

/** Invites an e-mail or an account id to a team (admin or owner; only owners invite owners). */
export async function inviteMember(
  deps: Deps,
  principal: Principal,
  teamId: string,
  input: { userId?: string | null; email?: string | null; role: string },
): Promise<TeamInvitation> {
  const myRole = await requireTeamRole(deps, principal, teamId, 'admin');
  const role = checkRole(input.role);
  if (!input.userId === !input.email) throw new ValidationError([{ field: 'user_id', message: 'give either user_id or email of the person to invite' }]);
  const email = input.email ? input.email.trim().toLowerCase() : null;
  if (email !== null && (!EMAIL.test(email) || email.length > 254)) throw new ValidationError([{ field: 'email', message: 'must be an e-mail address' }]);
  if (input.userId && idKind(input.userId) !== 'user') throw new ValidationError([{ field: 'user_id', message: 'must be an account id (user_…)' }]);
  if (role === 'owner' && myRole !== 'owner') throw new PermissionDeniedError('Only an owner can invite another owner.');
  const address = email ? { email } : { inviteeId: input.userId! };
  const now = new Date();
  const invitation = await deps.db.$transaction(async (tx) => {
    // The team's row lock serialises invitations, so one address gets one pending invitation.
    await tx.$queryRaw`SELECT id FROM teams WHERE id = ${teamId} FOR UPDATE`;
    // Members are already visible to the admin, so saying so reveals nothing new.
    const member = await tx.teamMember.findFirst({ where: { teamId, user: email ? { email } : { id: input.userId! } } });
    if (member) throw new ConflictError('member_exists', `${email ?? input.userId} is already a ${member.role} of team ${teamId}; change their role instead.`);
    const pending = await tx.teamInvitation.findFirst({ where: { teamId, ...address, status: 'pending', expiresAt: { gt: now } } });
    if (pending) throw new ConflictError('invitation_exists', `${email ?? input.userId} already has pending invitation ${pending.id} to team ${teamId}; revoke it first to change its role.`);
    return tx.teamInvitation.create({
      data: {
        id: newId('invitation'),
        teamId,
        ...address,
        role,
        invitedById: principal.userId,
        createdAt: now,
        expiresAt: new Date(now.getTime() + deps.config.INVITATION_TTL_DAYS * 86_400_000),
      },
      include: { team: { select: { name: true } } },
    });
  });
  await tellInvitee(deps, invitation, invitation.team.name);
  return invitation;
}

async function tellInvitee(deps: Deps, invitation: TeamInvitation, teamName: string): Promise<void> {
  const invitee = await deps.db.user.findFirst({ where: invitation.email ? { email: invitation.email } : { id: invitation.inviteeId! }, select: { id: true } });
  const subject = `You are invited to join the team "${teamName}"`;
  const message =
    `You are invited to join the team "${teamName}" as ${invitation.role}. Sign in, then accept with POST /v1/invitations/${invitation.id}/accept ` +
    `(or decline with POST /v1/invitations/${invitation.id}/decline). The invitation expires at ${invitation.expiresAt.toISOString()}.`;
  if (invitee) {
    await notifyUser(deps, invitee.id, { type: 'team.invitation', subject, message, data: { invitation_id: invitation.id, team_id: invitation.teamId, role: invitation.role } });
  } else if (invitation.email) {
    await sendMail(deps, invitation.email, subject, `${message}\nCreate an account with this e-mail address first if you have none.`, { invitationId: invitation.id });
  }
}

/** Pending invitations of a team (admin or owner). */
export async function listTeamInvitations(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string): Promise<TeamInvitation[]> {
  await requireTeamRole(deps, principal, teamId, 'admin');
  return deps.db.teamInvitation.findMany({ where: { teamId, status: 'pending', expiresAt: { gt: new Date() } }, orderBy: { id: 'asc' } });
}

/** Withdraws a pending invitation of a team (admin or owner). */
export async function revokeInvitation(deps: Pick<ServiceDeps, 'db'>, principal: Principal, teamId: string, id: string): Promise<TeamInvitation> {
  await requireTeamRole(deps, principal, teamId, 'admin');
  const invitation = idKind(id) === 'invitation' ? await deps.db.teamInvitation.findUnique({ where: { id } }) : null;
  if (!invitation || invitation.teamId !== teamId) throw new NotFoundError('invitation', id);
  if (invitation.status !== 'pending') throw new ConflictError('invitation_not_pending', `Invitation ${id} was already ${invitation.status}.`);
  return deps.db.teamInvitation.update({ where: { id }, data: { status: 'revoked', respondedAt: new Date() } });
}

/** Where an invitation to the caller can be addressed: their account id and their e-mail. */
async function addressesOf(deps: Pick<ServiceDeps, 'db'>, principal: Principal) {
  requirePersonalCredential(principal, 'team invitations');
  const user = await deps.db.user.findUniqueOrThrow({ where: { id: principal.userId }, select: { email: true } });
  return [{ inviteeId: principal.userId }, ...(user.email ? [{ email: user.email }] : [])];
}

/** The caller's pending invitations, oldest first. */
export async function listMyInvitations(deps: Pick<ServiceDeps, 'db'>, principal: Principal) {
  return deps.db.teamInvitation.findMany({
    where: { OR: await addressesOf(deps, principal), status: 'pending', expiresAt: { gt: new Date() } },
    orderBy: { id: 'asc' },
    include: { team: { select: { name: true } } },
  });
}

/** An invitation addressed to the caller; anyone else's is not found. */
async function myInvitation(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<TeamInvitation> {
  const addresses = await addressesOf(deps, principal);
  const invitation = idKind(id) === 'invitation' ? await deps.db.teamInvitation.findFirst({ where: { id, OR: addresses } }) : null;
  if (!invitation) throw new NotFoundError('invitation', id);
  if (invitation.status !== 'pending') throw new ConflictError('invitation_not_pending', `Invitation ${id} was already ${invitation.status}.`);
  if (invitation.expiresAt.getTime() <= Date.now()) throw new InvitationExpiredError(id);
  return invitation;
}

/** Accepts an invitation addressed to the caller: they join the team with its role. */
export async function acceptInvitation(deps: Deps, principal: Principal, id: string): Promise<{ invitation: TeamInvitation; member: TeamMember }> {
  const invitation = await myInvitation(deps, principal, id);
  const { teamId, role } = invitation;
  const result = await deps.db.$transaction(async (tx) => {
    // Claim it: of two concurrent answers only one wins.
    const claimed = await tx.teamInvitation.updateMany({ where: { id, status: 'pending' }, data: { status: 'accepted', respondedAt: new Date() } });
    if (claimed.count === 0) throw new ConflictError('invitation_not_pending', `Invitation ${id} was answered meanwhile.`);
    const existing = await tx.teamMember.findUnique({ where: { teamId_userId: { teamId, userId: principal.userId } } });
    if (existing) throw new ConflictError('member_exists', `You are already a ${existing.role} of team ${teamId}.`);
    const member = await tx.teamMember.create({ data: { teamId, userId: principal.userId, role } });
    return { invitation: await tx.teamInvitation.findUniqueOrThrow({ where: { id } }), member };
  });
  await emitTeamEvent(deps, teamId, 'team.member_added', { user_id: principal.userId, role, by: invitation.invitedById, invitation_id: id });
  return result;
}

/** Declines an invitation addressed to the caller. */
export async function declineInvitation(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<TeamInvitation> {
  await myInvitation(deps, principal, id);
  const claimed = await deps.db.teamInvitation.updateMany({ where: { id, status: 'pending' }, data: { status: 'declined', respondedAt: new Date() } });
  if (claimed.count === 0) throw new ConflictError('invitation_not_pending', `Invitation ${id} was answered meanwhile.`);
  return deps.db.teamInvitation.findUniqueOrThrow({ where: { id } });
}
