// Teams, their members and invitations.
import type { Team, TeamInvitation, TeamMember, User } from '../../src/generated/prisma/client.js';
import { callerOf } from '../../src/context.js';
import { acceptInvitation, declineInvitation, inviteMember, listMyInvitations, listTeamInvitations, revokeInvitation } from '../../src/services/team-invitations.js';
import { changeMemberRole, checkTeamRole, createTeam, deleteTeam, getTeam, listTeams, removeMember, updateTeam } from '../../src/services/teams.js';
import { withIdempotency } from '../../src/services/idempotency.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { connectionOf } from '../connection.js';
import { UserRef } from './viewer.js';

const TeamRoleEnum = builder.enumType('TeamRole', {
  values: {
    OWNER: { value: 'owner', description: 'Everything, including owners and deleting the team.' },
    ADMIN: { value: 'admin', description: 'Manages members (not owners) and the team name.' },
    MEMBER: { value: 'member', description: 'Creates and cancels team resources.' },
    VIEWER: { value: 'viewer', description: 'Reads team resources.' },
  } as const,
});

const TeamMemberRef = builder.objectRef<TeamMember & { user?: User }>('TeamMember').implement({
  authScopes: { sees: 'team_members' },
  fields: (t) => ({
    userId: t.exposeID('userId'),
    user: t.field({
      type: UserRef,
      resolve: (m, _args, ctx) => m.user ?? ctx.deps.db.user.findUniqueOrThrow({ where: { id: m.userId } }),
    }),
    role: t.field({ type: TeamRoleEnum, resolve: (m) => m.role }),
    joinedAt: t.field({ type: 'DateTime', resolve: (m) => m.createdAt }),
  }),
});

export const TeamRef = builder.objectRef<Team>('Team');

builder.node(TeamRef, {
  authScopes: { sees: 'teams' },
  description: 'A group of users that owns resources together.',
  id: { resolve: (team) => team.id },
  loadOne: (id, ctx) => getTeam(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.field({ type: 'DateTime', resolve: (team) => team.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (team) => team.updatedAt }),
    members: t.field({
      type: [TeamMemberRef],
      authScopes: { sees: 'team_members' },
      resolve: async (team, _args, ctx) => {
        checkTeamRole(team.id, await ctx.loaders.teamRole.load(team.id), 'viewer');
        return ctx.loaders.teamMembers.load(team.id);
      },
    }),
    viewerRole: t.field({
      type: TeamRoleEnum,
      description: 'Your role in this team.',
      resolve: async (team, _args, ctx) => checkTeamRole(team.id, await ctx.loaders.teamRole.load(team.id), 'viewer'),
    }),
  }),
});

builder.queryFields((t) => ({
  team: t.field({
    type: TeamRef,
    authScopes: { $all: { read: true, sees: 'teams' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getTeam(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  teams: t.connection({
    type: TeamRef,
    description: 'Teams you belong to, newest first.',
    authScopes: { $all: { read: true, sees: 'teams' } },
    resolve: async (_root, args, ctx) => connectionOf(await listTeams(ctx.deps, callerOf(ctx), args)),
  }),
}));

const TeamPayload = builder.objectRef<{ team: Team; replayed?: boolean }>('TeamPayload').implement({
  fields: (t) => ({ team: t.field({ type: TeamRef, resolve: (p) => p.team }), replayed: t.boolean({ resolve: (p) => p.replayed ?? false }) }),
});
const TeamMemberPayload = builder.objectRef<{ member: TeamMember; replayed?: boolean }>('TeamMemberPayload').implement({
  fields: (t) => ({ member: t.field({ type: TeamMemberRef, resolve: (p) => p.member }), replayed: replayedField(t) }),
});

/** A membership as a replay needs it after it ended (removeTeamMember): JSON, its date as text. */
const keptMember = (m: TeamMember) => ({ teamId: m.teamId, userId: m.userId, role: m.role, createdAt: m.createdAt.toISOString() });
const recalledMember = (m: ReturnType<typeof keptMember>): TeamMember => ({ ...m, createdAt: new Date(m.createdAt) });
const AddTeamMemberInput = builder.inputType('AddTeamMemberInput', {
  fields: (t) => ({
    userId: t.id({ description: 'The account to invite…' }),
    email: t.string({ description: '…or an e-mail address (with or without an account yet).' }),
    role: t.field({ type: TeamRoleEnum, required: true }),
  }),
});

const InvitationStatusEnum = builder.enumType('TeamInvitationStatus', {
  values: { PENDING: { value: 'pending' }, ACCEPTED: { value: 'accepted' }, DECLINED: { value: 'declined' }, REVOKED: { value: 'revoked' } } as const,
});

const TeamInvitationRef = builder.objectRef<TeamInvitation & { team?: { name: string } }>('TeamInvitation').implement({
  description: 'An invitation to join a team; the addressed account becomes a member only by accepting it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    teamId: t.exposeID('teamId'),
    teamName: t.string({ resolve: async (i, _a, ctx) => i.team?.name ?? (await ctx.deps.db.team.findUniqueOrThrow({ where: { id: i.teamId } })).name }),
    email: t.exposeString('email', { nullable: true, description: 'The address it was sent to, as the inviter gave it.' }),
    userId: t.exposeID('inviteeId', { nullable: true, description: 'The account id it was addressed to, as the inviter gave it.' }),
    role: t.field({ type: TeamRoleEnum, resolve: (i) => i.role }),
    status: t.field({ type: InvitationStatusEnum, resolve: (i) => i.status }),
    expiresAt: t.field({ type: 'DateTime', resolve: (i) => i.expiresAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (i) => i.createdAt }),
  }),
});

const InvitationPayload = builder.objectRef<{ invitation: TeamInvitation; member?: TeamMember | null; replayed?: boolean }>('TeamInvitationPayload').implement({
  fields: (t) => ({
    invitation: t.field({ type: TeamInvitationRef, resolve: (p) => p.invitation }),
    member: t.field({ type: TeamMemberRef, nullable: true, description: 'Your membership, once accepted.', resolve: (p) => p.member ?? null }),
    replayed: t.boolean({ description: 'Whether this answered an earlier request with the same idempotencyKey (nothing changed again).', resolve: (p) => p.replayed ?? false }),
  }),
});

builder.queryFields((t) => ({
  teamInvitations: t.field({
    type: [TeamInvitationRef],
    description: 'Pending invitations addressed to you (your account or your e-mail), oldest first.',
    authScopes: { account: true },
    resolve: (_root, _args, ctx) => listMyInvitations(ctx.deps, callerOf(ctx)),
  }),
  pendingTeamInvitations: t.field({
    type: [TeamInvitationRef],
    description: "A team's pending invitations (admin or owner).",
    authScopes: { $all: { read: true, sees: 'team_members' } },
    args: { teamId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => listTeamInvitations(ctx.deps, callerOf(ctx), String(args.teamId)),
  }),
}));

builder.mutationFields((t) => ({
  createTeam: t.field({
    type: TeamPayload,
    description: 'Creates a team with you as its owner.',
    args: { input: t.arg({ type: builder.inputType('CreateTeamInput', { fields: (f) => ({ name: f.string({ required: true }) }) }), required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, { input, idempotencyKey }, ctx) => createTeam(ctx.deps, callerOf(ctx), input, idempotencyKey),
  }),
  updateTeam: t.field({
    type: TeamPayload,
    description: 'Renames a team (admin or owner).',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: builder.inputType('UpdateTeamInput', { fields: (f) => ({ name: f.string() }) }), required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'updateTeam',
        args,
        async () => ({ team: await updateTeam(ctx.deps, callerOf(ctx), String(args.id), args.input) }),
        (p) => p.team.id,
        async (teamId) => ({ team: await getTeam(ctx.deps, callerOf(ctx), teamId) }),
      ),
  }),
  deleteTeam: t.field({
    type: TeamPayload,
    description: 'Deletes a team and what it owns (owner only; refused while it has queued or running tasks).',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'deleteTeam',
        args,
        async () => ({ team: await deleteTeam(ctx.deps, callerOf(ctx), String(args.id)) }),
        ({ team }) => ({ id: team.id, name: team.name, createdAt: team.createdAt.toISOString(), updatedAt: team.updatedAt.toISOString() }),
        (team) => ({ team: { ...team, createdAt: new Date(team.createdAt), updatedAt: new Date(team.updatedAt) } }),
      ),
  }),
  addTeamMember: t.field({
    type: InvitationPayload,
    description:
      'Invites an account id or an e-mail to a team (admin or owner; only owners invite owners). The answer is the same whether an account exists; the person joins when they accept.',
    args: { teamId: t.arg.id({ required: true }), input: t.arg({ type: AddTeamMemberInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, { teamId, input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const request = { teamId: String(teamId), userId: input.userId == null ? null : String(input.userId), email: input.email, role: input.role };
      const { resourceId, replayed } = await withIdempotency(ctx.deps.db, { principalId: caller.userId, key: idempotencyKey, operation: 'addTeamMember', request }, async () => {
        return (await inviteMember(ctx.deps, caller, request.teamId, request)).id;
      });
      return { invitation: await ctx.deps.db.teamInvitation.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
    },
  }),
  revokeTeamInvitation: t.field({
    type: InvitationPayload,
    description: 'Withdraws a pending invitation of a team (admin or owner).',
    args: { teamId: t.arg.id({ required: true }), id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'revokeTeamInvitation',
        args,
        async () => ({ invitation: await revokeInvitation(ctx.deps, callerOf(ctx), String(args.teamId), String(args.id)) }),
        (p) => p.invitation.id,
        async (id) => ({ invitation: await ctx.deps.db.teamInvitation.findUniqueOrThrow({ where: { id } }) }),
      ),
  }),
  acceptTeamInvitation: t.field({
    type: InvitationPayload,
    description: 'Accepts an invitation addressed to you: you join the team with its role.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const caller = callerOf(ctx);
      const id = String(args.id);
      const { replayed } = await withIdempotency(ctx.deps.db, { principalId: caller.userId, key: args.idempotencyKey, operation: 'acceptTeamInvitation', request: { id } }, async () => {
        await acceptInvitation(ctx.deps, caller, id);
        return id;
      });
      const invitation = await ctx.deps.db.teamInvitation.findUniqueOrThrow({ where: { id } });
      const member = await ctx.deps.db.teamMember.findUnique({ where: { teamId_userId: { teamId: invitation.teamId, userId: caller.userId } } });
      return { invitation, member, replayed };
    },
  }),
  declineTeamInvitation: t.field({
    type: InvitationPayload,
    description: 'Declines an invitation addressed to you.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, args, ctx) => {
      const caller = callerOf(ctx);
      const id = String(args.id);
      const { replayed } = await withIdempotency(ctx.deps.db, { principalId: caller.userId, key: args.idempotencyKey, operation: 'declineTeamInvitation', request: { id } }, async () => {
        await declineInvitation(ctx.deps, caller, id);
        return id;
      });
      return { invitation: await ctx.deps.db.teamInvitation.findUniqueOrThrow({ where: { id } }), replayed };
    },
  }),
  changeTeamMemberRole: t.field({
    type: TeamMemberPayload,
    description: "Changes a member's role; a team always keeps one owner.",
    args: { teamId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }), role: t.arg({ type: TeamRoleEnum, required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'changeTeamMemberRole',
        args,
        async () => ({ member: await changeMemberRole(ctx.deps, callerOf(ctx), String(args.teamId), String(args.userId), args.role) }),
        (p) => keptMember(p.member),
        async ({ teamId, userId }) => ({ member: await ctx.deps.db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId, userId } } }) }),
      ),
  }),
  removeTeamMember: t.field({
    type: TeamMemberPayload,
    description: 'Removes a member, or leaves the team when it is you; the last owner cannot leave.',
    args: { teamId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'removeTeamMember',
        args,
        async () => ({ member: await removeMember(ctx.deps, callerOf(ctx), String(args.teamId), String(args.userId)) }),
        (p) => keptMember(p.member),
        (kept) => ({ member: recalledMember(kept) }),
      ),
  }),
}));
