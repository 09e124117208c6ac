/**
 * /v1/teams/{team_id}/scim-tokens: the bearer tokens with which a team's identity provider
 * provisions its users over SCIM 2.0 at /scim/v2 (owners only; the secret is shown once).
 */
import { z } from 'zod';
import { graphql, type ResultOf } from '../graphql.js';
import { defineRoute, idempotencyKey } from '../route.js';

const ScimTokenFields = graphql(`fragment RestScimToken on ScimToken { id teamId name prefix createdBy createdAt lastUsedAt revokedAt }`);

const ScimTokenJson = z.object({
  id: z.string(),
  object: z.literal('scim_token'),
  team_id: z.string(),
  name: z.string(),
  prefix: z.string().describe('First characters of the token, to tell tokens apart.'),
  created_by: z.string().describe('The owner who created it.'),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
});
const scimTokenJson = (s: ResultOf<typeof ScimTokenFields>): z.input<typeof ScimTokenJson> => ({
  id: s.id,
  object: 'scim_token' as const,
  team_id: s.teamId,
  name: s.name,
  prefix: s.prefix,
  created_by: s.createdBy,
  created_at: s.createdAt,
  last_used_at: s.lastUsedAt,
  revoked_at: s.revokedAt,
});
const TeamIdParams = z.object({ team_id: z.string() });

export const scimTokenRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/teams/{team_id}/scim-tokens',
    operationId: 'createScimToken',
    summary: "Create a SCIM token for the team's identity provider (owners only); its secret is in this answer only",
    tag: 'Teams',
    successStatus: 201,
    idempotent: true,
    params: TeamIdParams,
    body: z.object({ name: z.string().describe('What the token is for, e.g. the identity provider.') }).strict(),
    response: ScimTokenJson.extend({ token: z.string().nullable().describe('The token (cdx_scim_…), shown this once; null on an idempotent replay.') }),
    errors: ['scim_token_limit_reached'],
    document: graphql(`
  mutation CreateScimToken($teamId: ID!, $input: CreateScimTokenInput!, $idempotencyKey: String) {
    createScimToken(teamId: $teamId, input: $input, idempotencyKey: $idempotencyKey) { secret replayed scimToken { ...RestScimToken } }
  }
`, [ScimTokenFields]),
    variables: ({ params, body, headers }) => ({ teamId: params.team_id, input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ ...scimTokenJson(data.createScimToken.scimToken), token: data.createScimToken.secret }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/teams/{team_id}/scim-tokens',
    operationId: 'listScimTokens',
    summary: "List a team's SCIM tokens, active and revoked, newest first (owners only)",
    tag: 'Teams',
    successStatus: 200,
    params: TeamIdParams,
    response: z.object({ object: z.literal('list'), data: z.array(ScimTokenJson) }),
    document: graphql(`
  query ListScimTokens($teamId: ID!) {
    scimTokens(teamId: $teamId) { ...RestScimToken }
  }
`, [ScimTokenFields]),
    variables: ({ params }) => ({ teamId: params.team_id }),
    reply: (data) => ({ object: 'list' as const, data: data.scimTokens.map(scimTokenJson) }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/teams/{team_id}/scim-tokens/{token_id}',
    operationId: 'revokeScimToken',
    summary: "Revoke a team's SCIM token (owners only); the identity provider's next request with it answers 401",
    tag: 'Teams',
    successStatus: 200,
    idempotent: true,
    params: z.object({ team_id: z.string(), token_id: z.string() }),
    response: ScimTokenJson,
    document: graphql(`
  mutation RevokeScimToken($teamId: ID!, $id: ID!, $idempotencyKey: String) {
    revokeScimToken(teamId: $teamId, id: $id, idempotencyKey: $idempotencyKey) { replayed scimToken { ...RestScimToken } }
  }
`, [ScimTokenFields]),
    variables: ({ params, headers }) => ({ teamId: params.team_id, id: params.token_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => scimTokenJson(data.revokeScimToken.scimToken),
  }),
];
