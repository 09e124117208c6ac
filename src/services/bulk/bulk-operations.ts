/**
 * Bulk operations: cancel or rerun every task matching a filter. The matching ids are counted and
 * snapshot when the operation starts (tasks created later are not swept in), at most
 * BULK_MAX_TASKS of them (a setting); the operation is charged per matched item at the unit cost of its
 * action before anything runs; then bulkOperationWorkflow works through the ids in batches,
 * recording progress and a final summary, each as an event of the operation's stream.
 */
import type { BulkOperation, Prisma } from '../../generated/prisma/client.js';
import { AppError, NotFoundError, ValidationError } from '../../errors.js';
import { appendEvent, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import { idKind, newId } from '../../ids.js';
import { metrics } from '../../metrics.js';
import { bulkOperationWorkflow } from '../../../workflows/bulk-operation.js';
import { InsufficientCreditsError } from '../limits/limiter.js';
import { start, startForRow } from '../../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { canSee, requireTeamRole } from '../teams.js';
import { cancelTask } from '../tasks/cancel-task.js';
import type { TaskStartDeps } from '../tasks/execute-task.js';
import { rerunTask } from '../tasks/rerun-task.js';
import { taskFilterWhere, type TaskFilter } from '../tasks/task-filter.js';

export const BULK_ACTIONS = ['cancel', 'rerun'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** Tasks handled per activity call (one progress event each). */
export const BULK_BATCH_SIZE = 25;
/** Credits per matched task: what cancelling or submitting one task costs on its own. */
export const BULK_UNIT_COST: Record<BulkAction, number> = { cancel: 1, rerun: 1 };

export interface BulkProgress {
  status: 'running' | 'completed' | 'failed';
  matched: number;
  processed: number;
  succeeded: number;
  skipped: number;
  failed: number;
}

export type BulkEvent = StoredEvent<BulkProgress> & { type: 'progress' | 'completed' };

const CRITERIA = ['status', 'agentType', 'tags', 'createdAfter', 'createdBefore', 'finishedAfter', 'finishedBefore', 'search', 'ids'] as const;

/** The filter as stored and compared for idempotency: dates as ISO strings, empty criteria left out. */
function storedFilter(filter: TaskFilter): Prisma.InputJsonObject {
  const out: Record<string, Prisma.InputJsonValue> = {};
  for (const [k, v] of Object.entries(filter)) {
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0) || v === '') continue;
    out[k] = v instanceof Date ? v.toISOString() : (v as Prisma.InputJsonValue);
  }
  return out;
}

/**
 * Starts a bulk operation over the caller's tasks (or a team's, for its members). The filter must
 * name at least one criterion besides the team, so an empty filter cannot sweep up every task.
 */
export async function startBulkOperation(
  deps: ServiceDeps,
  principal: Principal,
  input: { action: string; filter: TaskFilter },
  idempotencyKey?: string | null,
): Promise<{ id: string; replayed: boolean }> {
  const action = input.action.toLowerCase();
  if (!(BULK_ACTIONS as readonly string[]).includes(action)) {
    throw new ValidationError([{ field: 'action', message: `must be one of: ${BULK_ACTIONS.join(', ')}` }]);
  }
  const filter = storedFilter(input.filter);
  if (!CRITERIA.some((c) => c in filter)) {
    throw new ValidationError([{ field: 'filter', message: `must name at least one of ${CRITERIA.join(', ')} (to act on every task, filter by status)` }]);
  }
  const where = await taskFilterWhere(deps, principal, input.filter);
  const teamId = typeof where.teamId === 'string' ? where.teamId : null;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'startBulkOperation', request: { action, filter } },
    async () => {
      const max = deps.config.BULK_MAX_TASKS;
      const rows = await deps.db.agentTask.findMany({ where, select: { id: true }, orderBy: { id: 'asc' }, take: max + 1 });
      if (rows.length > max) {
        const count = await deps.db.agentTask.count({ where });
        throw new ValidationError([
          { field: 'filter', message: `matches ${count} tasks; a bulk operation covers at most ${max} (BULK_MAX_TASKS): narrow it (status, agentType, a date range) and run several` },
        ]);
      }
      const credits = rows.length * BULK_UNIT_COST[action as BulkAction];
      await chargeBulk(deps, principal, credits, rows.length, action);
      const id = newId('bulkOperation');
      await deps.db.bulkOperation.create({
        data: { id, ownerId: principal.userId, teamId, action, filter: filter, principal: { ...principal }, taskIds: rows.map((r) => r.id), creditsCharged: credits },
      });
      await emitBulkEvent(deps, id, 'progress', 'started', { status: 'running', matched: rows.length, processed: 0, succeeded: 0, skipped: 0, failed: 0 });
      const undo = async () => {
        await deps.db.event.deleteMany({ where: { streamId: id } });
        await deps.db.eventStream.deleteMany({ where: { id } });
        await deps.db.bulkOperation.delete({ where: { id } });
      };
      await startForRow(deps, { id, what: 'the bulk operation was not started', undo }, () =>
        start(deps, bulkOperationWorkflow, {
          workflowId: id,
          args: [{ operationId: id, batches: Math.ceil(rows.length / BULK_BATCH_SIZE) }],
          index: { accountId: principal.userId, teamId, resourceId: id },
        }),
      );
      metrics.bulkStarted.inc({ action });
      return id;
    },
  );
  return { id: resourceId, replayed };
}

/** Charges the matched items, or refuses with what it would cost and what remains. */
async function chargeBulk(deps: ServiceDeps, principal: Principal, credits: number, items: number, action: string) {
  try {
    await deps.limiter.chargeCredits(principal, credits, 'startBulkOperation');
  } catch (err) {
    if (!(err instanceof InsufficientCreditsError)) throw err;
    const details = err.details as { requests_used: number; requests_limit: number };
    const left = Math.max(0, details.requests_limit - details.requests_used);
    throw new AppError(
      'insufficient_credits',
      402,
      `The bulk operation costs ${credits} credits (${items} tasks to ${action} at ${BULK_UNIT_COST[action as BulkAction]} each); ${left} remain this month. Narrow the filter or upgrade.`,
      { ...details, cost: credits },
      err.headers,
    );
  }
}

/** The operation if the caller may see it (its owner, or a member of the team whose tasks it covers); else 404. */
export async function getBulkOperation(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<BulkOperation> {
  const op = idKind(id) === 'bulkOperation' ? await deps.db.bulkOperation.findUnique({ where: { id } }) : null;
  if (!op || !(await canSee(deps, principal, op))) throw new NotFoundError('bulk operation', id);
  return op;
}

async function emitBulkEvent(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, type: BulkEvent['type'], key: string, data: BulkProgress) {
  return appendEvent(deps.db, deps.bus, { streamId: id, type, key, data: { ...data } });
}

const progressOf = (op: BulkOperation): BulkProgress => ({
  status: op.status as BulkProgress['status'],
  matched: op.taskIds.length,
  processed: op.processed,
  succeeded: op.succeeded,
  skipped: op.skipped,
  failed: op.failed,
});

/**
 * Handles one batch of the snapshot as the operation's caller: cancelling a task that already
 * finished counts as skipped; anything refused counts as failed. A retried batch that was already
 * recorded does nothing; a rerun uses an idempotency key per task, so a retry never starts two.
 */
export async function processBulkBatch(deps: TaskStartDeps, input: { operationId: string; batch: number }): Promise<void> {
  const op = await deps.db.bulkOperation.findUniqueOrThrow({ where: { id: input.operationId } });
  const offset = input.batch * BULK_BATCH_SIZE;
  if (op.processed > offset) return;
  const principal = op.principal as unknown as Principal;
  const ids = op.taskIds.slice(offset, offset + BULK_BATCH_SIZE);
  const counts = { succeeded: 0, skipped: 0, failed: 0 };
  for (const taskId of ids) {
    try {
      if (op.action === 'cancel') await cancelTask(deps, principal, taskId);
      else await rerunTask(deps, principal, taskId, `bulk:${op.id}:${taskId}`);
      counts.succeeded++;
    } catch (err: unknown) {
      if (err instanceof AppError && (err.code === 'task_not_cancellable' || err.code === 'resource_not_found')) counts.skipped++;
      else {
        counts.failed++;
        deps.logger.warn({ reason: err instanceof Error ? err.message : String(err), operationId: op.id, taskId }, 'bulk operation: a task failed');
      }
    }
  }
  const recorded = await deps.db.bulkOperation.updateMany({
    where: { id: op.id, processed: offset },
    data: { processed: { increment: ids.length }, succeeded: { increment: counts.succeeded }, skipped: { increment: counts.skipped }, failed: { increment: counts.failed } },
  });
  if (recorded.count === 0) return;
  for (const [outcome, count] of Object.entries(counts)) if (count) metrics.bulkItems.inc({ action: op.action, outcome }, count);
  const now = await deps.db.bulkOperation.findUniqueOrThrow({ where: { id: op.id } });
  await emitBulkEvent(deps, op.id, 'progress', `batch:${input.batch}`, progressOf(now));
}

/** Ends the operation with its summary event (the stream's last). */
export async function finishBulkOperation(deps: Pick<ServiceDeps, 'db' | 'bus'>, input: { operationId: string }): Promise<void> {
  const ended = await deps.db.bulkOperation.updateMany({ where: { id: input.operationId, status: 'running' }, data: { status: 'completed', completedAt: new Date() } });
  const op = await deps.db.bulkOperation.findUniqueOrThrow({ where: { id: input.operationId } });
  // Counted once: a retried activity finds it ended already.
  if (ended.count === 1) {
    const labels = { action: op.action, state: op.status };
    metrics.bulkFinished.inc(labels);
    metrics.bulkRunTime.observe(labels, ((op.completedAt ?? new Date()).getTime() - op.createdAt.getTime()) / 1000);
  }
  await emitBulkEvent(deps, op.id, 'completed', 'terminal', progressOf(op));
}

/** The operation's progress events after `since`, then live ones until its summary. */
export function streamBulkEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, since: number, signal?: AbortSignal) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: id, since, isTerminal: (e) => e.type === 'completed', signal }) as AsyncGenerator<BulkEvent>;
}
