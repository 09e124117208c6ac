// A service page as a Relay connection (cursor = the node's id, which is k-sortable).
import type { Page } from '../src/services/pagination.js';
import type { BuilderTypes } from './builder.js';

export function connectionOf<T extends { id: string }>(page: Page<T>) {
  return {
    edges: page.nodes.map((node) => ({ node, cursor: node.id })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: page.nodes[0]?.id ?? null,
      endCursor: page.nodes.at(-1)?.id ?? null,
    },
  };
}

/** What a counted connection carries besides its page: the count of every match, run only when asked for. */
interface Counted {
  count: () => Promise<number>;
}

/** A page with its count as a connection whose type comes from `countedConnection`. */
export function countedConnectionOf<T extends { id: string }>(page: Page<T> & Counted) {
  return { ...connectionOf(page), count: page.count };
}

/**
 * The options of a connection type `name` with `totalCount`: the `items` matching the scope and
 * filter, all pages together (one count query, 1 credit). Its resolver returns `countedConnectionOf`.
 */
export function countedConnection(name: string, items: string) {
  return {
    name,
    fields: (c: PothosSchemaTypes.ObjectFieldBuilder<BuilderTypes, object>) => ({
      totalCount: c.int({
        description: `${items} matching the scope and filter, all pages together (one count query: 1 credit).`,
        extensions: { cost: 1 },
        resolve: (connection) => (connection as Counted).count(),
      }),
    }),
  };
}
