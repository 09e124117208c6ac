/**
 * Every route that changes something (POST, PATCH, DELETE) takes an Idempotency-Key, read from the
 * route table itself, so a new such route without it fails here: the OpenAPI document lists the
 * header and the 409 on each, the route's GraphQL operation hands the key to its mutation and
 * selects `replayed` (which the runner turns into `Idempotent-Replayed: true`), and every GraphQL
 * mutation takes `idempotencyKey`.
 */
import { getNamedType, isObjectType, Kind, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { buildOpenApi } from '../../src/rest/openapi.js';
import { restRoutes } from '../../src/rest/v1/index.js';

/** Routes whose answer is never replayed: tokens are issued once (a repeat is 409), and logout ends the credential a repeat would need. */
const NEVER_REPLAYED = new Set(['login', 'signup', 'refreshSession', 'logout']);

const posts = restRoutes.filter((r) => r.method === 'POST');
/** Every route that changes something: POST, PATCH and DELETE. */
const changes = restRoutes.filter((r) => r.method !== 'GET');

describe('Idempotency-Key on every POST, PATCH and DELETE route', () => {
  const doc = buildOpenApi(restRoutes, 'http://gateway.test', 'test') as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> }>> };

  it('finds the POST, PATCH and DELETE routes', () => {
    expect(posts.length).toBeGreaterThan(25);
    expect(changes.filter((r) => r.method === 'PATCH').length).toBeGreaterThanOrEqual(5);
    expect(changes.filter((r) => r.method === 'DELETE').length).toBeGreaterThanOrEqual(11);
  });

  it.each(changes.map((r) => [r.method, r.path, r] as const))('%s %s: the OpenAPI document lists Idempotency-Key and 409', (method, path, route) => {
    const op = doc.paths[path][method.toLowerCase()];
    expect(route.idempotent, `${route.operationId} must set idempotent: true and pass the key to its mutation`).toBe(true);
    expect(op.parameters?.some((p) => p.in === 'header' && p.name === 'Idempotency-Key')).toBe(true);
    expect(Object.keys(op.responses)).toContain('409');
  });

  it.each(changes.map((r) => [r.method, r.path, r] as const))('%s %s: its mutation gets the key and answers replayed', (_method, _path, route) => {
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

  it('finds the mutations', () => {
    expect(mutations.length).toBeGreaterThan(40);
  });

  it('every mutation takes it, as a String', () => {
    const without = mutations.filter((m) => m.args.find((a) => a.name === 'idempotencyKey')?.type.toString() !== 'String').map((m) => m.name);
    expect(without).toEqual([]);
  });

  it('every mutation whose payload is an object answers replayed (Boolean!), but those that hand out tokens', () => {
    const withoutReplayed = mutations
      .filter((m) => !NEVER_REPLAYED.has(m.name))
      .filter((m) => {
        const payload = getNamedType(m.type);
        return !(isObjectType(payload) && payload.getFields().replayed?.type.toString() === 'Boolean!');
      })
      .map((m) => m.name);
    expect(withoutReplayed).toEqual([]);
  });
});
