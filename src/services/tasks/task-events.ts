/** The progress events of an agent task, as stored and as every transport streams them. */
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { appendEvent, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import type { ServiceDeps } from '../deps.js';
import type { TaskResult } from './task-result.js';

export type TaskEventType = 'progress' | 'result' | 'error';

export interface TaskEventData {
  status: TaskStatus;
  progress: number;
  message: string;
  result?: TaskResult;
  error?: { code: string; message: string };
  /** While waiting for an agent slot: 1 = next to start. */
  queuePosition?: number;
}

export type TaskEvent = StoredEvent<TaskEventData> & { type: TaskEventType };

/** Every task stream ends with exactly one of these. */
export const isTerminalTaskEvent = (event: StoredEvent) => event.type === 'result' || event.type === 'error';

/** Which orchestration a task belongs to (null: none), remembered per process: it never changes. */
const orchestrationOfTask = new Map<string, { orchestrationId: string; agentType: string } | null>();

async function orchestrationOf(deps: Pick<ServiceDeps, 'db'>, taskId: string) {
  if (orchestrationOfTask.has(taskId)) return orchestrationOfTask.get(taskId)!;
  const task = await deps.db.agentTask.findUnique({ where: { id: taskId }, select: { orchestrationId: true, agentType: true } });
  const value = task?.orchestrationId ? { orchestrationId: task.orchestrationId, agentType: task.agentType } : null;
  if (orchestrationOfTask.size > 50_000) orchestrationOfTask.clear();
  orchestrationOfTask.set(taskId, value);
  return value;
}

/**
 * Stores and publishes one task event; `key` makes a retried emission store once. An agent of an
 * orchestration also has the event copied onto the orchestration's stream, so one subscription
 * sees every agent's progress interleaved, in one resumable sequence.
 */
export async function emitTaskEvent(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, type: TaskEventType, key: string, data: TaskEventData) {
  const stored = await appendEvent(deps.db, deps.bus, { streamId: taskId, type, key, data: data as unknown as Record<string, unknown> });
  const parent = await orchestrationOf(deps, taskId);
  if (parent) {
    await appendEvent(deps.db, deps.bus, {
      streamId: parent.orchestrationId,
      type,
      key: `${taskId}:${key}`,
      data: { ...data, taskId, agentType: parent.agentType },
    });
  }
  return stored;
}

/** The events of a task after `since`, then live until its terminal event. */
export function streamTaskEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, since: number, signal?: AbortSignal) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: taskId, since, isTerminal: isTerminalTaskEvent, signal }) as AsyncGenerator<TaskEvent>;
}
