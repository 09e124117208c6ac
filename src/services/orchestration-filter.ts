/**
 * The filter of the orchestration list (GraphQL `orchestrations(filter:)`, REST
 * `GET /v1/agents/orchestrations`): the task filter's shape where it applies.
 *
 * Indexes (see prisma/schema.prisma): the scope with the id order is served by (owner_id, id) or
 * (team_id, id); `tags` by the GIN index on tags; `search` by the trigram GIN index on goal
 * (ILIKE '%q%') OR'ed with the tags index; status and date ranges narrow the rows those yield.
 */
import type { Prisma } from '../generated/prisma/client.js';
import type { OrchestrationStatus } from '../generated/prisma/enums.js';
import type { Principal, ServiceDeps } from './deps.js';
import { listScope } from './teams.js';
import { checkListFilter, containsPattern, dateRange, type TaskFilter } from './tasks/task-filter.js';

/** What an orchestration list may be narrowed by; the fields combine with AND. */
export interface OrchestrationFilter extends Omit<TaskFilter, 'status' | 'agentType'> {
  /** Any of these statuses. */
  status?: OrchestrationStatus[];
}

/** The where-clause of an orchestration list: the caller's scope and the filter (422 when malformed). */
export async function orchestrationFilterWhere(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  filter: OrchestrationFilter,
): Promise<Prisma.OrchestrationWhereInput> {
  checkListFilter(filter);
  const where: Prisma.OrchestrationWhereInput = {
    ...(await listScope(deps, principal, filter.teamId)),
    ...(filter.status?.length ? { status: { in: filter.status } } : {}),
    ...(filter.tags?.length ? { tags: { hasEvery: filter.tags } } : {}),
  };
  const created = dateRange(filter.createdAfter, filter.createdBefore);
  if (created) where.createdAt = created;
  const finished = dateRange(filter.finishedAfter, filter.finishedBefore);
  if (finished) where.completedAt = finished;
  if (filter.search !== undefined) {
    where.OR = [{ goal: { contains: containsPattern(filter.search), mode: 'insensitive' } }, { tags: { has: filter.search.trim() } }];
  }
  return where;
}
