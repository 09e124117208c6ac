import { buildSchema, Kind, parse, type FragmentDefinitionNode, type GraphQLObjectType, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { loadConfig } from '../../src/config.js';
import { checkShape, operationCost } from '../../src/graphql/cost.js';
import { compile } from '../../src/rest/register.js';
import { restRoutes } from '../../src/rest/v1/index.js';

function cost(query: string, variables: Record<string, unknown> = {}) {
  const doc = parse(query);
  const operation = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return operationCost(schema, operation, fragments, variables);
}

describe('GraphQL operation cost', () => {
  it('charges 1 per root field and nothing for scalars below it', () => {
    expect(cost('{ viewer { id name } }')).toMatchObject({ cost: 1, rateCost: 1, depth: 1, aliases: 0 });
    expect(cost('{ viewer { id } a: viewer { id } }')).toMatchObject({ cost: 2, rateCost: 2, depth: 1, aliases: 1 });
  });

  it('charges a connection 1 per started 20 items, from literals or variables, default 20', () => {
    expect(cost('{ tasks { edges { node { id } } } }').cost).toBe(1);
    expect(cost('{ tasks(first: 21) { edges { node { id } } } }').cost).toBe(2);
    expect(cost('query($n: Int) { tasks(last: $n) { edges { node { id } } } }', { n: 100 }).cost).toBe(5);
  });

  it('measures depth as the deepest selection level', () => {
    expect(cost('{ teams(first: 100) { edges { node { id members { role } } } } }')).toMatchObject({ cost: 5, depth: 4 });
  });

  it('multiplies what is selected below a connection by its page size', () => {
    const toy = buildSchema(`
      type Query { repos(first: Int): RepoConnection }
      type RepoConnection { edges: [RepoEdge] }
      type RepoEdge { node: Repo }
      type Repo { name: String, commits(first: Int): CommitConnection, analysis: String }
      type CommitConnection { edges: [CommitEdge] }
      type CommitEdge { node: Commit }
      type Commit { sha: String }
    `);
    (toy.getType('Repo') as GraphQLObjectType).getFields().analysis.extensions = { cost: 3 };
    const doc = parse('{ repos(first: 10) { edges { node { name analysis commits(first: 40) { edges { node { sha } } } } } } }');
    // repos: 1 (10 items) + 10 × (analysis 3 + commits 2 (40 items) + 40 × 0)
    expect(operationCost(toy, doc.definitions[0] as OperationDefinitionNode, {}).cost).toBe(1 + 10 * (3 + 2));
  });

  it('counts fragments where they are spread (aliases in them too), and __typename is free', () => {
    const q = `query { tasks(first: 40) { ...Page } __typename } fragment Page on TaskConnection { edges { node { id } } }`;
    expect(cost(q)).toMatchObject({ cost: 2, depth: 3 });
    const spread = `query { a: viewer { ...V } b: viewer { ...V } } fragment V on User { x: id y: id }`;
    expect(cost(spread).aliases).toBe(2 + 2 * 2);
  });

  it('counts a field under an alias at least 1 against the windows, each time it runs', () => {
    expect(cost('{ tasks(first: 100) { edges { node { a: id b: id } } } }')).toMatchObject({ cost: 5, rateCost: 5 + 100 * 2 });
    expect(cost('{ project(id: "prj_1") { indexEvents(first: 500) { seq } } }')).toMatchObject({ cost: 1 + 25 });
  });

  it('honours a field that declares its own cost; reads free of credits still count against the windows', () => {
    expect(cost('{ usage { creditsUsed } rateLimit { used } }')).toMatchObject({ cost: 0, rateCost: 1 });
    expect(cost('{ rateLimit { used } }')).toMatchObject({ cost: 0, rateCost: 1 }); // every operation counts at least 1
    const aliased = `{ ${Array.from({ length: 1000 }, (_, i) => `u${i}: usage { creditsUsed }`).join(' ')} }`;
    expect(cost(aliased)).toMatchObject({ cost: 0, rateCost: 1000, aliases: 1000 });
  });

  it('gives introspection a cost, outside depth: __schema 5, __type 1', () => {
    expect(cost('{ __schema { types { name fields { name type { ofType { ofType { ofType { name } } } } } } } }')).toMatchObject({
      cost: 0, rateCost: 5, depth: 0, schemaIntrospections: 1,
    });
    expect(cost('{ __type(name: "Task") { name } viewer { id } }')).toMatchObject({ cost: 1, rateCost: 2 });
  });

  it('charges nodes by the ids it is given, and a search per project', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `task_${i}`);
    expect(cost('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids })).toMatchObject({ cost: 100, maxIds: 2000 });
    expect(cost('{ nodes(ids: ["task_1", "task_2"]) { id } }')).toMatchObject({ cost: 1, maxIds: 2 });
    const searches = `{ project(id: "prj_1") { ${Array.from({ length: 500 }, (_, i) => `s${i}: search(query: "x") { files { path } }`).join(' ')} } }`;
    expect(cost(searches)).toMatchObject({ cost: 501, aliases: 500 });
  });

  it('prices a share link\'s commits by the page asked for', () => {
    expect(cost('{ sharedVisualization(shareId: "shr_1") { visualization { commits(first: 10000) { edges { node { sha } } } } } }').cost).toBe(1 + 500);
  });
});

describe('the shape every operation keeps', () => {
  const limits = { maxAliases: 50, maxIds: 100 };
  const refusal = (query: string, variables: Record<string, unknown> = {}) => {
    try {
      checkShape(cost(query, variables), limits);
      return null;
    } catch (err) {
      return err as { code: string; status: number; message: string; details: unknown };
    }
  };

  it('refuses more aliases than allowed, naming the limit and the fix', () => {
    const schemas = `{ ${Array.from({ length: 300 }, (_, i) => `s${i}: __schema { types { name } }`).join(' ')} }`;
    expect(refusal(schemas)).toMatchObject({ code: 'invalid_request', status: 400, details: { limit: 'max_aliases', value: 300, max: 50 } });
    expect(refusal(schemas)!.message).toMatch(/300 fields under aliases; at most 50 .* Split it/);
    const shared = `{ ${Array.from({ length: 300 }, (_, i) => `v${i}: sharedVisualization(shareId: "shr_1") { share { id } }`).join(' ')} }`;
    expect(refusal(shared)).toMatchObject({ details: { limit: 'max_aliases', value: 300 } });
    expect(refusal(`{ ${Array.from({ length: 50 }, (_, i) => `v${i}: viewer { id }`).join(' ')} }`)).toBeNull();
  });

  it('allows one __schema per operation', () => {
    expect(refusal('{ a: __schema { queryType { name } } b: __schema { queryType { name } } }')).toMatchObject({ details: { limit: 'max_introspection', value: 2, max: 1 } });
    expect(refusal('{ __schema { queryType { name } } }')).toBeNull();
  });

  it('refuses more ids in one nodes list than allowed', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `task_${i}`);
    const refused = refusal('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids });
    expect(refused).toMatchObject({ details: { limit: 'max_ids', value: 2000, max: 100 } });
    expect(refused!.message).toMatch(/batches of 100/);
    expect(refusal('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids: ids.slice(0, 100) })).toBeNull();
  });

  it('is kept by every REST route\'s own documents with the default settings', () => {
    const config = loadConfig({});
    const shape = { maxAliases: config.GRAPHQL_MAX_ALIASES, maxIds: config.GRAPHQL_MAX_NODE_IDS };
    for (const route of restRoutes) {
      expect(() => compile(schema, route, shape)).not.toThrow();
      if (route.eventStream) expect(() => compile(schema, { ...route, document: route.eventStream!.document }, shape)).not.toThrow();
    }
    expect(() => compile(schema, { method: 'GET', path: '/v1/x', document: '{ a: viewer { id } b: viewer { id } }' }, { maxAliases: 1, maxIds: 1 })).toThrow(
      /REST route GET \/v1\/x: .*2 fields under aliases/,
    );
  });
});
