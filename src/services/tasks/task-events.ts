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

/** Stores and publishes one task event; `key` makes a retried emission store once. */
export function emitTaskEvent(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, type: TaskEventType, key: string, data: TaskEventData) {
  return appendEvent(deps.db, deps.bus, { streamId: taskId, type, key, data: data as unknown as Record<string, unknown> });
}

/** The events of a task after `since`, then live until its terminal event. */
export function streamTaskEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, since: number, signal?: AbortSignal) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: taskId, since, isTerminal: isTerminalTaskEvent, signal }) as AsyncGenerator<TaskEvent>;
}
