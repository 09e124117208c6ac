/** /v1/oauth/clients: OAuth clients for the client credentials grant. */
import { z } from 'zod';
import { CLIENT_PAGE_MAX } from '../../services/auth/oauth-clients.js';
import { graphql, type ResultOf } from '../graphql.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey } from '../route.js';

const OauthClientFields = graphql(`fragment RestOAuthClient on OAuthClient { id name teamId scopes createdAt lastUsedAt revokedAt }`);

const ClientJson = z.object({
  id: z.string(),
  object: z.literal('oauth_client'),
  client_id: z.string(),
  name: z.string(),
  team_id: z.string().nullable(),
  scopes: z.array(z.string()),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
});
const clientJson = (c: ResultOf<typeof OauthClientFields>): z.input<typeof ClientJson> => ({
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
    document: graphql(`
  mutation CreateOAuthClient($input: CreateOAuthClientInput!, $idempotencyKey: String) {
    createOAuthClient(input: $input, idempotencyKey: $idempotencyKey) { clientSecret replayed client { ...RestOAuthClient } }
  }
`, [OauthClientFields]),
    variables: ({ body, headers }) => ({ input: { name: body.name, teamId: body.team_id, scopes: body.scopes }, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ ...clientJson(data.createOAuthClient.client), client_secret: data.createOAuthClient.clientSecret }),
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
    document: graphql(`
  query ListOAuthClients($first: Int, $after: String, $last: Int, $before: String) {
    oauthClients(first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestOAuthClient } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [OauthClientFields]),
    variables: ({ query }) => pageVariables(query),
    reply: (data, req) => pageReply(data.oauthClients, clientJson, '/v1/oauth/clients', req.query),
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
    document: graphql(`query GetOAuthClient($id: ID!) { oauthClient(id: $id) { ...RestOAuthClient } }`, [OauthClientFields]),
    variables: ({ params }) => ({ id: params.client_id }),
    reply: (data) => clientJson(data.oauthClient),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/oauth/clients/{client_id}',
    operationId: 'revokeOAuthClient',
    summary: 'Revoke an OAuth client; its tokens stop working at once',
    tag: 'OAuth',
    successStatus: 200,
    idempotent: true,
    params: z.object({ client_id: z.string() }),
    response: ClientJson,
    document: graphql(`mutation RevokeOAuthClient($id: ID!, $idempotencyKey: String) { revokeOAuthClient(id: $id, idempotencyKey: $idempotencyKey) { replayed client { ...RestOAuthClient } } }`, [OauthClientFields]),
    variables: ({ params, headers }) => ({ id: params.client_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => clientJson(data.revokeOAuthClient.client),
  }),
];
