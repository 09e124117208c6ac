import { buildSchema, Kind, parse, type FragmentDefinitionNode, type GraphQLObjectType, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { operationCost } from '../../src/graphql/cost.js';

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
    expect(cost('{ viewer { id name } }')).toEqual({ cost: 1, depth: 1 });
    expect(cost('{ viewer { id } a: viewer { id } }')).toEqual({ cost: 2, depth: 1 });
  });

  it('charges a connection 1 per started 20 items, from literals or variables, default 20', () => {
    expect(cost('{ tasks { edges { node { id } } } }').cost).toBe(1);
    expect(cost('{ tasks(first: 21) { edges { node { id } } } }').cost).toBe(2);
    expect(cost('query($n: Int) { tasks(last: $n) { edges { node { id } } } }', { n: 100 }).cost).toBe(5);
  });

  it('measures depth as the deepest selection level', () => {
    expect(cost('{ teams(first: 100) { edges { node { id members { role } } } } }')).toEqual({ cost: 5, depth: 4 });
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
    (toy.getType('Repo') as GraphQLObjectType).getFields().analysis!.extensions = { cost: 3 };
    const doc = parse('{ repos(first: 10) { edges { node { name analysis commits(first: 40) { edges { node { sha } } } } } } }');
    // repos: 1 (10 items) + 10 × (analysis 3 + commits 2 (40 items) + 40 × 0)
    expect(operationCost(toy, doc.definitions[0] as OperationDefinitionNode, {}).cost).toBe(1 + 10 * (3 + 2));
  });

  it('counts fragments where they are spread, and ignores introspection', () => {
    const q = `query { tasks(first: 40) { ...Page } __typename } fragment Page on TaskConnection { edges { node { id } } }`;
    expect(cost(q)).toEqual({ cost: 2, depth: 3 });
  });

  it('honours a field that declares its own cost (plan and usage reads are free)', () => {
    expect(cost('{ usage { creditsUsed } rateLimit { used } }').cost).toBe(0);
  });
});
