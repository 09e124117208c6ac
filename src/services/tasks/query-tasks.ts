/** Reading tasks: one by id (the owner's, or a team's for its members) and cursor-paginated lists. */
import DataLoader from 'dataloader';
import type pg from 'pg';
import { poolOf, poolRows } from '../../db/client.js';
import { perClient } from '../../db/coalesce.js';
import { Prisma, type AgentTask } from '../../generated/prisma/client.js';
import { NotFoundError } from '../../errors.js';
import { idKind } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { paginate, type PageArgs, type PageQuery } from '../pagination.js';
import { canSee } from '../teams.js';
import { taskFilterWhere, type TaskFilter } from './task-filter.js';

export const TASK_PAGE_MAX = 100;

/**
 * The hot reads (a task by id, a page of a plain list) run one statement straight on the pool:
 * Prisma's client costs more per call than the statement itself. Every column of the model, named
 * as Prisma names it (each column is its field's name in snake_case), so the row is the
 * `AgentTask` Prisma would return (pg parses json, timestamptz, float8 and text[] the same way).
 */
export const TASK_COLUMNS = taskColumns(Object.values(Prisma.AgentTaskScalarFieldEnum));

/**
 * A task as the reads return it: every column but `input`, the context submitted (its files can
 * weigh megabytes, and no read shows them; a rerun reads them on its own).
 */
export type TaskRow = Omit<AgentTask, 'input'>;
const READ_COLUMNS = taskColumns(Object.values(Prisma.AgentTaskScalarFieldEnum).filter((field) => field !== 'input'));

/** The select list of `fields` of a task row `t`, each named as Prisma names it. */
export function taskColumns(fields: ReadonlyArray<keyof AgentTask>): string {
  return fields.map((field) => `t.${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} AS "${field}"`).join(', ');
}

/**
 * What `canSee` decides, as SQL over `t` ($2 the caller, $3 the team a credential is bound to): a
 * personal task of the caller's (not through a team-bound credential), or a task of a team the
 * caller belongs to (viewer, the lowest role, is enough to read).
 */
const VISIBLE_TO_CALLER = `((t.team_id IS NULL AND t.owner_id = $2 AND $3::text IS NULL)
  OR (t.team_id IS NOT NULL AND ($3::text IS NULL OR t.team_id = $3::text)
      AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.team_id AND m.user_id = $2)))`;

/**
 * The task if the caller may see it: a personal task of theirs, or a task of a team they belong to.
 * Otherwise 404, so ids cannot be probed.
 */
export async function getTask(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<TaskRow> {
  if (idKind(id) !== 'task') throw new NotFoundError('task', id);
  const pool = poolOf(deps.db);
  if (pool) return taskReads(pool).load({ id, userId: principal.userId, teamId: principal.teamId ?? null });
  const task = await deps.db.agentTask.findUnique({ where: { id }, omit: { input: true } });
  if (!task || !(await canSee(deps, principal, task))) throw new NotFoundError('task', id);
  return task;
}

interface TaskRead {
  id: string;
  userId: string;
  teamId: string | null;
}

/**
 * Reads of a task by id asked in the same turn of the event loop, on one pool, run as one statement
 * per caller (`id = ANY(…)`): under load many requests read tasks at once, and a statement for
 * twenty ids costs the database and this process little more than one for a single id. A read joins
 * a batch that has not been sent yet, never one in flight, so it sees every write that ended before
 * it was asked. Nothing is cached: each batch is its own statement.
 */
const taskReads = perClient(
  (pool: pg.Pool) => new DataLoader<TaskRead, TaskRow>((reads) => readVisible(pool, reads), { cache: false, maxBatchSize: 100, batchScheduleFn: (dispatch) => setImmediate(dispatch) }),
);

const callerKey = (read: TaskRead) => `${read.userId}\u0000${read.teamId ?? ''}`;

async function readVisible(pool: pg.Pool, reads: ReadonlyArray<TaskRead>): Promise<Array<TaskRow | Error>> {
  const byCaller = new Map<string, { read: TaskRead; ids: Set<string> }>();
  for (const read of reads) {
    const caller = callerKey(read);
    let group = byCaller.get(caller);
    if (!group) byCaller.set(caller, (group = { read, ids: new Set<string>() }));
    group.ids.add(read.id);
  }
  const found = new Map<string, TaskRow>();
  await Promise.all(
    [...byCaller].map(async ([caller, { read, ids }]) => {
      const rows = await poolRows<TaskRow>(pool, `SELECT ${READ_COLUMNS} FROM agent_tasks t WHERE t.id = ANY($1::text[]) AND ${VISIBLE_TO_CALLER}`, [[...ids], read.userId, read.teamId]);
      for (const row of rows) found.set(`${caller}\u0000${row.id}`, row);
    }),
  );
  return reads.map((read) => found.get(`${callerKey(read)}\u0000${read.id}`) ?? new NotFoundError('task', read.id));
}

/** One page of a list whose where-clause is its scope alone (a team's tasks, or the owner's personal ones), on the pool. */
async function scopePage(pool: pg.Pool, scope: { ownerId?: string; teamId?: string | null }, cursor: PageQuery, order: 'asc' | 'desc', take: number): Promise<TaskRow[]> {
  const params: unknown[] = scope.teamId ? [scope.teamId] : [scope.ownerId];
  const conditions = [scope.teamId ? 't.team_id = $1' : 't.owner_id = $1 AND t.team_id IS NULL'];
  if (cursor.id) {
    const [op, value] = 'lt' in cursor.id ? ['<', cursor.id.lt] : ['>', cursor.id.gt];
    params.push(value);
    conditions.push(`t.id ${op} $${params.length}`);
  }
  params.push(take);
  const sql = `SELECT ${READ_COLUMNS} FROM agent_tasks t WHERE ${conditions.join(' AND ')} ORDER BY t.id ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${params.length}`;
  return poolRows<TaskRow>(pool, sql, params);
}

/**
 * The caller's personal tasks, or a team's with `filter.teamId`, narrowed by the filter; newest
 * first. `count` counts every task the same scope and filter match (run only when asked for).
 */
export async function listTasks(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { filter?: TaskFilter }) {
  const where = await taskFilterWhere(deps, principal, args.filter ?? {});
  const pool = poolOf(deps.db);
  const scopeOnly = pool && Object.keys(where).every((key) => key === 'ownerId' || key === 'teamId');
  const page = await paginate(args, TASK_PAGE_MAX, 'task', (cursor, order, take) =>
    scopeOnly
      ? scopePage(pool, where as { ownerId?: string; teamId?: string | null }, cursor, order, take)
      : deps.db.agentTask.findMany({ where: { AND: [where, cursor] }, orderBy: { id: order }, take, omit: { input: true } }),
  );
  return { ...page, count: () => deps.db.agentTask.count({ where }) };
}
