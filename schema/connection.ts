// A service page as a Relay connection (cursor = the node's id, which is k-sortable).
import type { Page } from '../src/services/pagination.js';

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
