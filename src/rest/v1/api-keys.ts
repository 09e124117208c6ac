/** /v1/keys: create, list, get and revoke API keys. */
import { z } from 'zod';
import { KEY_PAGE_MAX } from '../../services/auth/api-keys.js';
import { READ_RESOURCES } from '../../services/auth/read-resources.js';
import { graphql, type ResultOf } from '../graphql.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, lower, upper } from '../route.js';

const ApiKeyFields = graphql(`fragment RestApiKey on ApiKey { id name kind prefix allowedCidrs readResources createdAt lastUsedAt revokedAt }`);

const ApiKeyJson = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  kind: z.enum(['secret', 'publishable']),
  prefix: z.string().describe('First characters of the key, to tell keys apart.'),
  allowed_cidrs: z.array(z.string()),
  read_resources: z.array(z.enum(READ_RESOURCES)).describe('Publishable keys: what they read besides what they created; empty for secret keys.'),
  created_at: z.iso.datetime(),
  last_used_at: z.iso.datetime().nullable(),
  revoked_at: z.iso.datetime().nullable(),
});
const apiKeyJson = (k: ResultOf<typeof ApiKeyFields>): z.input<typeof ApiKeyJson> => ({
  id: k.id,
  object: 'api_key' as const,
  name: k.name,
  kind: lower(k.kind),
  prefix: k.prefix,
  allowed_cidrs: k.allowedCidrs,
  read_resources: k.readResources.map(lower),
  created_at: k.createdAt,
  last_used_at: k.lastUsedAt,
  revoked_at: k.revokedAt,
});

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
    document: graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!, $idempotencyKey: String) {
    createApiKey(input: $input, idempotencyKey: $idempotencyKey) { secret replayed apiKey { ...RestApiKey } }
  }
`, [ApiKeyFields]),
    variables: ({ body, headers }) => ({
      input: { name: body.name, kind: body.kind && upper(body.kind), allowedCidrs: body.allowed_cidrs, readResources: body.read_resources?.map(upper) },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => ({ ...apiKeyJson(data.createApiKey.apiKey), secret: data.createApiKey.secret }),
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
    document: graphql(`
  query ListApiKeys($first: Int, $after: String, $last: Int, $before: String) {
    apiKeys(first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestApiKey } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [ApiKeyFields]),
    variables: ({ query }) => pageVariables(query),
    reply: (data, req) => pageReply(data.apiKeys, apiKeyJson, '/v1/keys', req.query),
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
    document: graphql(`query GetApiKey($id: ID!) { apiKey(id: $id) { ...RestApiKey } }`, [ApiKeyFields]),
    variables: ({ params }) => ({ id: params.key_id }),
    reply: (data) => apiKeyJson(data.apiKey),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/keys/{key_id}',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key; the next request with it answers 401',
    tag: 'Keys',
    successStatus: 200,
    idempotent: true,
    params: z.object({ key_id: z.string() }),
    response: ApiKeyJson,
    document: graphql(`mutation RevokeApiKey($id: ID!, $idempotencyKey: String) { revokeApiKey(id: $id, idempotencyKey: $idempotencyKey) { replayed apiKey { ...RestApiKey } } }`, [ApiKeyFields]),
    variables: ({ params, headers }) => ({ id: params.key_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => apiKeyJson(data.revokeApiKey.apiKey),
  }),
];
