/**
 * State changes of a task, made by its workflow's activities and by cancellation. Every change is
 * conditional on the task not being finished, so retries, races and replays cannot move a task
 * out of a final state or store a second terminal event.
 */
import type { AgentTask } from '../../generated/prisma/client.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { poolOf, poolRows, rawRows } from '../../db/client.js';
import { coalescing, perClient } from '../../db/coalesce.js';
import { metrics } from '../../metrics.js';
import type { ServiceDeps } from '../deps.js';
import { TASK_COLUMNS, taskColumns } from './query-tasks.js';
import { emitTaskEvent } from './task-events.js';
import { announceDeliveries, recordWebhookEvents } from '../webhooks/events.js';
import { taskWebhookEvent, type TaskEventFields } from '../webhooks/sources.js';
import type { TaskResult } from './task-result.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;
/** State changes are logged, once each, by whoever makes them. */
type LoggingDeps = Deps & Pick<ServiceDeps, 'logger'>;
const ACTIVE: TaskStatus[] = ['queued', 'running'];

/**
 * Per database client, the starts of this process's tasks gathered into one UPDATE and one read
 * (50 agents of an orchestration start at once): whether this call moved the task from queued to
 * running (only the first call for a task in a batch does), and the task as it is now.
 */
const starts = perClient((db: Deps['db']) =>
  coalescing<string, { started: boolean; task: AgentTask | null }>(async (taskIds) => {
    const ids = [...new Set(taskIds)];
    const pool = poolOf(db);
    let tasks: Map<string, AgentTask>;
    let started: Set<string>;
    if (pool) {
      // The moved rows as the UPDATE left them: the usual batch (every task queued) is one statement.
      const moved = await poolRows<AgentTask>(pool, `UPDATE agent_tasks t SET status = 'running', started_at = now() WHERE t.id = ANY($1::text[]) AND t.status = 'queued' RETURNING ${TASK_COLUMNS}`, [ids]);
      tasks = new Map(moved.map((t) => [t.id, t]));
      started = new Set(tasks.keys());
    } else {
      const moved = await db.$queryRaw<Array<{ id: string }>>`
        UPDATE agent_tasks SET status = 'running', started_at = now() WHERE id = ANY(${ids}::text[]) AND status = 'queued' RETURNING id`;
      tasks = new Map();
      started = new Set(moved.map((r) => r.id));
    }
    // The others (started by an earlier attempt, cancelled, gone) as they are now.
    const rest = ids.filter((id) => !tasks.has(id));
    if (rest.length) for (const t of await db.agentTask.findMany({ where: { id: { in: rest } } })) tasks.set(t.id, t);
    return taskIds.map((id) => ({ started: started.delete(id), task: tasks.get(id) ?? null }));
  }),
);

/** Marks the task running (first attempt) and returns it; null when it already finished. */
export async function startTask(deps: LoggingDeps, taskId: string): Promise<AgentTask | null> {
  const begun = await beginTask(deps, taskId);
  if (!begun) return null;
  await begun.announced;
  return begun.task;
}

/**
 * `startTask` for an agent that can begin its work while its `started` event is written (the
 * model agent sends its call meanwhile): `announced` settles when the event is stored; the agent
 * must await it before it writes the task's next event or its end, so the stream keeps its order.
 */
export async function beginTask(deps: LoggingDeps, taskId: string): Promise<{ task: AgentTask; announced: Promise<void> } | null> {
  const { started, task } = await starts(deps.db).load(taskId);
  if (!task || !ACTIVE.includes(task.status)) return null;
  if (started) {
    const waited = (task.startedAt!.getTime() - task.createdAt.getTime()) / 1000;
    metrics.tasksStarted.inc({ agent_type: task.agentType });
    metrics.taskQueueWait.observe({ agent_type: task.agentType }, waited);
    deps.logger.info({ taskId, agentType: task.agentType, status: 'running', queuedSeconds: waited }, 'task started');
  }
  const announced =
    started || task.status === 'running'
      ? emitTaskEvent(deps, taskId, 'progress', 'started', { status: 'running', progress: 0, message: `Agent ${task.agentType} started` }).then(() => {})
      : Promise.resolve();
  // Awaited by the caller; until then a failure must not count as unhandled.
  announced.catch(() => {});
  return { task, announced };
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
  // Straight on the pool: every step of every task runs it, and Prisma's client costs more than the statement.
  const updated = await rawRows(deps.db, `UPDATE agent_tasks SET progress = $2 WHERE id = $1 AND status = 'running' AND progress <= $2 RETURNING id`, [taskId, step.progress]);
  if (updated.length === 1) {
    await emitTaskEvent(deps, taskId, 'progress', step.key, { status: 'running', progress: step.progress, message: step.message });
  }
}

/** Stores the result and the terminal `result` event; false when the task had already finished. */
export async function completeTask(
  deps: LoggingDeps,
  taskId: string,
  outcome: { result: TaskResult; promptTokens: number; completionTokens: number; costUsd: number },
): Promise<boolean> {
  const ended = await endTaskWithWebhook(deps, taskId, {
    status: 'completed',
    progress: 100,
    completedAt: new Date(),
    result: outcome.result,
    promptTokens: outcome.promptTokens,
    completionTokens: outcome.completionTokens,
    costUsd: outcome.costUsd,
  });
  if (!ended) return isCompleted(deps, taskId); // ended before: by an earlier attempt, or cancelled
  await emitTaskEvent(deps, taskId, 'result', 'terminal', {
    status: 'completed',
    progress: 100,
    message: outcome.result.summary,
    result: outcome.result,
  });
  return true;
}

/** A task's final state: what an end writes (fields left out keep their value). */
interface EndData {
  status: 'completed' | 'failed' | 'cancelled' | 'timed_out';
  completedAt: Date;
  progress?: number;
  result?: object;
  error?: { code: string; message: string };
  promptTokens?: number;
  completionTokens?: number;
  costUsd?: number;
}

/**
 * Moves an unfinished task to its final state and stores its webhook event in the same
 * transaction, then announces the deliveries; returns the ended task, or null when it had ended before.
 */
async function endTaskWithWebhook(deps: LoggingDeps, taskId: string, data: EndData): Promise<EndedTask | null> {
  const ended = await ends(deps.db).load({ taskId, data, bus: deps.bus });
  if (ended) taskEnded(deps, ended);
  return ended;
}

type End = { taskId: string; data: EndData; bus: Deps['bus'] };

/**
 * What an end returns of each ended task: its webhook event's and its log line's columns, not its
 * input (an agent's files: 50 rows of 30 kB each were most of the batch's cost).
 */
const ENDED_COLUMNS = taskColumns(['id', 'status', 'ownerId', 'teamId', 'agentType', 'orchestrationId', 'startedAt', 'completedAt', 'progress', 'result', 'error']);
type EndedTask = TaskEventFields & Pick<AgentTask, 'startedAt' | 'progress'>;

/**
 * Per database client, this process's task ends gathered into one transaction (the 50 agents of an
 * orchestration end within moments): one UPDATE of every task still unfinished (a task already
 * ended keeps its state; of two ends of one task the first wins) that returns the ended rows, and
 * each one's webhook event (task.completed, ...), committed together and announced after.
 */
const ends = perClient((db: Deps['db']) =>
  coalescing<End, EndedTask | null>(async (items) => {
    const payload = JSON.stringify(
      items.map(({ taskId, data }, ord) => ({
        ord,
        id: taskId,
        status: data.status,
        completed_at: data.completedAt.toISOString(),
        progress: data.progress,
        result: data.result,
        error: data.error,
        prompt_tokens: data.promptTokens,
        completion_tokens: data.completionTokens,
        cost_usd: data.costUsd,
      })),
    );
    const { tasks, deliveries } = await db.$transaction(async (tx) => {
      const ended = await rawRows<EndedTask>(
        tx,
        `UPDATE agent_tasks t SET
          status = v.status::"TaskStatus",
          completed_at = v.completed_at,
          progress = COALESCE(v.progress, t.progress),
          result = COALESCE(v.result, t.result),
          error = COALESCE(v.error, t.error),
          prompt_tokens = COALESCE(v.prompt_tokens, t.prompt_tokens),
          completion_tokens = COALESCE(v.completion_tokens, t.completion_tokens),
          cost_usd = COALESCE(v.cost_usd, t.cost_usd)
        FROM (
          SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($1::jsonb) AS (
            ord int, id text, status text, completed_at timestamptz, progress int, result jsonb, error jsonb, prompt_tokens int, completion_tokens int, cost_usd float8
          ) ORDER BY id, ord
        ) v
        WHERE t.id = v.id AND t.status IN ('queued', 'running')
        RETURNING ${ENDED_COLUMNS}`,
        [payload],
      );
      const recorded = await recordWebhookEvents(tx, ended.map(taskWebhookEvent));
      return { tasks: new Map(ended.map((t) => [t.id, t])), deliveries: recorded.flatMap((r) => r.deliveryIds) };
    });
    // Every item carries the bus of its services; they are one bus per database client.
    await announceDeliveries(items[0].bus, deliveries);
    const first = new Set(tasks.keys());
    return items.map(({ taskId }) => (first.delete(taskId) ? tasks.get(taskId)! : null));
  }),
);

/** The one log line and the metrics of a task reaching its final state. */
function taskEnded(deps: LoggingDeps, task: EndedTask): void {
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
  const ended = await endTaskWithWebhook(deps, taskId, { status, completedAt: new Date(), error });
  if (!ended) {
    await isCompleted(deps, taskId); // its terminal event, if an earlier attempt ended it without one
    return false;
  }
  await emitTaskEvent(deps, taskId, 'error', 'terminal', { status, progress: ended.progress, message: error.message, error });
  return true;
}
