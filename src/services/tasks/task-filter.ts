/**
 * The filter of a task list (GraphQL `tasks(filter:)`, REST `GET /v1/agents/tasks`, bulk
 * operations): one translation into a Prisma where-clause, always inside what the caller may see.
 *
 * Indexes (see prisma/schema.prisma): the scope with the id order is served by (owner_id, id) or
 * (team_id, id), a status filter by (owner_id, status, id); `tags` by the GIN index on tags
 * (`@>`); `search` by the trigram GIN index on prompt (ILIKE '%q%') OR'ed with the tags index (a
 * search equal to a tag); agent type and date ranges narrow the rows those indexes yield.
 */
import type { Prisma } from '../../generated/prisma/client.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { ValidationError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { listScope } from '../teams.js';
import { MAX_TAGS, TAG_PATTERN } from './run-labels.js';

/** What a task list may be narrowed by; every field is optional and they combine with AND. */
export interface TaskFilter {
  /** Any of these statuses. */
  status?: TaskStatus[];
  /** Any of these agent types. */
  agentType?: string[];
  /** Every one of these tags. */
  tags?: string[];
  /** A team's tasks (the caller must belong to it) instead of the caller's personal ones. */
  teamId?: string | null;
  createdAfter?: Date;
  createdBefore?: Date;
  finishedAfter?: Date;
  finishedBefore?: Date;
  /** Text the prompt contains (case-insensitive), or a tag equal to it. */
  search?: string;
  /** Only these tasks (at most MAX_FILTER_IDS). */
  ids?: string[];
}

export const MAX_SEARCH_LENGTH = 200;
const MAX_AGENT_TYPES = 20;
export const MAX_FILTER_IDS = 100;

/** The common checks of a list filter (tags, search, ranges); a 422 naming each bad field. */
export function checkListFilter(filter: Pick<TaskFilter, 'tags' | 'search' | 'createdAfter' | 'createdBefore' | 'finishedAfter' | 'finishedBefore'> & { agentType?: string[] }, prefix = 'filter'): void {
  const errors = [];
  if (filter.tags && filter.tags.length > MAX_TAGS) errors.push({ field: `${prefix}.tags`, message: `must have at most ${MAX_TAGS} tags` });
  const badTag = filter.tags?.find((t) => !TAG_PATTERN.test(t));
  if (badTag !== undefined) errors.push({ field: `${prefix}.tags`, message: `"${badTag.slice(0, 50)}" is not a tag (1 to 40 characters of letters, digits, _ . : -)` });
  if (filter.agentType && filter.agentType.length > MAX_AGENT_TYPES) errors.push({ field: `${prefix}.agentType`, message: `must have at most ${MAX_AGENT_TYPES} agent types` });
  if (filter.search !== undefined && (filter.search.trim().length === 0 || filter.search.length > MAX_SEARCH_LENGTH)) {
    errors.push({ field: `${prefix}.search`, message: `must be 1 to ${MAX_SEARCH_LENGTH} characters` });
  }
  for (const [after, before] of [['createdAfter', 'createdBefore'], ['finishedAfter', 'finishedBefore']] as const) {
    const a = filter[after];
    const b = filter[before];
    if (a && b && a > b) errors.push({ field: `${prefix}.${after}`, message: `must not be later than ${before}` });
  }
  if (errors.length) throw new ValidationError(errors);
}

/** The checks of a task filter: those of every list filter, and at most MAX_FILTER_IDS ids. */
export function checkTaskFilter(filter: TaskFilter): void {
  checkListFilter(filter);
  if (filter.ids && filter.ids.length > MAX_FILTER_IDS) throw new ValidationError([{ field: 'filter.ids', message: `must have at most ${MAX_FILTER_IDS} ids; select fewer tasks or filter by other criteria` }]);
}

/** `text` as a LIKE pattern that matches it literally anywhere (%, _ and \ escaped). */
export function containsPattern(text: string): string {
  return text.trim().replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Date-range conditions on a column. */
export function dateRange(after: Date | undefined, before: Date | undefined): { gte?: Date; lte?: Date } | undefined {
  if (!after && !before) return undefined;
  return { ...(after ? { gte: after } : {}), ...(before ? { lte: before } : {}) };
}

/**
 * The where-clause of a task list: the caller's scope (personal tasks, or a team's with teamId,
 * which the caller must belong to) and the filter. Throws a 422 for a malformed filter and a 404
 * for a team the caller is not in.
 */
export async function taskFilterWhere(deps: Pick<ServiceDeps, 'db'>, principal: Principal, filter: TaskFilter): Promise<Prisma.AgentTaskWhereInput> {
  checkTaskFilter(filter);
  const scope = await listScope(deps, principal, filter.teamId);
  const search = filter.search === undefined ? undefined : containsPattern(filter.search);
  const where: Prisma.AgentTaskWhereInput = {
    ...scope,
    ...(filter.status?.length ? { status: { in: filter.status } } : {}),
    ...(filter.agentType?.length ? { agentType: { in: filter.agentType } } : {}),
    ...(filter.tags?.length ? { tags: { hasEvery: filter.tags } } : {}),
    ...(filter.ids?.length ? { id: { in: filter.ids } } : {}),
  };
  const created = dateRange(filter.createdAfter, filter.createdBefore);
  if (created) where.createdAt = created;
  const finished = dateRange(filter.finishedAfter, filter.finishedBefore);
  if (finished) where.completedAt = finished;
  if (search !== undefined) where.OR = [{ prompt: { contains: search, mode: 'insensitive' } }, { tags: { has: filter.search!.trim() } }];
  return where;
}
