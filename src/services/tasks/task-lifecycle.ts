/**
 * State changes of a task, made by its workflow's activities and by cancellation. Every change is
 * conditional on the task not being finished, so retries, races and replays cannot move a task
 * out of a final state or store a second terminal event.
 */
import type { AgentTask } from '../../generated/prisma/client.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { metrics } from '../../metrics.js';
import type { ServiceDeps } from '../deps.js';
import { emitTaskEvent } from './task-events.js';
import { changeWithWebhookEvent } from '../webhooks/events.js';
import { taskWebhookEvent } from '../webhooks/sources.js';
import type { TaskResult } from './task-result.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;
/** State changes are logged, once each, by whoever makes them. */
type LoggingDeps = Deps & Pick<ServiceDeps, 'logger'>;
const ACTIVE: TaskStatus[] = ['queued', 'running'];

/** Marks the task running (first attempt) and returns it; null when it already finished. */
export async function startTask(deps: LoggingDeps, taskId: string): Promise<AgentTask | null> {
  // One statement on the usual path (the update returns the row); a second read only when it did not start it now.
  const [startedNow] = await deps.db.agentTask.updateManyAndReturn({
    where: { id: taskId, status: 'queued' },
    data: { status: 'running', startedAt: new Date() },
  });
  const task = startedNow ?? (await deps.db.agentTask.findUnique({ where: { id: taskId } }));
  if (!task || !ACTIVE.includes(task.status)) return null;
  if (startedNow) {
    const waited = (task.startedAt!.getTime() - task.createdAt.getTime()) / 1000;
    metrics.tasksStarted.inc({ agent_type: task.agentType });
    metrics.taskQueueWait.observe({ agent_type: task.agentType }, waited);
    deps.logger.info({ taskId, agentType: task.agentType, status: 'running', queuedSeconds: waited }, 'task started');
  }
  if (startedNow || task.status === 'running') {
    await emitTaskEvent(deps, taskId, 'progress', 'started', {
      status: 'running',
      progress: 0,
      message: `Agent ${task.agentType} started`,
    });
  }
  return task;
}

/** Whether the task ended completed (an agent that finds it already over reports this); writes its terminal event if it is missing. */
export async function isCompleted(deps: Deps, taskId: string): Promise<boolean> {
  const task = await deps.db.agentTask.findUnique({ where: { id: taskId } });
  if (!task || ACTIVE.includes(task.status)) return false;
  await ensureTerminalEvent(deps, task);
  return task.status === 'completed';
}

/**
 * The final state and its terminal event are two writes: an attempt that died (or lost its
 * connection) between them left an ended task whose stream never ends. Whoever finds the task ended
 * writes the event from the stored row; its key makes this a no-op when it exists.
 */
async function ensureTerminalEvent(deps: Deps, task: AgentTask): Promise<void> {
  if (task.status === 'completed') {
    const result = task.result as TaskResult | null;
    await emitTaskEvent(deps, task.id, 'result', 'terminal', { status: 'completed', progress: 100, message: result?.summary ?? '', result: result ?? undefined });
  } else {
    const error = (task.error ?? finalErrors[task.status as keyof typeof finalErrors] ?? { code: 'agent_error', message: 'The agent failed.' }) as { code: string; message: string };
    await emitTaskEvent(deps, task.id, 'error', 'terminal', { status: task.status, progress: task.progress, message: error.message, error });
  }
}

/**
 * Records progress while the task runs; a finished task keeps its final state, and progress only
 * moves forward (an attempt resumed from an older checkpoint repeats steps without moving it back).
 */
export async function reportProgress(deps: Deps, taskId: string, step: { key: string; progress: number; message: string }) {
  const updated = await deps.db.agentTask.updateMany({
    where: { id: taskId, status: 'running', progress: { lte: step.progress } },
    data: { progress: step.progress },
  });
  if (updated.count === 1) {
    await emitTaskEvent(deps, taskId, 'progress', step.key, { status: 'running', progress: step.progress, message: step.message });
  }
}

/** Stores the result and the terminal `result` event; false when the task had already finished. */
export async function completeTask(
  deps: LoggingDeps,
  taskId: string,
  outcome: { result: TaskResult; promptTokens: number; completionTokens: number; costUsd: number },
): Promise<boolean> {
  const updated = await endTaskWithWebhook(deps, taskId, {
    status: 'completed',
    progress: 100,
    completedAt: new Date(),
    result: outcome.result as object,
    promptTokens: outcome.promptTokens,
    completionTokens: outcome.completionTokens,
    costUsd: outcome.costUsd,
  });
  if (updated.count === 0) return isCompleted(deps, taskId); // ended before: by an earlier attempt, or cancelled
  await emitTaskEvent(deps, taskId, 'result', 'terminal', {
    status: 'completed',
    progress: 100,
    message: outcome.result.summary,
    result: outcome.result,
  });
  return true;
}

/** Moves an unfinished task to its final state and stores its webhook event in the same transaction, then announces the deliveries. */
async function endTaskWithWebhook(deps: LoggingDeps, taskId: string, data: Parameters<Deps['db']['agentTask']['updateMany']>[0]['data']): Promise<{ count: number }> {
  const ended = await changeWithWebhookEvent(deps, async (tx) => {
    const [task] = await tx.agentTask.updateManyAndReturn({ where: { id: taskId, status: { in: ACTIVE } }, data });
    return task ? { result: task, event: taskWebhookEvent(task) } : { result: null, event: null };
  });
  if (ended) taskEnded(deps, ended);
  return { count: ended ? 1 : 0 };
}

/** The one log line and the metrics of a task reaching its final state. */
function taskEnded(deps: LoggingDeps, task: AgentTask): void {
  const ranSeconds = task.startedAt ? ((task.completedAt ?? new Date()).getTime() - task.startedAt.getTime()) / 1000 : null;
  const labels = { agent_type: task.agentType, state: task.status };
  metrics.tasksFinished.inc(labels);
  if (ranSeconds !== null) metrics.taskRunTime.observe(labels, ranSeconds);
  const error = task.error as { code?: string } | null;
  deps.logger.info({ taskId: task.id, agentType: task.agentType, status: task.status, orchestrationId: task.orchestrationId, ranSeconds, errorCode: error?.code }, 'task finished');
}

export const finalErrors = {
  cancelled: { code: 'task_cancelled', message: 'The task was cancelled.' },
  timed_out: { code: 'task_timeout', message: 'The task exceeded its maximum duration.' },
} as const;

/** Ends an unfinished task as failed, cancelled or timed out, with its terminal `error` event. */
export async function finishTask(
  deps: LoggingDeps,
  taskId: string,
  status: 'failed' | 'cancelled' | 'timed_out',
  error: { code: string; message: string } = status === 'failed' ? { code: 'agent_error', message: 'The agent failed.' } : finalErrors[status],
): Promise<boolean> {
  const updated = await endTaskWithWebhook(deps, taskId, { status, completedAt: new Date(), error });
  if (updated.count === 0) {
    await isCompleted(deps, taskId); // its terminal event, if an earlier attempt ended it without one
    return false;
  }
  const task = await deps.db.agentTask.findUniqueOrThrow({ where: { id: taskId }, select: { progress: true } });
  await emitTaskEvent(deps, taskId, 'error', 'terminal', { status, progress: task.progress, message: error.message, error });
  return true;
}
