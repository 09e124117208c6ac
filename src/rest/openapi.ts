/**
 * The OpenAPI 3.1 document, generated from the REST route table and the error code table (the SDKs
 * are generated from it). Schemas come from zod's own JSON Schema output (draft 2020-12, the
 * dialect of OpenAPI 3.1): every response object is a named component (resources by their
 * name, nested objects by parent and field), so a generator makes one class per shape.
 */
import { z } from 'zod';
import { INT32_MAX } from '../bounded-int.js';
import { errorCodes, isErrorCode, liftedFields, type ErrorCode } from '../errors.js';
import { ERROR_CODES_HEADER } from './envelope.js';
import type { RestRoute } from './route.js';
import { chatOpenApi } from './v1/chat.js';
import { webhookEventSchemas } from './webhook-events.js';

type Json = Record<string, unknown>;

const ERROR_CODES = Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]];
/** The codes of both vocabularies: the default snake_case ones and the upper-case ones (Codex-Error-Codes: upper). */
const ALL_CODES = [...new Set([...ERROR_CODES, ...Object.values(errorCodes).map((e) => e.upper)])] as [string, ...string[]];
const liftedType = { integer: () => z.number().int(), string: () => z.string(), 'date-time': () => z.iso.datetime() } as const;
/** The limit fields of 429 and 402, also at the top of `error` (each optional: an error carries those of its code). */
const LiftedFields = Object.fromEntries(
  Object.entries(liftedFields).map(([field, { type, description }]) => [field, liftedType[type]().optional().describe(`${description} (429/402; also in details)`)]),
);
const ErrorEnvelope = z.object({
  error: z.object({
    code: z.enum(ALL_CODES).describe(`What went wrong; each code answers with one HTTP status. snake_case by default; with "${ERROR_CODES_HEADER}: upper", the upper-case vocabulary.`),
    message: z.string().describe('What to change to make the request succeed.'),
    ...LiftedFields,
    details: z.unknown().optional().describe('For validation_error: [{field, message}]; for limits: the limit and when it resets.'),
    request_id: z.string(),
    documentation_url: z.string().describe("The code's entry in the error reference (DOCS_URL, by default the gateway's /docs/errors#<code>)."),
    doc_url: z.string().describe('The same link as documentation_url.'),
  }),
});

/** Response schemas of the resources, by the operation that reads one. */
const RESOURCE_NAMES: Record<string, string> = {
  getAgentTask: 'Task',
  getOrchestration: 'Orchestration',
  startOrchestration: 'StartedOrchestration',
  executeAgentTask: 'ExecutedTask',
  login: 'AuthTokens',
  getMe: 'User',
  getApiKey: 'ApiKey',
  createApiKey: 'CreatedApiKey',
  getTeam: 'Team',
  addTeamMember: 'TeamInvitation',
  listTeamInvitations: 'TeamInvitationList',
  acceptTeamInvitation: 'AcceptedTeamInvitation',
  changeTeamMemberRole: 'TeamMember',
  getOAuthClient: 'OAuthClient',
  createOAuthClient: 'CreatedOAuthClient',
  getSubscription: 'Subscription',
  getUsage: 'Usage',
  getGeneration: 'Generation',
  getProject: 'Project',
  indexProject: 'IndexRun',
  getReview: 'Review',
  getWebhook: 'Webhook',
  createWebhook: 'WebhookWithSecret',
  updateWebhook: 'UpdatedWebhook',
  redeliverWebhookDelivery: 'WebhookDelivery',
  getVisualization: 'Visualization',
  startVisualization: 'StartedVisualization',
  createVisualizationShare: 'VisualizationShare',
  getSharedVisualization: 'SharedVisualization',
};

const pascal = (s: string) => s.replace(/(^|[_\-.\s])([a-zA-Z0-9])/g, (_m, _s, c: string) => c.toUpperCase());
const singular = (s: string) => (s.endsWith('ies') ? `${s.slice(0, -3)}y` : s.endsWith('ses') ? s.slice(0, -2) : s.endsWith('s') ? s.slice(0, -1) : s);

interface Def {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The object schemas inside `schema` (through optional, nullable, arrays, unions, records), with a name hint each. */
function nestedObjects(schema: z.ZodType, hint: string, out: Array<{ schema: z.ZodType; hint: string }>, depth = 0): void {
  if (depth > 8) return;
  const def = defOf(schema);
  if (def.type === 'object') {
    out.push({ schema, hint });
    return;
  }
  const inner = def.innerType ?? def.element ?? def.valueType ?? def.in;
  const itemHint = def.element ? singular(hint) : hint;
  if (inner) nestedObjects(inner, itemHint, out, depth + 1);
  for (const option of def.options ?? []) nestedObjects(option, hint, out, depth + 1);
}

/** Names every response object: resources, lists (`<Item>List`), other bodies (`<OperationId>Response`), and their nested objects. */
class ComponentNames {
  readonly registry = z.registry<{ id: string }>();
  private readonly used = new Set<string>();

  name(schema: z.ZodType, wanted: string): string {
    const existing = this.registry.get(schema)?.id;
    if (existing) return existing;
    let id = wanted;
    for (let i = 2; this.used.has(id); i++) id = `${wanted}${i}`;
    this.used.add(id);
    this.registry.add(schema, { id });
    const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType> | undefined;
    for (const [field, child] of Object.entries(shape ?? {})) {
      const found: Array<{ schema: z.ZodType; hint: string }> = [];
      nestedObjects(child, pascal(field), found);
      for (const f of found) this.name(f.schema, `${id}${f.hint}`);
    }
    return id;
  }

  /** A list body `{object: "list", data: [item]…}`: its item schema, else null. */
  static listItem(schema: z.ZodType): z.ZodType | null {
    const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType> | undefined;
    const data = shape?.data;
    return data && defOf(data).type === 'array' && shape.object ? defOf(data).element! : null;
  }
}

/** Removes `$schema` and `$id` keys (JSON Schema documents' own headers) at any depth. */
function withoutSchemaKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutSchemaKeys) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '$schema' && k !== '$id').map(([k, v]) => [k, withoutSchemaKeys(v)])) as T;
  }
  return value;
}

const inlineSchema = (schema: z.ZodType) => withoutSchemaKeys(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }));
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

const HEADERS = {
  'X-Request-Id': { description: 'The id of this request (yours when you sent a safe X-Request-Id); quote it to support.', schema: { type: 'string' } },
  'X-RateLimit-Limit': { description: 'The credits of the limit closest to running out (minute, hour or month), or of the one that refused the request.', schema: { type: 'integer' } },
  'X-RateLimit-Remaining': { description: 'Credits left in that limit.', schema: { type: 'integer' } },
  'X-RateLimit-Reset': { description: 'When that limit frees up, in Unix seconds.', schema: { type: 'integer' } },
  'RateLimit-Policy': { description: 'Every limit (IETF RateLimit header fields): "minute";q=5;w=60, "hour";q=500;w=3600, "month";q=100;w=<period seconds>, "concurrency";q=5;qu="concurrent-requests".', schema: { type: 'string' } },
  RateLimit: { description: 'What is left of every limit and in how many seconds it frees up: "minute";r=3;t=42, ...', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
  'Idempotent-Replayed': { description: '"true" when this is the stored answer of an earlier request with the same Idempotency-Key.', schema: { type: 'string', enum: ['true'] } },
} as const;
const IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Same key and same request (path and body) within 24 hours: the first result; another request with the key: 409 idempotency_conflict.',
  schema: { type: 'string', maxLength: 255 },
};
const headerName = (h: keyof typeof HEADERS) => h.replace(/-/g, '');
const headers = (...names: Array<keyof typeof HEADERS>) => Object.fromEntries(names.map((h) => [h, header(headerName(h))]));
const RATE_HEADERS = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit'] as const;

/** What a route is like, for the errors every such route can answer. */
interface RouteTraits {
  public?: boolean;
  body?: boolean;
  idempotent?: boolean;
  errors?: ErrorCode[];
}

/**
 * The codes a route can answer: bad input (400/422), unknown ids (404), the limits (429; 402 and
 * 401/403 with a credential), a body over the size limit (413), a reused Idempotency-Key (409),
 * an unreachable dependency (503), an unexpected failure (500), and the route's own.
 */
export function errorCodesOf(route: RouteTraits): ErrorCode[] {
  const codes: ErrorCode[] = ['invalid_request', 'validation_error', 'resource_not_found', 'rate_limit_exceeded', 'service_unavailable', 'internal_error'];
  if (!route.public) codes.push('authentication_required', 'permission_denied', 'insufficient_credits', 'concurrency_limit_exceeded');
  if (route.body) codes.push('payload_too_large');
  if (route.idempotent) codes.push('idempotency_conflict');
  for (const code of route.errors ?? []) {
    if (!isErrorCode(code)) throw new Error(`OpenAPI: unknown error code "${String(code)}"`);
    if (!codes.includes(code)) codes.push(code);
  }
  return codes;
}

/** One response per status the codes answer with, each the Error envelope, describing its codes. */
function errorResponses(codes: ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(errorCodes[code].status, [...(byStatus.get(errorCodes[code].status) ?? []), code]);
  const responses: Record<string, Json> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    // Every answer to an identified caller carries the limit headers; 429 and 503 say when to retry.
    const extra = status === 429 || status === 503 ? [...RATE_HEADERS, 'Retry-After' as const] : RATE_HEADERS;
    responses[String(status)] = {
      description: list.map((c) => `${c}: ${errorCodes[c].description}`).join(' | '),
      headers: headers('X-Request-Id', ...extra),
      content: { 'application/json': { schema: ref('Error') } },
    };
  }
  return responses;
}

function oauthTokenPath(): Json {
  const oauthError = (description: string) => ({ description, headers: headers('X-Request-Id'), content: { 'application/json': { schema: ref('OAuthError') } } });
  return {
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
                grant_type: { type: 'string', enum: ['client_credentials'] },
                client_id: { type: 'string', description: 'client_secret_post; or send HTTP Basic instead' },
                client_secret: { type: 'string' },
                scope: { type: 'string', description: 'Space-separated subset of read write generate account (default: all).' },
              },
            },
          },
        },
      },
      responses: {
        200: { description: 'An access token', headers: headers('X-Request-Id', ...RATE_HEADERS), content: { 'application/json': { schema: ref('OAuthToken') } } },
        400: oauthError('invalid_request, unsupported_grant_type or invalid_scope'),
        401: oauthError('invalid_client'),
        ...errorResponses(['rate_limit_exceeded', 'service_unavailable']),
      },
    },
  };
}

const STATIC_SCHEMAS: Record<string, Json> = {
  OAuthToken: {
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in'],
    properties: { access_token: { type: 'string' }, token_type: { type: 'string', enum: ['Bearer'] }, expires_in: { type: 'integer' }, scope: { type: 'string' } },
  },
  OAuthError: {
    type: 'object',
    required: ['error'],
    properties: { error: { type: 'string', enum: ['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope'] }, error_description: { type: 'string' } },
  },
};

/** Builds the document for the given routes plus the open health endpoint. */
export function buildOpenApi(routes: RestRoute[], serverUrl: string, version: string) {
  const names = new ComponentNames();
  names.name(ErrorEnvelope.shape.error, 'ErrorDetail');
  names.name(ErrorEnvelope, 'Error');
  const responseNames = new Map<RestRoute, string>();
  for (const route of routes) if (!route.binary && RESOURCE_NAMES[route.operationId]) responseNames.set(route, names.name(route.response, RESOURCE_NAMES[route.operationId]));
  for (const route of routes) {
    if (route.binary || responseNames.has(route)) continue;
    const item = ComponentNames.listItem(route.response);
    if (item) {
      const itemName = names.name(item, pascal(singular(route.operationId.replace(/^list/, ''))));
      responseNames.set(route, names.name(route.response, `${itemName}List`));
    } else {
      responseNames.set(route, names.name(route.response, `${pascal(route.operationId)}Response`));
    }
  }
  for (const event of webhookEventSchemas) {
    names.name(event.data.schema, event.data.name);
    names.name(event.schema, event.name);
  }
  const generated = z.toJSONSchema(names.registry, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const successHeaders = headers('X-Request-Id', ...RATE_HEADERS, ...(route.idempotent ? (['Idempotent-Replayed'] as const) : []));
    const json = { 'application/json': { schema: ref(responseNames.get(route)!) } };
    const content: Json = route.binary ? { [route.binary.contentType]: { schema: { type: 'string', format: 'binary' } } } : route.eventStream?.only ? {} : { ...json };
    if (route.eventStream) {
      // With Accept: text/event-stream the same route answers with Server-Sent Events.
      content['text/event-stream'] = {
        schema: { type: 'string', description: 'Server-Sent Events; each event has an id: reconnect with Last-Event-ID to resume.' },
      };
    }
    const responses: Record<string, unknown> = {
      [route.successStatus]: { description: 'Success', headers: successHeaders, content },
      ...(route.statusOf ? { 202: { description: 'Accepted: still processing', headers: successHeaders, content: json } } : {}),
      ...errorResponses(errorCodesOf({ public: route.public, body: !!route.body, idempotent: route.idempotent, errors: route.errors })),
    };
    const parameters: unknown[] = [];
    const addParams = (schema: z.ZodType | undefined, location: 'path' | 'query') => {
      if (!schema) return;
      const js = inlineSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
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
        description: `${route.eventStream.only ? '' : 'With Accept: text/event-stream: '}the id of the last event you saw; the stream resumes after it.`,
        schema: { type: 'integer', minimum: 0, maximum: INT32_MAX },
      });
    }
    if (route.idempotent) {
      parameters.push(IDEMPOTENCY_KEY);
    }
    paths[route.path] ??= {};
    paths[route.path][route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.public ? { security: [] } : {}),
      parameters,
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: inlineSchema(route.body) } } } } : {}),
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
  paths['/v1/oauth/token'] = oauthTokenPath();
  paths['/v1/chat'] = {
    post: {
      ...chatOpenApi.post,
      parameters: [IDEMPOTENCY_KEY],
      responses: {
        ...chatOpenApi.post.responses,
        200: { ...chatOpenApi.post.responses[200], headers: headers('X-Request-Id', ...RATE_HEADERS, 'Idempotent-Replayed') },
        ...errorResponses(errorCodesOf({ body: true, idempotent: true, errors: ['model_not_configured', 'agent_error'] })),
      },
    },
  };
  paths['/.well-known/jwks.json'] = {
    get: {
      operationId: 'jwks',
      summary: 'Public keys that verify our access tokens (RFC 7517)',
      tags: ['Auth'],
      security: [],
      responses: { 200: { description: 'A JSON Web Key Set' } },
    },
  };
  const webhooks = Object.fromEntries(
    webhookEventSchemas.map((e) => [
      e.type,
      {
        post: {
          operationId: `webhook${e.name}`,
          summary: `The ${e.type} event, POSTed to your webhook URL`,
          description: 'Signed per Standard Webhooks: verify webhook-signature over "webhook-id.webhook-timestamp.body" with your whsec_ secret.',
          tags: ['Webhooks'],
          parameters: ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => ({ name, in: 'header', required: true, schema: { type: 'string' } })),
          requestBody: { required: true, content: { 'application/json': { schema: ref(e.name) } } },
          responses: { '2XX': { description: 'Received; any other answer is retried with backoff.' } },
        },
      },
    ]),
  );
  return withoutSchemaKeys({
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
      headers: Object.fromEntries(Object.entries(HEADERS).map(([h, spec]) => [headerName(h as keyof typeof HEADERS), spec])),
      schemas: { ...generated.schemas, ...STATIC_SCHEMAS },
    },
    paths,
    webhooks,
  });
}
