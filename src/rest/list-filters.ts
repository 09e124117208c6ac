/**
 * The REST query parameters of the task and orchestration lists (the GraphQL filter's fields in
 * snake_case): `status` and `agent_type` (comma lists or repeated), `tag` (repeated or comma
 * list: every one), `team_id`, `created_after`, `created_before`, `finished_after`,
 * `finished_before` (ISO 8601 date or timestamp) and `q` (text search). Values are checked by
 * the service, which answers the same 422 as for GraphQL.
 */
import { z } from 'zod';
import { isDateOrDateTime } from '../services/dates.js';

/** A parameter given once as a comma list, or repeated: the list of its values. */
function listParam<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v: unknown): unknown[] =>
      (Array.isArray(v) ? (v as unknown[]) : [v])
        .flatMap((s): unknown[] => (typeof s === 'string' ? s.split(',') : [s]))
        .map((s) => (typeof s === 'string' ? s.trim() : s))
        .filter((s) => s !== ''),
    z.array(item),
  );
}

const dateParam = z.string().refine(isDateOrDateTime, 'must be an ISO 8601 date or timestamp, e.g. 2025-11-01 or 2025-11-01T15:30:00Z');

/** A `status` parameter: any of `statuses`, comma-separated or repeated. */
export function statusParam<const S extends readonly [string, ...string[]]>(statuses: S) {
  return listParam(z.enum(statuses, { message: `must be one or more of ${statuses.join(', ')} (comma-separated or repeated)` })).optional().describe('Any of these statuses (comma-separated or repeated).');
}

/** The filter parameters shared by both lists, with the statuses each list knows. */
export function listFilterQuery<const S extends readonly [string, ...string[]]>(statuses: S) {
  return {
    status: statusParam(statuses),
    tag: listParam(z.string()).optional().describe('Every one of these tags (repeated or comma-separated).'),
    team_id: z.string().optional().describe("A team's items (you must belong to it) instead of your personal ones."),
    created_after: dateParam.optional().describe('Created on or after (a date alone: from the start of that day, UTC).'),
    created_before: dateParam.optional().describe('Created on or before (a date alone: to the end of that day, UTC).'),
    finished_after: dateParam.optional().describe('Finished on or after.'),
    finished_before: dateParam.optional().describe('Finished on or before.'),
    q: z.string().optional().describe('Text search: the prompt (or goal) contains it, case-insensitive, or a tag equals it; 1 to 200 characters.'),
  };
}

/** The task list's parameters: the shared ones and `agent_type`. */
export const taskFilterQuery = {
  ...listFilterQuery(['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const),
  agent_type: listParam(z.string()).optional().describe('Any of these agent types (comma-separated or repeated).'),
};

/** The shared parameters as GraphQL filter fields (statuses upper-cased). */
export function filterVariables<S extends string>(q: {
  status?: S[];
  tag?: string[];
  team_id?: string;
  created_after?: string;
  created_before?: string;
  finished_after?: string;
  finished_before?: string;
  q?: string;
}) {
  return {
    status: q.status?.length ? q.status.map((s) => s.toUpperCase() as Uppercase<S>) : null,
    tags: q.tag?.length ? q.tag : null,
    teamId: q.team_id ?? null,
    createdAfter: q.created_after ?? null,
    createdBefore: q.created_before ?? null,
    finishedAfter: q.finished_after ?? null,
    finishedBefore: q.finished_before ?? null,
    search: q.q ?? null,
  };
}
