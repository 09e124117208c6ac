/**
 * The OpenAPI document as SDK generators read it: built from the route table and the error code
 * table, with named components, every status a route can answer, response headers, webhook
 * payloads, and no embedded `$schema`. The typed error table itself is checked here too.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError, ConflictError, errorCodes } from '../../src/errors.js';
import { buildOpenApi, errorCodesOf } from '../../src/rest/openapi.js';
import { graphql } from '../../src/rest/graphql.js';
import { defineRoute } from '../../src/rest/route.js';
import { restRoutes } from '../../src/rest/v1/index.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/services/webhooks/events.js';

const doc = buildOpenApi(restRoutes, 'http://localhost', 'test') as any;
const op = (path: string, method: string) => doc.paths[path][method];

function keysNamed(value: unknown, name: string, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysNamed(v, name, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [...(k === name ? [at] : []), ...keysNamed(v, name, `${at}.${k}`)]);
  }
  return [];
}

describe('the error code table', () => {
  it('gives the codes the services throw their statuses (409 for the conflicts the document once called 500)', () => {
    for (const code of ['email_taken', 'key_limit_reached', 'last_owner', 'member_exists', 'team_has_active_tasks', 'orchestration_not_cancellable', 'invalid_subscription_change'] as const) {
      expect(errorCodes[code].status, code).toBe(409);
    }
    for (const [code, spec] of Object.entries(errorCodes)) {
      expect(spec.graphql, code).toBe(code.toUpperCase());
      expect(spec.description.length, code).toBeGreaterThan(10);
    }
    expect(new ConflictError('last_owner', 'x').graphqlCode).toBe('LAST_OWNER');
  });

  it('refuses at compile time a code outside it, or a status other than its own', () => {
    // @ts-expect-error: not a code of the table
    expect(new AppError('no_such_code', 400, 'x').code).toBe('no_such_code');
    // @ts-expect-error: share_revoked answers 410
    expect(new AppError('share_revoked', 409, 'x').status).toBe(409);
    // @ts-expect-error: a ConflictError takes only the codes that answer 409
    expect(new ConflictError('share_revoked', 'x').status).toBe(409);
  });
});

describe('the OpenAPI document', () => {
  it('has no $schema (or $id) keys anywhere', () => {
    expect(keysNamed(doc, '$schema')).toEqual([]);
    expect(keysNamed(doc, '$id')).toEqual([]);
  });

  it('documents every error code a route answers under its status, plus the common ones', () => {
    for (const route of restRoutes) {
      const responses = op(route.path, route.method.toLowerCase()).responses;
      const where = `${route.method} ${route.path}`;
      const codes = errorCodesOf({ public: route.public, body: !!route.body, idempotent: route.idempotent, errors: route.errors });
      for (const code of route.errors ?? []) expect(codes, where).toContain(code);
      for (const code of codes) {
        const status = String(errorCodes[code].status);
        expect(responses[status]?.description, `${where} ${code}`).toContain(`${code}:`);
        expect(responses[status].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
      }
      const statuses = Object.keys(responses);
      expect(statuses, where).toEqual(expect.arrayContaining(['400', '404', '422', '429', '500', '503']));
      if (!route.public) expect(statuses, where).toEqual(expect.arrayContaining(['401', '402', '403']));
      if (route.body) expect(statuses, where).toContain('413');
      if (route.idempotent) expect(statuses, where).toContain('409');
      expect(statuses.filter((s) => !/^[2-5]\d\d$/.test(s)), where).toEqual([]);
    }
    expect(op('/v1/agents/tasks/{task_id}', 'get').responses['408'].description).toContain('task_timeout');
    expect(op('/v1/teams/{team_id}', 'delete').responses['409'].description).toContain('team_has_active_tasks');
    expect(op('/v1/auth/signup', 'post').responses['409'].description).toContain('email_taken');
    expect(doc.components.schemas.Error.properties.error).toEqual({ $ref: '#/components/schemas/ErrorDetail' });
    const detail = doc.components.schemas.ErrorDetail;
    // Both vocabularies: the snake_case codes and the upper-case ones a client asks for.
    expect(detail.properties.code.enum).toEqual(expect.arrayContaining([...Object.keys(errorCodes), 'UNAUTHORIZED', 'NOT_FOUND', 'SERVER_ERROR']));
    // The limit fields of 429 and 402 at the top of error, typed, and both documentation links.
    expect(detail.properties).toMatchObject({
      retry_after: { type: 'integer' },
      tier: { type: 'string' },
      limit: { type: 'integer' },
      reset_at: { type: 'string', format: 'date-time' },
      requests_used: { type: 'integer' },
      documentation_url: { type: 'string' },
      doc_url: { type: 'string' },
    });
    expect(detail.required).toEqual(expect.arrayContaining(['code', 'message', 'request_id', 'documentation_url', 'doc_url']));
  });

  it('names the resources as components, and every operation refers to them', () => {
    const schemas = doc.components.schemas;
    for (const name of ['Error', 'Task', 'TaskList', 'Orchestration', 'Review', 'ReviewIssue', 'ReviewList', 'Webhook', 'WebhookDelivery', 'Visualization', 'Project', 'Generation', 'ApiKey', 'Team', 'Subscription', 'Usage']) {
      expect(schemas[name], name).toBeDefined();
    }
    for (const [path, method] of [['/v1/reviews', 'post'], ['/v1/reviews/{review_id}', 'get'], ['/v1/reviews/{review_id}', 'patch'], ['/v1/reviews/{review_id}/approve', 'post']] as const) {
      const ok = Object.entries(op(path, method).responses).find(([s]) => s.startsWith('2'))![1] as any;
      expect(ok.content['application/json'].schema, `${method} ${path}`).toEqual({ $ref: '#/components/schemas/Review' });
    }
    expect(schemas.ReviewList.properties.data.items).toEqual({ $ref: '#/components/schemas/Review' });
    // No response body is inline: each is a reference.
    for (const route of restRoutes.filter((r) => !r.binary && !r.eventStream?.only)) {
      const ok = op(route.path, route.method.toLowerCase()).responses[String(route.successStatus)];
      expect(ok.content['application/json'].schema.$ref, route.operationId).toMatch(/^#\/components\/schemas\//);
    }
  });

  it('prints date-time formats of the response schemas', () => {
    const route = defineRoute({
      method: 'GET',
      path: '/v1/probe',
      operationId: 'getProbe',
      summary: 'probe',
      tag: 'Probe',
      successStatus: 200,
      response: z.object({ created_at: z.iso.datetime(), ended_at: z.iso.datetime().nullable() }),
      document: graphql('query Probe { __typename }'),
      variables: () => ({}),
      reply: () => ({ created_at: '2026-11-30T00:00:00Z', ended_at: null }),
    });
    const probe = buildOpenApi([route], 'http://localhost', 'test') as any;
    const props = probe.components.schemas.GetProbeResponse.properties;
    expect(props.created_at).toMatchObject({ type: 'string', format: 'date-time' });
    expect(props.ended_at.anyOf).toContainEqual(expect.objectContaining({ type: 'string', format: 'date-time' }));
  });

  it('declares the response headers', () => {
    const ok = op('/v1/agents/execute', 'post').responses['202'];
    expect(Object.keys(ok.headers)).toEqual(['X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit-Policy', 'RateLimit', 'Idempotent-Replayed']);
    expect(Object.keys(op('/v1/agents/tasks/{task_id}', 'get').responses['404'].headers)).toEqual(expect.arrayContaining(['RateLimit-Policy', 'RateLimit', 'X-RateLimit-Remaining']));
    expect(op('/v1/agents/tasks', 'get').responses['200'].headers).not.toHaveProperty('Idempotent-Replayed');
    expect(Object.keys(op('/v1/agents/tasks', 'get').responses['429'].headers)).toEqual(expect.arrayContaining(['Retry-After', 'X-RateLimit-Reset']));
    expect(op('/v1/agents/tasks', 'get').responses['503'].headers).toHaveProperty('Retry-After');
    for (const ref of keysNamed(doc.paths, '$ref')) expect(ref).toBeTypeOf('string');
    for (const name of ['XRequestId', 'XRateLimitLimit', 'XRateLimitRemaining', 'XRateLimitReset', 'RateLimitPolicy', 'RateLimit', 'RetryAfter', 'IdempotentReplayed']) {
      expect(doc.components.headers[name], name).toMatchObject({ schema: expect.any(Object) });
    }
  });

  it('keeps the event stream a separate media type of the same response', () => {
    const created = op('/v1/reviews', 'post').responses['201'].content;
    expect(created['application/json'].schema).toEqual({ $ref: '#/components/schemas/Review' });
    expect(created['text/event-stream'].schema.type).toBe('string');
    // A feed with no JSON form answers only the event stream, with Last-Event-ID and since.
    const feed = op('/v1/agents/tasks/updates', 'get');
    expect(Object.keys(feed.responses['200'].content)).toEqual(['text/event-stream']);
    expect(feed.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['since', 'Last-Event-ID', 'agent_type', 'status']));
  });

  it('lists every webhook event payload in the webhooks section', () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
    const task = doc.webhooks['task.completed'].post.requestBody.content['application/json'].schema;
    expect(task).toEqual({ $ref: '#/components/schemas/TaskCompletedEvent' });
    const schema = doc.components.schemas.TaskCompletedEvent;
    expect(schema.properties.type).toMatchObject({ const: 'task.completed' });
    expect(schema.properties.created_at).toMatchObject({ format: 'date-time' });
    expect(schema.properties.data).toEqual({ $ref: '#/components/schemas/TaskEventData' });
  });

  it('types grant_type of the token endpoint', () => {
    const body = op('/v1/oauth/token', 'post').requestBody.content['application/x-www-form-urlencoded'].schema;
    expect(body.properties.grant_type).toEqual({ type: 'string', enum: ['client_credentials'] });
    expect(op('/v1/oauth/token', 'post').responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/OAuthToken' });
  });

  it('refers only to components it defines', () => {
    const refs = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
        if (k === '$ref') refs.add(x as string);
        else walk(x);
      }
    };
    walk(doc);
    for (const ref of refs) {
      const [, kind, name] = /^#\/components\/(\w+)\/(.+)$/.exec(ref) ?? [];
      expect(doc.components[kind]?.[name], ref).toBeDefined();
    }
  });
});

