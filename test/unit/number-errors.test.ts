import { buildSchema, execute, parse, validate, type GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { INT32_MAX, parseBoundedInt } from '../../src/bounded-int.js';
import { appErrorOf } from '../../src/graphql/format-error.js';
import { numberInputError } from '../../src/graphql/number-errors.js';
import { buildOpenApi } from '../../src/rest/openapi.js';
import { restRoutes } from '../../src/rest/v1/index.js';
import { offsetAfter } from '../../src/services/pagination.js';

const INT_MESSAGE = 'must be a whole number from -2147483648 to 2147483647';

/** The first error graphql-js gives for a document (validation) or its variables (execution), as numberInputError sees it. */
async function firstError(source: string, variableValues?: Record<string, unknown>): Promise<GraphQLError> {
  const document = parse(source);
  const invalid = validate(schema, document);
  if (invalid.length) return invalid[0];
  const result = await execute({ schema, document, variableValues, contextValue: {} });
  return result.errors![0];
}

const details = (error: unknown) => numberInputError(error)?.fieldErrors;

describe("graphql-js's own refusal of a number", () => {
  it.each([
    ['a literal argument', '{ tasks(first: 2147483648) { edges { node { id } } } }', undefined, 'first', INT_MESSAGE],
    ['a literal fraction', '{ tasks(first: 1.5) { edges { node { id } } } }', undefined, 'first', INT_MESSAGE],
    ['a literal string for an Int', '{ tasks(first: "20") { edges { node { id } } } }', undefined, 'first', INT_MESSAGE],
    [
      'a literal in an input object',
      'mutation { executeAgentTask(input: {task: "x", agentType: "security_expert", timeoutSeconds: 99999999999999999999}) { task { id } } }',
      undefined,
      'timeoutSeconds',
      INT_MESSAGE,
    ],
    [
      'a nested literal',
      'mutation { startVisualization(input: {repositoryUrl: "https://example.com/r.git", options: {maxCommits: 2147483648}}) { replayed } }',
      undefined,
      'options.maxCommits',
      INT_MESSAGE,
    ],
    ['a literal Float that is not a number', 'mutation { executeAgentTask(input: {task: "x", agentType: "a", temperature: "hot"}) { replayed } }', undefined, 'temperature', 'must be a number'],
    ['a variable used as an argument', 'query($n: Int) { tasks(first: $n) { edges { node { id } } } }', { n: 2147483648 }, 'first', INT_MESSAGE],
    [
      'a field of an input-object variable',
      'mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { replayed } }',
      { input: { task: 'x', agentType: 'security_expert', maxTokens: 1e20 } },
      'maxTokens',
      INT_MESSAGE,
    ],
    [
      'a nested field of an input-object variable',
      'mutation($input: UpgradeSubscriptionInput!) { upgradeSubscription(input: $input) { message } }',
      { input: { newTier: 'team', paymentMethod: { brand: 'visa', last4: '4242', expMonth: 1, expYear: 2147483648 } } },
      'paymentMethod.expYear',
      INT_MESSAGE,
    ],
    [
      'a variable used inside a literal object',
      'mutation($t: Int) { executeAgentTask(input: {task: "x", agentType: "a", timeoutSeconds: $t}) { replayed } }',
      { t: -2147483649 },
      'timeoutSeconds',
      INT_MESSAGE,
    ],
    ['a variable default', 'query($n: Int = 2147483648) { tasks(first: $n) { edges { node { id } } } }', undefined, 'n', INT_MESSAGE],
  ])('%s: names the field', async (_name, source, variables, field, message) => {
    const error = await firstError(source, variables);
    expect(details(error)).toEqual([{ field, message }]);
    expect(appErrorOf(error)).toMatchObject({ code: 'validation_error', status: 422 });
  });

  it('names the variable when it is used in several places', async () => {
    const error = await firstError('query($n: Int) { a: tasks(first: $n) { edges { node { id } } } b: tasks(last: $n) { edges { node { id } } } }', { n: 2 ** 40 });
    expect(details(error)).toEqual([{ field: 'n', message: INT_MESSAGE }]);
  });

  it('leaves a resolver result that does not fit Int alone: that is a server error, not the caller’s', async () => {
    const small = buildSchema('type Query { big: Int }');
    const result = await execute({ schema: small, document: parse('{ big }'), rootValue: { big: 2 ** 31 } });
    expect(result.errors![0].message).toMatch(/^Int cannot represent/);
    expect(numberInputError(result.errors![0])).toBeNull();
  });

  it('leaves other input errors alone', async () => {
    const error = await firstError('mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { replayed } }', { input: { task: 1, agentType: 'a' } });
    expect(numberInputError(error)).toBeNull();
  });
});

describe('parseBoundedInt', () => {
  it.each([
    ['0', 0],
    ['2147483647', INT32_MAX],
    ['2147483648', null],
    ['99999999999999999999', null],
    ['-1', null],
    ['1e3', null],
    ['0x10', null],
    [' 5', null],
    ['', null],
    ['1.0', null],
  ])('%j → %s', (text, expected) => expect(parseBoundedInt(text, 0, INT32_MAX)).toBe(expected));
});

describe('offset cursors', () => {
  it('read o:<n> up to the 32-bit range and refuse the rest under the parameter’s name', () => {
    expect(offsetAfter('o:0', 'after')).toBe(1);
    expect(offsetAfter(`o:${INT32_MAX - 1}`, 'after')).toBe(INT32_MAX);
    for (const bad of [`o:${INT32_MAX}`, 'o:99999999999999999999', 'o:-1', 'o:abc', 'o:', 'x:1', '1']) {
      expect(() => offsetAfter(bad, 'after'), bad).toThrow(expect.objectContaining({ code: 'validation_error', fieldErrors: [{ field: 'after', message: 'must be a cursor from a previous page' }] }));
    }
  });
});

describe('the OpenAPI document', () => {
  const doc = buildOpenApi(restRoutes, 'http://localhost', 'test') as any;
  const body = (path: string, method = 'post') => doc.paths[path][method].requestBody.content['application/json'].schema;
  const param = (path: string, name: string) => doc.paths[path].get.parameters.find((p: any) => p.name === name).schema;
  const range = (s: any) => {
    const int = s.anyOf ? s.anyOf.find((x: any) => x.type === 'integer') : s;
    return [int.type, int.minimum, int.maximum];
  };

  it('declares the range of every whole number a caller sends', () => {
    expect(range(body('/v1/agents/execute').properties.timeout_seconds)).toEqual(['integer', 1, INT32_MAX]);
    expect(range(body('/v1/agents/execute').properties.max_tokens)).toEqual(['integer', 1, 200_000]);
    expect(range(body('/v1/agents/orchestrate').properties.timeout_seconds)).toEqual(['integer', 1, INT32_MAX]);
    expect(range(body('/v1/visualize/repository').properties.options.properties.max_commits)).toEqual(['integer', 1, 50_000]);
    expect(range(body('/v1/visualize/{visualization_id}/share').properties.expires_in_days)).toEqual(['integer', 1, 365]);
    const card = body('/v1/subscription/upgrade').properties.payment_method.properties;
    expect(range(card.exp_month)).toEqual(['integer', 1, 12]);
    expect(range(card.exp_year)).toEqual(['integer', 2000, 2100]);
    expect(range(body('/v1/generations/scaffold').properties.options.properties.port)).toEqual(['integer', 1, 65_535]);
    expect(range(param('/v1/agents/tasks', 'limit'))).toEqual(['integer', 1, 100]);
    expect(range(param('/v1/visualize/{visualization_id}/commits', 'offset'))).toEqual(['integer', 0, INT32_MAX]);
    expect(range(param('/v1/visualize/{visualization_id}/commits', 'limit'))).toEqual(['integer', 1, 10_000]);
    expect(range(param('/v1/projects/{project_id}/index/events', 'since'))).toEqual(['integer', 0, INT32_MAX]);
    expect(range(param('/v1/projects/{project_id}/search', 'limit'))).toEqual(['integer', 1, 50]);
    expect(range(doc.paths['/v1/chat'].post.requestBody.content['application/json'].schema.properties.max_tokens)).toEqual(['integer', 1, 32_000]);
  });

  it('declares Last-Event-ID on the routes that stream', () => {
    const header = doc.paths['/v1/reviews/{review_id}'].get.parameters.find((p: any) => p.name === 'Last-Event-ID');
    expect(header).toMatchObject({ in: 'header', required: false, schema: { type: 'integer', minimum: 0, maximum: INT32_MAX } });
  });
});
