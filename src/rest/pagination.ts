/** Cursor pagination for REST lists: limit, starting_after, ending_before → has_more and cursors. */
import { z } from 'zod';
import { boundedIntParam } from '../bounded-int.js';
import type { IdKind } from '../ids.js';
import { cursorProblem } from '../services/pagination.js';

/** A page cursor of a list of `kind`: refused here, under the parameter's own name, when it is not one. */
const cursor = (kind: IdKind) =>
  z.string().superRefine((value, ctx) => {
    const problem = cursorProblem(value, kind);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** The query parameters of a list endpoint of `kind` with the resource's maximum page size. */
export function listQuery(max: number, kind: IdKind) {
  return z.object({
    limit: boundedIntParam(1, max).optional().describe(`Page size, 1 to ${max} (default 20).`),
    starting_after: cursor(kind).optional().describe('An id from the previous page: items after it.'),
    ending_before: cursor(kind).optional().describe('An id from the next page: items before it.'),
  });
}

export function listResponse<I extends z.ZodType>(item: I) {
  return z.object({
    object: z.literal('list'),
    data: z.array(item),
    has_more: z.boolean(),
    next_cursor: z.string().nullable().describe('Pass as starting_after for the next page; null on the last page.'),
    previous_cursor: z.string().nullable().describe('Pass as ending_before for the previous page.'),
    url: z.string(),
  });
}

/** Relay arguments for a REST page request. */
export function pageVariables(q: { limit?: number; starting_after?: string; ending_before?: string }) {
  if (q.ending_before && !q.starting_after) return { last: q.limit ?? 20, before: q.ending_before };
  return { first: q.limit ?? 20, after: q.starting_after ?? null };
}

/** A Relay connection as a REST list. */
export function pageReply<N, T>(
  connection: { edges: Array<{ node: N }>; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } },
  toJson: (node: N) => T,
  url: string,
  q: { ending_before?: string; starting_after?: string },
) {
  const backwards = Boolean(q.ending_before && !q.starting_after);
  const { pageInfo } = connection;
  return {
    object: 'list' as const,
    data: connection.edges.map((e) => toJson(e.node)),
    has_more: backwards ? pageInfo.hasPreviousPage : pageInfo.hasNextPage,
    next_cursor: pageInfo.hasNextPage ? pageInfo.endCursor : null,
    previous_cursor: pageInfo.hasPreviousPage ? pageInfo.startCursor : null,
    url,
  };
}
