/** Reading tasks: one by id (the owner's, or a team's for its members) and cursor-paginated lists. */
import type { AgentTask } from '../../generated/prisma/client.js';
import { NotFoundError } from '../../errors.js';
import { idKind } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { paginate, type PageArgs } from '../pagination.js';
import { canSee } from '../teams.js';
import { taskFilterWhere, type TaskFilter } from './task-filter.js';

export const TASK_PAGE_MAX = 100;

/**
 * The task if the caller may see it: a personal task of theirs, or a task of a team they belong to.
 * Otherwise 404, so ids cannot be probed.
 */
export async function getTask(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<AgentTask> {
  const task = idKind(id) === 'task' ? await deps.db.agentTask.findUnique({ where: { id } }) : null;
  if (!task || !(await canSee(deps, principal, task))) throw new NotFoundError('task', id);
  return task;
}

/**
 * The caller's personal tasks, or a team's with `filter.teamId`, narrowed by the filter; newest
 * first. `count` counts every task the same scope and filter match (run only when asked for).
 */
export async function listTasks(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { filter?: TaskFilter }) {
  const where = await taskFilterWhere(deps, principal, args.filter ?? {});
  const page = await paginate(args, TASK_PAGE_MAX, 'task', (cursor, order, take) =>
    deps.db.agentTask.findMany({ where: { AND: [where, cursor] }, orderBy: { id: order }, take }),
  );
  return { ...page, count: () => deps.db.agentTask.count({ where }) };
}
