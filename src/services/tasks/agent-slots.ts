/**
 * Parallel agents per account (the plan's "parallel agents": free 1, pro 10, team 50). A task
 * takes a slot before its agent starts; tasks beyond the limit stay `queued`, in submission order
 * (their ids are k-sortable: earlier tasks have the first claim on free slots), and start as slots
 * free; the task workflow retries on a durable timer. A slot is the task's `slot_taken` flag while
 * it is queued or running (it stays queued until its agent starts, which waits for a worker on its
 * queue), taken under a PostgreSQL advisory lock per account, so the limit holds with any number
 * of gateways and workers. A task's time limit starts when it gets its slot.
 */
import { coalescing, perClient } from '../../db/coalesce.js';
import type { ServiceDeps } from '../deps.js';
import { limitsOf, planOf, PLANS } from '../limits/plans.js';
import { emitTaskEvent } from './task-events.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;

export type SlotAttempt = { state: 'acquired' } | { state: 'gone' } | { state: 'waiting'; position: number; limit: number };

/** Tier → parallel agents, for the database function (an account_limits override wins there). */
const PLAN_AGENTS = JSON.stringify(Object.fromEntries(Object.values(PLANS).map((p) => [p.tier, p.parallelAgents])));

/**
 * Per database client, this process's slot attempts gathered into one statement (the 50 agents of
 * an orchestration ask at once): `acquire_agent_slot` for each task, by account then submission
 * order, so every account's lock is taken in one order and earlier tasks keep the first claim.
 * A task not found answers -1 (gone), as the function does.
 */
const attempts = perClient((db: Deps['db']) => coalescing<string, number>((taskIds) => slotAttempts(db, taskIds)));

/** `acquire_agent_slot` for each task, in one statement; results in the order of `taskIds`. */
async function slotAttempts(db: Pick<Deps['db'], '$queryRaw'>, taskIds: readonly string[]): Promise<number[]> {
  const rows = await db.$queryRaw<{ id: string; result: number }[]>`
    SELECT s.id, acquire_agent_slot(s.id, ${PLAN_AGENTS}::jsonb) AS result
    FROM (SELECT id FROM agent_tasks WHERE id = ANY(${[...new Set(taskIds)]}::text[]) ORDER BY owner_id, id OFFSET 0) s`;
  const results = new Map(rows.map((r) => [r.id, Number(r.result)]));
  return taskIds.map((id) => results.get(id) ?? -1);
}

/**
 * Takes slots for tasks just stored, inside the transaction that stores them (a parallel
 * orchestration's model agents, so that its workflow starts their wave at once): the ids that got
 * one. The others try again from their workflow, as any task does.
 */
export async function takeSlotsAtSubmission(tx: Pick<Deps['db'], '$queryRaw'>, taskIds: string[]): Promise<Set<string>> {
  if (!taskIds.length) return new Set();
  const results = await slotAttempts(tx, taskIds);
  return new Set(taskIds.filter((_, i) => results[i] === 0));
}

/**
 * Takes a slot for the task if one is free and no earlier task of the account is waiting: a call
 * of the `acquire_agent_slot` database function (see its migration), so the account's lock is held
 * for microseconds, not for a round trip per query.
 */
export async function tryAcquireSlot(deps: Deps, taskId: string): Promise<SlotAttempt> {
  const result = await attempts(deps.db).load(taskId);
  if (result < 0) return { state: 'gone' };
  if (result === 0) return { state: 'acquired' };
  const limit = await parallelAgentsOf(deps, taskId);
  // One event per position, so a subscriber sees the queue move and a retried attempt adds nothing.
  await emitTaskEvent(deps, taskId, 'progress', `waiting:${result}`, {
    status: 'queued',
    progress: 0,
    message: `Waiting for an agent slot: position ${result} (your plan runs ${limit} at a time)`,
    queuePosition: result,
  });
  return { state: 'waiting', position: result, limit };
}

async function parallelAgentsOf(deps: Pick<ServiceDeps, 'db'>, taskId: string): Promise<number> {
  const task = await deps.db.agentTask.findUniqueOrThrow({ where: { id: taskId }, select: { ownerId: true, owner: { select: { tier: true } } } });
  return (await limitsOf(deps.db, task.ownerId, task.owner.tier)).parallelAgents;
}

type QueuedTask = { id: string; ownerId: string; status: string; slotTaken: boolean };

/** The place of a queued task in its account's line (1 = starts when the next slot frees), or null when not waiting. */
export async function queuePosition(deps: Pick<ServiceDeps, 'db'>, task: QueuedTask): Promise<number | null> {
  return (await queuePositions(deps, [task]))[0]!;
}

/**
 * `queuePosition` of each task, in one statement for the whole page: the slots its account holds,
 * its account's waiting tasks submitted before it, and its account's parallel-agent limit.
 */
export async function queuePositions(deps: Pick<ServiceDeps, 'db'>, tasks: readonly QueuedTask[]): Promise<Array<number | null>> {
  const waiting = tasks.filter((t) => t.status === 'queued' && !t.slotTaken).map((t) => t.id);
  if (!waiting.length) return tasks.map(() => null);
  const rows = await deps.db.$queryRaw<{ id: string; held: bigint; ahead: bigint; tier: string; parallel_agents: number | null }[]>`
    SELECT t.id, u.tier, l.parallel_agents,
      (SELECT count(*) FROM agent_tasks h WHERE h.owner_id = t.owner_id AND h.status IN ('queued', 'running') AND h.slot_taken) AS held,
      (SELECT count(*) FROM agent_tasks a WHERE a.owner_id = t.owner_id AND a.status = 'queued' AND NOT a.slot_taken AND a.id < t.id) AS ahead
    FROM agent_tasks t JOIN users u ON u.id = t.owner_id LEFT JOIN account_limits l ON l.user_id = t.owner_id
    WHERE t.id = ANY(${waiting})`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return tasks.map((t) => {
    const row = t.status === 'queued' && !t.slotTaken ? byId.get(t.id) : undefined;
    if (!row) return null;
    const parallelAgents = row.parallel_agents ?? planOf(row.tier).parallelAgents;
    // Same rule as acquire_agent_slot: earlier tasks take the free slots first.
    return Math.max(1, Number(row.held) + Number(row.ahead) - parallelAgents + 1);
  });
}
