/** Reading tasks: one by id (only the owner's) and cursor-paginated lists. */
import type { AgentTask } from '../../generated/prisma/client.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { idKind } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';

export const TASK_PAGE_MAX = 100;
export const TASK_PAGE_DEFAULT = 20;

/** The caller's task, or 404 (also for another tenant's id, so ids cannot be probed). */
export async function getTask(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<AgentTask> {
  const task = idKind(id) === 'task' ? await deps.db.agentTask.findUnique({ where: { id } }) : null;
  if (!task || task.ownerId !== principal.userId) throw new NotFoundError('task', id);
  return task;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Page<T> {
  nodes: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** Checks page arguments against a resource's maximum page size. */
export function checkPageArgs(args: PageArgs, max: number, cursorKind: string): void {
  const errors = [];
  for (const name of ['first', 'last'] as const) {
    const v = args[name];
    if (v != null && (!Number.isInteger(v) || v < 1 || v > max)) errors.push({ field: name, message: `must be between 1 and ${max}` });
  }
  for (const name of ['after', 'before'] as const) {
    const v = args[name];
    if (v != null && idKind(v) !== cursorKind) errors.push({ field: name, message: `must be a ${cursorKind} id from a previous page` });
  }
  if (args.first != null && args.last != null) errors.push({ field: 'last', message: 'cannot be combined with first' });
  if (errors.length) throw new ValidationError(errors);
}

/** The caller's tasks, newest first, `first` after a cursor or `last` before one. */
export async function listTasks(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  args: PageArgs & { status?: TaskStatus | null },
): Promise<Page<AgentTask>> {
  checkPageArgs(args, TASK_PAGE_MAX, 'task');
  const base = { ownerId: principal.userId, ...(args.status ? { status: args.status } : {}) };
  if (args.last != null || (args.before != null && args.first == null)) {
    const take = args.last ?? TASK_PAGE_DEFAULT;
    const rows = await deps.db.agentTask.findMany({
      where: { ...base, ...(args.before ? { id: { gt: args.before } } : {}) },
      orderBy: { id: 'asc' },
      take: take + 1,
    });
    return { nodes: rows.slice(0, take).reverse(), hasPreviousPage: rows.length > take, hasNextPage: args.before != null };
  }
  const take = args.first ?? TASK_PAGE_DEFAULT;
  const rows = await deps.db.agentTask.findMany({
    where: { ...base, ...(args.after ? { id: { lt: args.after } } : {}) },
    orderBy: { id: 'desc' },
    take: take + 1,
  });
  return { nodes: rows.slice(0, take), hasNextPage: rows.length > take, hasPreviousPage: args.after != null };
}
