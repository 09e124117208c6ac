/** /v1/teams: create, list, get, rename and delete teams; change members' roles and remove members. */
import { z } from 'zod';
import { TEAM_PAGE_MAX, TEAM_ROLES } from '../../services/teams.js';
import { graphql, type ResultOf } from '../graphql.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, lower, upper } from '../route.js';

export const TeamMemberFields = graphql(`fragment RestTeamMember on TeamMember { userId role joinedAt user { name email } }`);
const TeamFields = graphql(`fragment RestTeam on Team { id name createdAt updatedAt viewerRole members { ...RestTeamMember } }`, [TeamMemberFields]);

export const MemberJson = z.object({ user_id: z.string(), role: z.enum(TEAM_ROLES), name: z.string(), email: z.string().nullable(), joined_at: z.iso.datetime() });
export const memberJson = (m: ResultOf<typeof TeamMemberFields>): z.input<typeof MemberJson> => ({ user_id: m.userId, role: lower(m.role), name: m.user.name, email: m.user.email, joined_at: m.joinedAt });
const TeamJson = z.object({
  id: z.string(),
  object: z.literal('team'),
  name: z.string(),
  role: z.enum(TEAM_ROLES).describe('Your role in the team.'),
  members: z.array(MemberJson),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
const teamJson = (t: ResultOf<typeof TeamFields>): z.input<typeof TeamJson> => ({
  id: t.id,
  object: 'team' as const,
  name: t.name,
  role: lower(t.viewerRole),
  members: t.members.map(memberJson),
  created_at: t.createdAt,
  updated_at: t.updatedAt,
});

export const role = z.enum(TEAM_ROLES);

export const TeamIdParams = z.object({ team_id: z.string() });
const MemberParams = z.object({ team_id: z.string(), user_id: z.string() });

export const teamRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/teams',
    operationId: 'createTeam',
    summary: 'Create a team with you as its owner',
    tag: 'Teams',
    successStatus: 201,
    idempotent: true,
    body: z.object({ name: z.string() }).strict(),
    response: TeamJson,
    document: graphql(`
  mutation CreateTeam($input: CreateTeamInput!, $idempotencyKey: String) {
    createTeam(input: $input, idempotencyKey: $idempotencyKey) { replayed team { ...RestTeam } }
  }
`, [TeamFields]),
    variables: ({ body, headers }) => ({ input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => teamJson(data.createTeam.team),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/teams',
    operationId: 'listTeams',
    summary: 'List the teams you belong to, newest first',
    tag: 'Teams',
    successStatus: 200,
    query: listQuery(TEAM_PAGE_MAX, 'team').strict(),
    response: listResponse(TeamJson),
    document: graphql(`
  query ListTeams($first: Int, $after: String, $last: Int, $before: String) {
    teams(first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestTeam } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [TeamFields]),
    variables: ({ query }) => pageVariables(query),
    reply: (data, req) => pageReply(data.teams, teamJson, '/v1/teams', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/teams/{team_id}',
    operationId: 'getTeam',
    summary: 'Get a team and its members',
    tag: 'Teams',
    successStatus: 200,
    params: TeamIdParams,
    response: TeamJson,
    document: graphql(`query GetTeam($id: ID!) { team(id: $id) { ...RestTeam } }`, [TeamFields]),
    variables: ({ params }) => ({ id: params.team_id }),
    reply: (data) => teamJson(data.team),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/teams/{team_id}',
    operationId: 'updateTeam',
    summary: 'Rename a team (admin or owner)',
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: TeamIdParams,
    body: z.object({ name: z.string().optional() }).strict(),
    response: TeamJson,
    document: graphql(`mutation UpdateTeam($id: ID!, $input: UpdateTeamInput!, $idempotencyKey: String) { updateTeam(id: $id, input: $input, idempotencyKey: $idempotencyKey) { replayed team { ...RestTeam } } }`, [TeamFields]),
    variables: ({ params, body, headers }) => ({ id: params.team_id, input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => teamJson(data.updateTeam.team),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}',
    operationId: 'deleteTeam',
    summary: 'Delete a team and what it owns (owner only)',
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: TeamIdParams,
    response: z.object({ id: z.string(), object: z.literal('team'), deleted: z.literal(true) }),
    errors: ['team_has_active_tasks'],
    document: graphql(`mutation DeleteTeam($id: ID!, $idempotencyKey: String) { deleteTeam(id: $id, idempotencyKey: $idempotencyKey) { replayed team { id } } }`),
    variables: ({ params, headers }) => ({ id: params.team_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ id: data.deleteTeam.team.id, object: 'team' as const, deleted: true as const }),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/teams/{team_id}/members/{user_id}',
    operationId: 'changeTeamMemberRole',
    summary: "Change a member's role (a team keeps at least one owner)",
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: MemberParams,
    body: z.object({ role }).strict(),
    response: MemberJson,
    errors: ['last_owner'],
    document: graphql(`
  mutation ChangeTeamMemberRole($teamId: ID!, $userId: ID!, $role: TeamRole!, $idempotencyKey: String) {
    changeTeamMemberRole(teamId: $teamId, userId: $userId, role: $role, idempotencyKey: $idempotencyKey) { replayed member { ...RestTeamMember } }
  }
`, [TeamMemberFields]),
    variables: ({ params, body, headers }) => ({ teamId: params.team_id, userId: params.user_id, role: upper(body.role), idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => memberJson(data.changeTeamMemberRole.member),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}/members/{user_id}',
    operationId: 'removeTeamMember',
    summary: 'Remove a member, or leave when it is you (the last owner cannot leave)',
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: MemberParams,
    response: z.object({ user_id: z.string(), role: z.enum(TEAM_ROLES), removed: z.literal(true) }),
    errors: ['last_owner'],
    document: graphql(`mutation RemoveTeamMember($teamId: ID!, $userId: ID!, $idempotencyKey: String) { removeTeamMember(teamId: $teamId, userId: $userId, idempotencyKey: $idempotencyKey) { replayed member { userId role } } }`),
    variables: ({ params, headers }) => ({ teamId: params.team_id, userId: params.user_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ user_id: data.removeTeamMember.member.userId, role: lower(data.removeTeamMember.member.role), removed: true as const }),
  }),
];
