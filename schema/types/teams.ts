// Teams and their members.
import type { Team, TeamMember, User } from '../../src/generated/prisma/client.js';
import { callerOf } from '../../src/context.js';
import { withIdempotency } from '../../src/services/idempotency.js';
import { addMember, changeMemberRole, createTeam, deleteTeam, getTeam, listMembers, listTeams, removeMember, updateTeam } from '../../src/services/teams.js';
import { builder } from '../builder.js';
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
  description: 'A group of users that owns resources together.',
  id: { resolve: (team) => team.id },
  loadOne: (id, ctx) => getTeam(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.field({ type: 'DateTime', resolve: (team) => team.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (team) => team.updatedAt }),
    members: t.field({ type: [TeamMemberRef], resolve: (team, _args, ctx) => listMembers(ctx.deps, callerOf(ctx), team.id) }),
    viewerRole: t.field({
      type: TeamRoleEnum,
      description: 'Your role in this team.',
      resolve: async (team, _args, ctx) =>
        (await ctx.deps.db.teamMember.findUniqueOrThrow({ where: { teamId_userId: { teamId: team.id, userId: callerOf(ctx).userId } } })).role,
    }),
  }),
});

builder.queryFields((t) => ({
  team: t.field({
    type: TeamRef,
    authScopes: { read: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getTeam(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  teams: t.connection({
    type: TeamRef,
    description: 'Teams you belong to, newest first.',
    authScopes: { read: true },
    resolve: async (_root, args, ctx) => connectionOf(await listTeams(ctx.deps, callerOf(ctx), args)),
  }),
}));

const TeamPayload = builder.objectRef<{ team: Team; replayed?: boolean }>('TeamPayload').implement({
  fields: (t) => ({ team: t.field({ type: TeamRef, resolve: (p) => p.team }), replayed: t.boolean({ resolve: (p) => p.replayed ?? false }) }),
});
const TeamMemberPayload = builder.objectRef<{ member: TeamMember }>('TeamMemberPayload').implement({
  fields: (t) => ({ member: t.field({ type: TeamMemberRef, resolve: (p) => p.member }) }),
});
const AddTeamMemberInput = builder.inputType('AddTeamMemberInput', {
  fields: (t) => ({
    userId: t.id({ description: 'The account to add…' }),
    email: t.string({ description: '…or its e-mail address.' }),
    role: t.field({ type: TeamRoleEnum, required: true }),
  }),
});

builder.mutationFields((t) => ({
  createTeam: t.field({
    type: TeamPayload,
    description: 'Creates a team with you as its owner.',
    args: { input: t.arg({ type: builder.inputType('CreateTeamInput', { fields: (f) => ({ name: f.string({ required: true }) }) }), required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { resourceId, replayed } = await withIdempotency(
        ctx.deps.db,
        { principalId: caller.userId, key: idempotencyKey, operation: 'createTeam', request: input },
        async () => (await createTeam(ctx.deps, caller, input)).id,
      );
      ctx.response.replayed ||= replayed;
      return { team: await getTeam(ctx.deps, caller, resourceId), replayed };
    },
  }),
  updateTeam: t.field({
    type: TeamPayload,
    description: 'Renames a team (admin or owner).',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: builder.inputType('UpdateTeamInput', { fields: (f) => ({ name: f.string() }) }), required: true }) },
    resolve: async (_root, args, ctx) => ({ team: await updateTeam(ctx.deps, callerOf(ctx), String(args.id), args.input) }),
  }),
  deleteTeam: t.field({
    type: TeamPayload,
    description: 'Deletes a team and what it owns (owner only; refused while it has queued or running tasks).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({ team: await deleteTeam(ctx.deps, callerOf(ctx), String(args.id)) }),
  }),
  addTeamMember: t.field({
    type: TeamMemberPayload,
    description: 'Adds an existing account to a team (admin or owner; only owners add owners).',
    args: { teamId: t.arg.id({ required: true }), input: t.arg({ type: AddTeamMemberInput, required: true }) },
    resolve: async (_root, { teamId, input }, ctx) => ({
      member: await addMember(ctx.deps, callerOf(ctx), String(teamId), { userId: input.userId == null ? null : String(input.userId), email: input.email, role: input.role }),
    }),
  }),
  changeTeamMemberRole: t.field({
    type: TeamMemberPayload,
    description: "Changes a member's role; a team always keeps one owner.",
    args: { teamId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }), role: t.arg({ type: TeamRoleEnum, required: true }) },
    resolve: async (_root, args, ctx) => ({ member: await changeMemberRole(ctx.deps, callerOf(ctx), String(args.teamId), String(args.userId), args.role) }),
  }),
  removeTeamMember: t.field({
    type: TeamMemberPayload,
    description: 'Removes a member, or leaves the team when it is you; the last owner cannot leave.',
    args: { teamId: t.arg.id({ required: true }), userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({ member: await removeMember(ctx.deps, callerOf(ctx), String(args.teamId), String(args.userId)) }),
  }),
}));
