/** Team invitations: a team's admins invite (POST /v1/teams/{team_id}/members), list and withdraw them; the invitee accepts or declines. */
import { z } from 'zod';
import { TEAM_ROLES } from '../../services/teams.js';
import { graphql, type ResultOf } from '../graphql.js';
import { defineRoute, idempotencyKey, lower, present, upper } from '../route.js';
import { MemberJson, memberJson, role, TeamIdParams, TeamMemberFields } from './teams.js';

const TeamInvitationFields = graphql(`fragment RestTeamInvitation on TeamInvitation { id teamId teamName email userId role status expiresAt createdAt }`);

const InvitationJson = z.object({
  id: z.string(),
  object: z.literal('team_invitation'),
  team_id: z.string(),
  team_name: z.string(),
  email: z.string().nullable().describe('The address it was sent to, as given.'),
  user_id: z.string().nullable().describe('The account id it was addressed to, as given.'),
  role: z.enum(TEAM_ROLES),
  status: z.enum(['pending', 'accepted', 'declined', 'revoked']),
  expires_at: z.iso.datetime(),
  created_at: z.iso.datetime(),
});
const invitationJson = (i: ResultOf<typeof TeamInvitationFields>): z.input<typeof InvitationJson> => ({
  id: i.id,
  object: 'team_invitation' as const,
  team_id: i.teamId,
  team_name: i.teamName,
  email: i.email,
  user_id: i.userId,
  role: lower(i.role),
  status: lower(i.status),
  expires_at: i.expiresAt,
  created_at: i.createdAt,
});
const invitationList = (items: ReadonlyArray<ResultOf<typeof TeamInvitationFields>>) => ({ object: 'list' as const, data: items.map(invitationJson) });
const InvitationList = z.object({ object: z.literal('list'), data: z.array(InvitationJson) });

export const teamInvitationRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/teams/{team_id}/members',
    operationId: 'addTeamMember',
    summary: 'Invite someone to a team by user_id or email (admin or owner); they join when they accept',
    description:
      'Answers 202 with the invitation, the same whether an account exists behind the address or not; nothing about the invitee is shown until they accept.',
    idempotent: true,
    tag: 'Teams',
    successStatus: 202,
    params: TeamIdParams,
    body: z.object({ user_id: z.string().optional(), email: z.string().optional(), role }).strict(),
    response: InvitationJson,
    errors: ['member_exists', 'invitation_exists'],
    document: graphql(`mutation AddTeamMember($teamId: ID!, $input: AddTeamMemberInput!, $idempotencyKey: String) { addTeamMember(teamId: $teamId, input: $input, idempotencyKey: $idempotencyKey) { replayed invitation { ...RestTeamInvitation } } }`, [TeamInvitationFields]),
    variables: ({ params, body, headers }) => ({ idempotencyKey: idempotencyKey(headers), teamId: params.team_id, input: { userId: body.user_id, email: body.email, role: upper(body.role) } }),
    reply: (data) => invitationJson(data.addTeamMember.invitation),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/teams/{team_id}/invitations',
    operationId: 'listTeamInvitations',
    summary: "A team's pending invitations (admin or owner)",
    tag: 'Teams',
    successStatus: 200,
    params: TeamIdParams,
    response: InvitationList,
    document: graphql(`query ListTeamInvitations($teamId: ID!) { pendingTeamInvitations(teamId: $teamId) { ...RestTeamInvitation } }`, [TeamInvitationFields]),
    variables: ({ params }) => ({ teamId: params.team_id }),
    reply: (data) => invitationList(data.pendingTeamInvitations),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}/invitations/{invitation_id}',
    operationId: 'revokeTeamInvitation',
    summary: 'Withdraw a pending invitation (admin or owner)',
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: z.object({ team_id: z.string(), invitation_id: z.string() }),
    response: InvitationJson,
    errors: ['invitation_not_pending'],
    document: graphql(`mutation RevokeTeamInvitation($teamId: ID!, $id: ID!, $idempotencyKey: String) { revokeTeamInvitation(teamId: $teamId, id: $id, idempotencyKey: $idempotencyKey) { replayed invitation { ...RestTeamInvitation } } }`, [TeamInvitationFields]),
    variables: ({ params, headers }) => ({ teamId: params.team_id, id: params.invitation_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => invitationJson(data.revokeTeamInvitation.invitation),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/invitations',
    operationId: 'listMyInvitations',
    summary: 'Pending team invitations addressed to you (your account or your e-mail)',
    tag: 'Teams',
    successStatus: 200,
    response: InvitationList,
    document: graphql(`query ListMyInvitations { teamInvitations { ...RestTeamInvitation } }`, [TeamInvitationFields]),
    variables: () => ({}),
    reply: (data) => invitationList(data.teamInvitations),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/invitations/{invitation_id}/accept',
    operationId: 'acceptTeamInvitation',
    summary: 'Accept an invitation addressed to you and join the team',
    idempotent: true,
    tag: 'Teams',
    successStatus: 200,
    params: z.object({ invitation_id: z.string() }),
    response: InvitationJson.extend({ member: MemberJson }),
    errors: ['invitation_expired', 'invitation_not_pending', 'member_exists'],
    document: graphql(`mutation AcceptTeamInvitation($id: ID!, $idempotencyKey: String) { acceptTeamInvitation(id: $id, idempotencyKey: $idempotencyKey) { replayed invitation { ...RestTeamInvitation } member { ...RestTeamMember } } }`, [TeamInvitationFields, TeamMemberFields]),
    variables: ({ params, headers }) => ({ id: params.invitation_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ ...invitationJson(data.acceptTeamInvitation.invitation), member: memberJson(present(data.acceptTeamInvitation.member, 'the new member')) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/invitations/{invitation_id}/decline',
    operationId: 'declineTeamInvitation',
    summary: 'Decline an invitation addressed to you',
    idempotent: true,
    tag: 'Teams',
    successStatus: 200,
    params: z.object({ invitation_id: z.string() }),
    response: InvitationJson,
    errors: ['invitation_expired', 'invitation_not_pending'],
    document: graphql(`mutation DeclineTeamInvitation($id: ID!, $idempotencyKey: String) { declineTeamInvitation(id: $id, idempotencyKey: $idempotencyKey) { replayed invitation { ...RestTeamInvitation } } }`, [TeamInvitationFields]),
    variables: ({ params, headers }) => ({ id: params.invitation_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => invitationJson(data.declineTeamInvitation.invitation),
  }),
];
