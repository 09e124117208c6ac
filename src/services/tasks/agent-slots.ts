/**
 * Parallel agents per account (the plan's "parallel agents": free 1, pro 10, team 50). A task
 * takes a slot before its agent starts; tasks beyond the limit stay `queued`, in submission order
 * (their ids are k-sortable), and start as slots free. The slot is the task's `running` state, and
 * a slot is taken under a PostgreSQL advisory lock per account, so the limit holds with any number
 * of gateways and workers. A task's time limit starts when it gets its slot.
 */
import type { ServiceDeps } from '../deps.js';
import { limitsOf } from '../limits/plans.js';
import { emitTaskEvent } from './task-events.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;

export const slotChannel = (ownerId: string) => `agent-slots:${ownerId}`;

export type SlotAttempt = { state: 'acquired' } | { state: 'gone' } | { state: 'waiting'; position: number; limit: number };

/** Takes a slot for the task if one is free and no earlier task of the account is waiting. */
export async function tryAcquireSlot(deps: Deps, taskId: string): Promise<SlotAttempt> {
  const attempt = await deps.db.$transaction(async (tx) => {
    const task = await tx.agentTask.findUnique({ where: { id: taskId }, select: { status: true, ownerId: true, owner: { select: { tier: true } } } });
    if (!task || (task.status !== 'queued' && task.status !== 'running')) return { state: 'gone' } as const;
    if (task.status === 'running') return { state: 'acquired', ownerId: null } as const; // a retried attempt that already got it
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${slotChannel(task.ownerId)}))`;
    const { parallelAgents } = await limitsOf(tx as unknown as ServiceDeps['db'], task.ownerId, task.owner.tier);
    const running = await tx.agentTask.count({ where: { ownerId: task.ownerId, status: 'running' } });
    const ahead = await tx.agentTask.count({ where: { ownerId: task.ownerId, status: 'queued', id: { lt: taskId } } });
    if (running < parallelAgents && ahead === 0) {
      // Conditional: a cancellation that committed since the read above wins.
      const taken = await tx.agentTask.updateMany({ where: { id: taskId, status: 'queued' }, data: { status: 'running', startedAt: new Date() } });
      return taken.count === 1 ? ({ state: 'acquired', ownerId: task.ownerId } as const) : ({ state: 'gone' } as const);
    }
    return { state: 'waiting', position: ahead + 1, limit: parallelAgents } as const;
  });
  // The line moved: the next task may be first now, and a free slot may remain for it.
  if (attempt.state === 'acquired') {
    if (attempt.ownerId) await deps.bus.publish(slotChannel(attempt.ownerId), 0);
    return { state: 'acquired' };
  }
  if (attempt.state === 'waiting') {
    // One event per position, so a subscriber sees the queue move and a retried attempt adds nothing.
    await emitTaskEvent(deps, taskId, 'progress', `waiting:${attempt.position}`, {
      status: 'queued',
      progress: 0,
      message: `Waiting for an agent slot: position ${attempt.position} (your plan runs ${attempt.limit} at a time)`,
      queuePosition: attempt.position,
    });
  }
  return attempt;
}

/** The position of a queued task among its account's queued tasks (1 = next), or null when not queued. */
export async function queuePosition(deps: Pick<ServiceDeps, 'db'>, task: { id: string; ownerId: string; status: string }): Promise<number | null> {
  if (task.status !== 'queued') return null;
  return 1 + (await deps.db.agentTask.count({ where: { ownerId: task.ownerId, status: 'queued', id: { lt: task.id } } }));
}

/** Wakes the account's waiting tasks: a slot may be free (call when a task leaves queued or running). */
export async function announceFreeSlot(deps: Deps, taskId: string): Promise<void> {
  const task = await deps.db.agentTask.findUnique({ where: { id: taskId }, select: { ownerId: true } });
  if (task) await deps.bus.publish(slotChannel(task.ownerId), 0);
}
