/** The OpenAPI 3.1 document, generated from the REST route table (the SDKs are generated from it). */
import { z } from 'zod';
import { INT32_MAX } from '../bounded-int.js';
import { errorStatuses } from '../errors.js';
import type { RestRoute } from './route.js';
import { chatOpenApi } from './v1/chat.js';

const ErrorEnvelope = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
    request_id: z.string(),
    doc_url: z.string(),
  }),
});

const COMMON_ERRORS = ['invalid_request', 'authentication_required', 'resource_not_found', 'validation_error', 'internal_error'];

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

/** Builds the document for the given routes plus the open health endpoint. */
export function buildOpenApi(routes: RestRoute[], serverUrl: string, version: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {
      [route.successStatus]: {
        description: 'Success',
        content: route.binary
          ? { [route.binary.contentType]: { schema: { type: 'string', format: 'binary' } } }
          : { 'application/json': { schema: jsonSchema(route.response) } },
      },
      ...(route.statusOf ? { 202: { description: 'Accepted: still processing', content: { 'application/json': { schema: jsonSchema(route.response) } } } } : {}),
    };
    if (route.eventStream) {
      // With Accept: text/event-stream the same route answers 200 with Server-Sent Events.
      (responses[route.successStatus] as { content: Record<string, unknown> }).content['text/event-stream'] = {
        schema: { type: 'string', description: 'Server-Sent Events; each event has an id: reconnect with Last-Event-ID to resume.' },
      };
    }
    for (const code of [...COMMON_ERRORS, ...(route.errors ?? [])]) {
      const status = String(errorStatuses[code] ?? 500);
      const existing = responses[status] as { description: string } | undefined;
      responses[status] = {
        description: existing ? `${existing.description}, ${code}` : code,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    const parameters: unknown[] = [];
    const addParams = (schema: z.ZodType | undefined, location: 'path' | 'query') => {
      if (!schema) return;
      const js = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: location, required: location === 'path' || (js.required ?? []).includes(name), schema: s });
      }
    };
    addParams(route.params, 'path');
    addParams(route.query, 'query');
    if (route.eventStream) {
      parameters.push({
        name: 'Last-Event-ID',
        in: 'header',
        required: false,
        description: 'With Accept: text/event-stream: the id of the last event you saw; the stream resumes after it.',
        schema: { type: 'integer', minimum: 0, maximum: INT32_MAX },
      });
    }
    if (route.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'Same key and same body within 24 hours: the first result; a different body: 409 idempotency_conflict.',
        schema: { type: 'string', maxLength: 255 },
      });
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.public ? { security: [] } : {}),
      parameters,
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } } : {}),
      responses,
    };
  }
  paths['/v1/health'] = {
    get: {
      operationId: 'health',
      summary: 'Database and Temporal reachability (no authentication)',
      tags: ['Operations'],
      security: [],
      responses: { 200: { description: 'All dependencies reachable' }, 503: { description: 'A dependency is unreachable' } },
    },
  };
  paths['/v1/oauth/token'] = {
    post: {
      operationId: 'oauthToken',
      summary: 'OAuth 2.0 client credentials grant (RFC 6749 §4.4); errors follow RFC 6749 §5.2, not the API envelope',
      tags: ['OAuth'],
      security: [{ clientBasic: [] }, {}],
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': {
            schema: {
              type: 'object',
              required: ['grant_type'],
              properties: {
                grant_type: { const: 'client_credentials' },
                client_id: { type: 'string', description: 'client_secret_post; or send HTTP Basic instead' },
                client_secret: { type: 'string' },
                scope: { type: 'string', description: 'Space-separated subset of read write generate account (default: all).' },
              },
            },
          },
        },
      },
      responses: {
        200: {
          description: 'An access token',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { access_token: { type: 'string' }, token_type: { const: 'Bearer' }, expires_in: { type: 'integer' }, scope: { type: 'string' } },
              },
            },
          },
        },
        400: { description: 'invalid_request, unsupported_grant_type or invalid_scope' },
        401: { description: 'invalid_client' },
      },
    },
  };
  paths['/v1/chat'] = chatOpenApi;
  paths['/.well-known/jwks.json'] = {
    get: {
      operationId: 'jwks',
      summary: 'Public keys that verify our access tokens (RFC 7517)',
      tags: ['Auth'],
      security: [],
      responses: { 200: { description: 'A JSON Web Key Set' } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Codex Cloud API', version, description: 'REST /v1 layer of the Codex Cloud gateway. Every route runs a GraphQL operation of /graphql.' },
    servers: [{ url: serverUrl }],
    security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (cdx_sk_…, cdx_pk_…), an access token from /v1/auth/login or /v1/oauth/token, or a token of the configured OIDC provider' },
        clientBasic: { type: 'http', scheme: 'basic', description: 'OAuth client_id and client_secret' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: { Error: jsonSchema(ErrorEnvelope) },
    },
    paths,
  };
}
