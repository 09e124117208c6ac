import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { loadConfig } from '../../src/config.js';
import { compileDocument, operationOf } from '../../src/edge/run-operation.js';
import { pathMatcher } from '../../src/edge/routes.js';

const withKey = parse('mutation($input: CreateTeamInput!, $idempotencyKey: String) { createTeam(input: $input, idempotencyKey: $idempotencyKey) { team { id } replayed } }');

describe('the operation runner', () => {
  it('passes Idempotency-Key as $idempotencyKey where the operation declares it and the variables leave it unset', () => {
    const headers = { 'idempotency-key': 'k-1' };
    expect(operationOf(withKey, { input: { name: 'x' } }, headers).variables).toEqual({ input: { name: 'x' }, idempotencyKey: 'k-1' });
    expect(operationOf(withKey, { input: { name: 'x' }, idempotencyKey: 'given' }, headers).variables.idempotencyKey).toBe('given');
    expect(operationOf(withKey, { input: { name: 'x' } }, {}).variables).toEqual({ input: { name: 'x' } });
    const without = parse('{ viewer { id } }');
    expect(operationOf(without, {}, headers).variables).toEqual({});
  });

  it('refuses at start-up a document that does not validate or breaks the shape every operation keeps', () => {
    const config = loadConfig({});
    const shape = { maxAliases: config.GRAPHQL_MAX_ALIASES, maxIds: config.GRAPHQL_MAX_NODE_IDS };
    expect(() => compileDocument(schema, '{ viewer { nope } }', 'GET /v1/x', shape)).toThrow(/GET \/v1\/x: invalid GraphQL document/);
    expect(() => compileDocument(schema, '{ a: viewer { id } b: viewer { id } }', 'GET /v1/x', { maxAliases: 1, maxIds: 1 })).toThrow(/aliases/);
  });

  it('matches a route path to its parameters', () => {
    const match = pathMatcher('/v1/agents/tasks/{task_id}/stream');
    expect(match('/v1/agents/tasks/task_1/stream')).toEqual({ task_id: 'task_1' });
    expect(match('/v1/agents/tasks/task_1/stream/x')).toBeNull();
    expect(match('/v1/agents/tasks//stream')).toBeNull();
  });
});
