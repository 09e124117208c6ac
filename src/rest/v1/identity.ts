/**
 * /v1/auth (spec 004, "認証 & 認可"), /v1/keys, /v1/teams and /v1/oauth/clients (spec 000). Each
 * route runs a GraphQL operation, so the same auth scopes guard both dialects.
 */
import { z } from 'zod';
import { KEY_PAGE_MAX } from '../../services/auth/api-keys.js';
import { CLIENT_PAGE_MAX } from '../../services/auth/oauth-clients.js';
import { TEAM_PAGE_MAX, TEAM_ROLES } from '../../services/teams.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute } from '../route.js';
import { operation } from './operations.js';
import { READ_RESOURCES } from '../../services/auth/read-resources.js';

const TokensJson = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
});
/** Token responses must not be stored by browsers or proxies (RFC 6749 §5.1). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const tokensJson = (t: any) => ({ access_token: t.accessToken, token_type: t.tokenType, expires_in: t.expiresIn, refresh_token: t.refreshToken });

const Credentials = z.object({ email: z.string().describe('The e-mail of the account.'), password: z.string() }).strict();

const ApiKeyJson = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  kind: z.enum(['secret', 'publishable']),
  prefix: z.string().describe('First characters of the key, to tell keys apart.'),
  allowed_cidrs: z.array(z.string()),
  read_resources: z.array(z.enum(READ_RESOURCES)).describe('Publishable keys: what they read besides what they created; empty for secret keys.'),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
const apiKeyJson = (k: any): z.infer<typeof ApiKeyJson> => ({
  id: k.id,
  object: 'api_key',
  name: k.name,
  kind: k.kind.toLowerCase(),
  prefix: k.prefix,
  allowed_cidrs: k.allowedCidrs,
  read_resources: k.readResources.map((r: string) => r.toLowerCase()),
  created_at: k.createdAt,
  last_used_at: k.lastUsedAt,
  revoked_at: k.revokedAt,
});

const MemberJson = z.object({ user_id: z.string(), role: z.enum(TEAM_ROLES), name: z.string(), email: z.string().nullable(), joined_at: z.string() });
const memberJson = (m: any) => ({ user_id: m.userId, role: m.role.toLowerCase(), name: m.user.name, email: m.user.email, joined_at: m.joinedAt });
const InvitationJson = z.object({
  id: z.string(),
  object: z.literal('team_invitation'),
  team_id: z.string(),
  team_name: z.string(),
  email: z.string().nullable().describe('The address it was sent to, as given.'),
  user_id: z.string().nullable().describe('The account id it was addressed to, as given.'),
  role: z.enum(TEAM_ROLES),
  status: z.enum(['pending', 'accepted', 'declined', 'revoked']),
  expires_at: z.string(),
  created_at: z.string(),
});
const invitationJson = (i: any) => ({
  id: i.id,
  object: 'team_invitation' as const,
  team_id: i.teamId,
  team_name: i.teamName,
  email: i.email,
  user_id: i.userId,
  role: i.role.toLowerCase(),
  status: i.status.toLowerCase(),
  expires_at: i.expiresAt,
  created_at: i.createdAt,
});
const invitationList = (items: any[]) => ({ object: 'list' as const, data: items.map(invitationJson) });
const InvitationList = z.object({ object: z.literal('list'), data: z.array(InvitationJson) });

const TeamJson = z.object({
  id: z.string(),
  object: z.literal('team'),
  name: z.string(),
  role: z.enum(TEAM_ROLES).describe('Your role in the team.'),
  members: z.array(MemberJson),
  created_at: z.string(),
  updated_at: z.string(),
});
const teamJson = (t: any) => ({
  id: t.id,
  object: 'team' as const,
  name: t.name,
  role: t.viewerRole.toLowerCase(),
  members: t.members.map(memberJson),
  created_at: t.createdAt,
  updated_at: t.updatedAt,
});

const ClientJson = z.object({
  id: z.string(),
  object: z.literal('oauth_client'),
  client_id: z.string(),
  name: z.string(),
  team_id: z.string().nullable(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});
const clientJson = (c: any) => ({
  id: c.id,
  object: 'oauth_client' as const,
  client_id: c.id,
  name: c.name,
  team_id: c.teamId,
  scopes: c.scopes,
  created_at: c.createdAt,
  last_used_at: c.lastUsedAt,
  revoked_at: c.revokedAt,
});

const idempotencyKey = (headers: Record<string, unknown>) => (headers['idempotency-key'] as string | undefined) ?? null;
const role = z.enum(TEAM_ROLES);

export const authRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/auth/login',
    headers: NO_STORE,
    operationId: 'login',
    public: true,
    summary: 'Sign in with e-mail and password (no credential needed)',
    tag: 'Auth',
    successStatus: 200,
    body: Credentials,
    response: TokensJson,
    errors: ['rate_limit_exceeded'],
    document: operation('login', 'auth-tokens'),
    variables: ({ body }) => ({ input: body }),
    reply: (data: any) => tokensJson(data.login),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/signup',
    headers: NO_STORE,
    operationId: 'signup',
    public: true,
    summary: 'Create an account and sign in (only when the server sets ALLOW_SIGNUP=true)',
    tag: 'Auth',
    successStatus: 201,
    body: Credentials.extend({ name: z.string().optional() }).strict(),
    response: TokensJson,
    errors: ['email_taken', 'rate_limit_exceeded'],
    document: operation('signup', 'auth-tokens'),
    variables: ({ body }) => ({ input: body }),
    reply: (data: any) => tokensJson(data.signup),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/refresh',
    headers: NO_STORE,
    operationId: 'refreshSession',
    public: true,
    summary: 'Exchange a refresh token (single use; a reused one ends the session) for new tokens',
    tag: 'Auth',
    successStatus: 200,
    body: z.object({ refresh_token: z.string() }).strict(),
    response: TokensJson,
    document: operation('refresh-session', 'auth-tokens'),
    variables: ({ body }) => ({ refreshToken: body.refresh_token }),
    reply: (data: any) => tokensJson(data.refreshSession),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/logout',
    operationId: 'logout',
    summary: 'End the current session; its access token stops working at once',
    tag: 'Auth',
    successStatus: 200,
    response: z.object({ success: z.boolean(), message: z.string() }),
    document: operation('logout'),
    variables: () => ({}),
    reply: (data: any) => data.logout,
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/auth/me',
    operationId: 'getMe',
    summary: 'The signed-in account',
    tag: 'Auth',
    successStatus: 200,
    response: z.object({
      id: z.string(),
      email: z.string().nullable(),
      name: z.string(),
      tier: z.string(),
      subscription: z
        .object({ id: z.string(), status: z.string(), current_period_end: z.string(), cancel_at_period_end: z.boolean() })
        .nullable()
        .describe('null on the free plan'),
      usage: z.object({
        requests_this_month: z.number().int(),
        requests_limit: z.number().int(),
        storage_used_bytes: z.number(),
        storage_limit_bytes: z.number(),
      }),
      created_at: z.string(),
    }),
    document: operation('me'),
    variables: () => ({}),
    reply: ({ viewer: { createdAt, ...user }, subscription: s, usage: u }: any) => ({
      ...user,
      subscription: s.subscriptionId
        ? { id: s.subscriptionId, status: s.status, current_period_end: s.currentPeriodEnd, cancel_at_period_end: s.cancelAtPeriodEnd }
        : null,
      usage: {
        requests_this_month: u.creditsUsed,
        requests_limit: u.creditsLimit,
        storage_used_bytes: u.storageUsedBytes,
        storage_limit_bytes: u.storageLimitBytes,
      },
      created_at: createdAt,
    }),
  }),
];

export const keyRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/keys',
    operationId: 'createApiKey',
    summary: 'Create an API key (at most 25 active); the secret is in this response only',
    tag: 'Keys',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        name: z.string(),
        kind: z.enum(['secret', 'publishable']).optional().describe('secret (default) or publishable (read and generation only, daily quota).'),
        allowed_cidrs: z.array(z.string()).optional().describe('IP ranges the key works from, e.g. ["203.0.113.0/24"].'),
        read_resources: z
          .array(z.enum(READ_RESOURCES, { message: `must be one of: ${READ_RESOURCES.join(', ')}` }))
          .optional()
          .describe('Publishable keys only: what the key may read besides what it creates itself (default ["generations"]).'),
      })
      .strict(),
    response: ApiKeyJson.extend({ secret: z.string().nullable().describe('The key; shown once (null on an idempotent replay).') }),
    errors: ['key_limit_reached', 'idempotency_conflict'],
    document: operation('create-api-key', 'api-key-fields'),
    variables: ({ body, headers }) => ({
      input: { name: body.name, kind: body.kind?.toUpperCase(), allowedCidrs: body.allowed_cidrs, readResources: body.read_resources?.map((r) => r.toUpperCase()) },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data: any) => ({ ...apiKeyJson(data.createApiKey.apiKey), secret: data.createApiKey.secret }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/keys',
    operationId: 'listApiKeys',
    summary: 'List your API keys, newest first',
    tag: 'Keys',
    successStatus: 200,
    query: listQuery(KEY_PAGE_MAX, 'apiKey').strict(),
    response: listResponse(ApiKeyJson),
    document: operation('list-api-keys', 'api-key-fields'),
    variables: ({ query }) => pageVariables(query),
    reply: (data: any, req) => pageReply(data.apiKeys, apiKeyJson, '/v1/keys', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/keys/{key_id}',
    operationId: 'getApiKey',
    summary: 'Get an API key (never its secret)',
    tag: 'Keys',
    successStatus: 200,
    params: z.object({ key_id: z.string() }),
    response: ApiKeyJson,
    document: operation('get-api-key', 'api-key-fields'),
    variables: ({ params }) => ({ id: params.key_id }),
    reply: (data: any) => apiKeyJson(data.apiKey),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/keys/{key_id}',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key; the next request with it answers 401',
    tag: 'Keys',
    successStatus: 200,
    params: z.object({ key_id: z.string() }),
    response: ApiKeyJson,
    document: operation('revoke-api-key', 'api-key-fields'),
    variables: ({ params }) => ({ id: params.key_id }),
    reply: (data: any) => apiKeyJson(data.revokeApiKey.apiKey),
  }),
];

const TeamIdParams = z.object({ team_id: z.string() });
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
    document: operation('create-team', 'team-fields', 'team-member-fields'),
    variables: ({ body, headers }) => ({ input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data: any) => teamJson(data.createTeam.team),
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
    document: operation('list-teams', 'team-fields', 'team-member-fields'),
    variables: ({ query }) => pageVariables(query),
    reply: (data: any, req) => pageReply(data.teams, teamJson, '/v1/teams', req.query),
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
    document: operation('get-team', 'team-fields', 'team-member-fields'),
    variables: ({ params }) => ({ id: params.team_id }),
    reply: (data: any) => teamJson(data.team),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/teams/{team_id}',
    operationId: 'updateTeam',
    summary: 'Rename a team (admin or owner)',
    tag: 'Teams',
    successStatus: 200,
    params: TeamIdParams,
    body: z.object({ name: z.string().optional() }).strict(),
    response: TeamJson,
    document: operation('update-team', 'team-fields', 'team-member-fields'),
    variables: ({ params, body }) => ({ id: params.team_id, input: body }),
    reply: (data: any) => teamJson(data.updateTeam.team),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}',
    operationId: 'deleteTeam',
    summary: 'Delete a team and what it owns (owner only)',
    tag: 'Teams',
    successStatus: 200,
    params: TeamIdParams,
    response: z.object({ id: z.string(), object: z.literal('team'), deleted: z.literal(true) }),
    errors: ['team_has_active_tasks'],
    document: operation('delete-team'),
    variables: ({ params }) => ({ id: params.team_id }),
    reply: (data: any) => ({ id: data.deleteTeam.team.id, object: 'team', deleted: true }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/teams/{team_id}/members',
    operationId: 'addTeamMember',
    summary: 'Invite someone to a team by user_id or email (admin or owner); they join when they accept',
    description:
      'Answers 202 with the invitation, the same whether an account exists behind the address or not; nothing about the invitee is shown until they accept.',
    tag: 'Teams',
    successStatus: 202,
    params: TeamIdParams,
    body: z.object({ user_id: z.string().optional(), email: z.string().optional(), role }).strict(),
    response: InvitationJson,
    errors: ['member_exists', 'invitation_exists'],
    document: operation('add-team-member', 'team-invitation-fields'),
    variables: ({ params, body }) => ({ teamId: params.team_id, input: { userId: body.user_id, email: body.email, role: body.role.toUpperCase() } }),
    reply: (data: any) => invitationJson(data.addTeamMember.invitation),
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
    document: operation('list-team-invitations', 'team-invitation-fields'),
    variables: ({ params }) => ({ teamId: params.team_id }),
    reply: (data: any) => invitationList(data.pendingTeamInvitations),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}/invitations/{invitation_id}',
    operationId: 'revokeTeamInvitation',
    summary: 'Withdraw a pending invitation (admin or owner)',
    tag: 'Teams',
    successStatus: 200,
    params: z.object({ team_id: z.string(), invitation_id: z.string() }),
    response: InvitationJson,
    errors: ['invitation_not_pending'],
    document: operation('revoke-team-invitation', 'team-invitation-fields'),
    variables: ({ params }) => ({ teamId: params.team_id, id: params.invitation_id }),
    reply: (data: any) => invitationJson(data.revokeTeamInvitation.invitation),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/invitations',
    operationId: 'listMyInvitations',
    summary: 'Pending team invitations addressed to you (your account or your e-mail)',
    tag: 'Teams',
    successStatus: 200,
    response: InvitationList,
    document: operation('list-my-invitations', 'team-invitation-fields'),
    variables: () => ({}),
    reply: (data: any) => invitationList(data.teamInvitations),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/invitations/{invitation_id}/accept',
    operationId: 'acceptTeamInvitation',
    summary: 'Accept an invitation addressed to you and join the team',
    tag: 'Teams',
    successStatus: 200,
    params: z.object({ invitation_id: z.string() }),
    response: InvitationJson.extend({ member: MemberJson }),
    errors: ['invitation_expired', 'invitation_not_pending', 'member_exists'],
    document: operation('accept-team-invitation', 'team-invitation-fields', 'team-member-fields'),
    variables: ({ params }) => ({ id: params.invitation_id }),
    reply: (data: any) => ({ ...invitationJson(data.acceptTeamInvitation.invitation), member: memberJson(data.acceptTeamInvitation.member) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/invitations/{invitation_id}/decline',
    operationId: 'declineTeamInvitation',
    summary: 'Decline an invitation addressed to you',
    tag: 'Teams',
    successStatus: 200,
    params: z.object({ invitation_id: z.string() }),
    response: InvitationJson,
    errors: ['invitation_expired', 'invitation_not_pending'],
    document: operation('decline-team-invitation', 'team-invitation-fields'),
    variables: ({ params }) => ({ id: params.invitation_id }),
    reply: (data: any) => invitationJson(data.declineTeamInvitation.invitation),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/teams/{team_id}/members/{user_id}',
    operationId: 'changeTeamMemberRole',
    summary: "Change a member's role (a team keeps at least one owner)",
    tag: 'Teams',
    successStatus: 200,
    params: MemberParams,
    body: z.object({ role }).strict(),
    response: MemberJson,
    errors: ['last_owner'],
    document: operation('change-team-member-role', 'team-member-fields'),
    variables: ({ params, body }) => ({ teamId: params.team_id, userId: params.user_id, role: body.role.toUpperCase() }),
    reply: (data: any) => memberJson(data.changeTeamMemberRole.member),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}/members/{user_id}',
    operationId: 'removeTeamMember',
    summary: 'Remove a member, or leave when it is you (the last owner cannot leave)',
    tag: 'Teams',
    successStatus: 200,
    params: MemberParams,
    response: z.object({ user_id: z.string(), role: z.enum(TEAM_ROLES), removed: z.literal(true) }),
    errors: ['last_owner'],
    document: operation('remove-team-member'),
    variables: ({ params }) => ({ teamId: params.team_id, userId: params.user_id }),
    reply: (data: any) => ({ user_id: data.removeTeamMember.member.userId, role: data.removeTeamMember.member.role.toLowerCase(), removed: true }),
  }),
];

export const oauthClientRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/oauth/clients',
    operationId: 'createOAuthClient',
    summary: 'Create an OAuth client for the client credentials grant; the secret is in this response only',
    tag: 'OAuth',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        name: z.string(),
        team_id: z.string().optional().describe('Tokens act for this team (you must be its admin).'),
        scopes: z
          .array(z.string())
          .optional()
          .describe('Scopes its tokens may hold: read, write, generate, account (default: all but account). A team client cannot hold account.'),
      })
      .strict(),
    response: ClientJson.extend({ client_secret: z.string().nullable() }),
    document: operation('create-oauth-client', 'oauth-client-fields'),
    variables: ({ body, headers }) => ({ input: { name: body.name, teamId: body.team_id, scopes: body.scopes }, idempotencyKey: idempotencyKey(headers) }),
    reply: (data: any) => ({ ...clientJson(data.createOAuthClient.client), client_secret: data.createOAuthClient.clientSecret }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/oauth/clients',
    operationId: 'listOAuthClients',
    summary: 'List your OAuth clients, newest first',
    tag: 'OAuth',
    successStatus: 200,
    query: listQuery(CLIENT_PAGE_MAX, 'oauthClient').strict(),
    response: listResponse(ClientJson),
    document: operation('list-oauth-clients', 'oauth-client-fields'),
    variables: ({ query }) => pageVariables(query),
    reply: (data: any, req) => pageReply(data.oauthClients, clientJson, '/v1/oauth/clients', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/oauth/clients/{client_id}',
    operationId: 'getOAuthClient',
    summary: 'Get an OAuth client (never its secret)',
    tag: 'OAuth',
    successStatus: 200,
    params: z.object({ client_id: z.string() }),
    response: ClientJson,
    document: operation('get-oauth-client', 'oauth-client-fields'),
    variables: ({ params }) => ({ id: params.client_id }),
    reply: (data: any) => clientJson(data.oauthClient),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/oauth/clients/{client_id}',
    operationId: 'revokeOAuthClient',
    summary: 'Revoke an OAuth client; its tokens stop working at once',
    tag: 'OAuth',
    successStatus: 200,
    params: z.object({ client_id: z.string() }),
    response: ClientJson,
    document: operation('revoke-oauth-client', 'oauth-client-fields'),
    variables: ({ params }) => ({ id: params.client_id }),
    reply: (data: any) => clientJson(data.revokeOAuthClient.client),
  }),
];
