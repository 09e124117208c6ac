/**
 * Which tasks a list, a bulk operation or a live list subscription covers. The scope is always
 * what the caller may see: their personal tasks, or a team's tasks with `teamId` (members only).
 */
import type { Prisma } from '../../generated/prisma/client.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { listScope } from '../teams.js';

export interface TaskFilter {
  status?: TaskStatus[];
  agentType?: string[];
  tags?: string[];
  teamId?: string | null;
  createdAfter?: Date;
  createdBefore?: Date;
  finishedAfter?: Date;
  finishedBefore?: Date;
  search?: string;
}

/** The Prisma condition for `filter`, scoped to what the caller may see (404 for a team they are not in). */
export async function taskFilterWhere(deps: Pick<ServiceDeps, 'db'>, principal: Principal, filter: TaskFilter): Promise<Prisma.AgentTaskWhereInput> {
  const where: Prisma.AgentTaskWhereInput = { ...(await listScope(deps, principal, filter.teamId)) };
  if (filter.status?.length) where.status = { in: filter.status };
  if (filter.agentType?.length) where.agentType = { in: filter.agentType };
  if (filter.createdAfter || filter.createdBefore) where.createdAt = { gte: filter.createdAfter, lte: filter.createdBefore };
  if (filter.finishedAfter || filter.finishedBefore) where.completedAt = { gte: filter.finishedAfter, lte: filter.finishedBefore };
  return where;
}
