/**
 * Every POST takes an Idempotency-Key, read from the route table itself, so a new POST route
 * without it fails here: the OpenAPI document lists the header and the 409 on every POST, the
 * route's GraphQL operation hands the key to its mutation and selects `replayed` (which the runner
 * turns into `Idempotent-Replayed: true`), and every GraphQL mutation takes `idempotencyKey`.
 */
import { Kind, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { buildOpenApi } from '../../src/rest/openapi.js';
import { restRoutes } from '../../src/rest/v1/index.js';

/** Routes whose answer is never replayed: tokens are issued once (a repeat is 409), and logout ends the credential a repeat would need. */
const NEVER_REPLAYED = new Set(['login', 'signup', 'refreshSession', 'logout']);

/**
 * Mutations that do not take idempotencyKey yet: the ones behind PATCH and DELETE routes (a
 * repeat of those changes nothing more, but answers 404 or 409 instead of the first result).
 * This list may only shrink.
 */
const WITHOUT_KEY_YET = [
  'cancelTask',
  'updateTeam',
  'deleteTeam',
  'revokeTeamInvitation',
  'changeTeamMemberRole',
  'removeTeamMember',
  'revokeScimToken',
  'cancelOrchestration',
  'updateProject',
  'updateReview',
  'updateWebhook',
  'revokeShare',
];

const posts = restRoutes.filter((r) => r.method === 'POST');

describe('Idempotency-Key on every POST route', () => {
  const doc = buildOpenApi(restRoutes, 'http://gateway.test', 'test') as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> }>> };

  it('finds the POST routes', () => {
    expect(posts.length).toBeGreaterThan(25);
  });

  it.each(posts.map((r) => [r.path, r] as const))('POST %s: the OpenAPI document lists Idempotency-Key and 409', (path, route) => {
    const op = doc.paths[path].post;
    expect(route.idempotent, `${route.operationId} must set idempotent: true and pass the key to its mutation`).toBe(true);
    expect(op.parameters?.some((p) => p.in === 'header' && p.name === 'Idempotency-Key')).toBe(true);
    expect(Object.keys(op.responses)).toContain('409');
  });

  it.each(posts.map((r) => [r.path, r] as const))('POST %s: its mutation gets the key and answers replayed', (_path, route) => {
    const operation = route.document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
    expect(operation.operation).toBe('mutation');
    expect(operation.variableDefinitions?.map((v) => v.variable.name.value)).toContain('idempotencyKey');
    const field = operation.selectionSet.selections.find((s): s is FieldNode => s.kind === Kind.FIELD)!;
    const arg = field.arguments?.find((a) => a.name.value === 'idempotencyKey');
    expect(arg?.value).toMatchObject({ kind: Kind.VARIABLE, name: { value: 'idempotencyKey' } });
    const selected = field.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.name.value === 'replayed') ?? false;
    expect(selected).toBe(!NEVER_REPLAYED.has(route.operationId));
    // Only the key's way through matters: the request is empty, or (for a route that needs fields) any field is a string.
    const anything = new Proxy({}, { get: (_t, name) => (name === 'then' ? undefined : 'x') });
    const variablesOf = (fields: object) => route.variables({ body: fields, query: fields, params: fields, headers: { 'idempotency-key': 'k-1' } });
    let variables: Record<string, unknown>;
    try {
      variables = variablesOf({});
    } catch {
      variables = variablesOf(anything);
    }
    expect(variables).toMatchObject({ idempotencyKey: 'k-1' });
  });
});

describe('idempotencyKey on GraphQL mutations', () => {
  const mutations = Object.values(schema.getMutationType()!.getFields());

  it('every mutation takes it, but those still listed', () => {
    const without = mutations.filter((m) => !m.args.some((a) => a.name === 'idempotencyKey')).map((m) => m.name);
    expect(without.sort()).toEqual([...WITHOUT_KEY_YET].sort());
  });

  it('every mutation behind a POST route takes it', () => {
    const behindPosts = new Set(posts.map((r) => ((r.document.definitions[0] as OperationDefinitionNode).selectionSet.selections[0] as FieldNode).name.value));
    for (const name of behindPosts) expect(WITHOUT_KEY_YET, name).not.toContain(name);
  });
});
