/** The progress events of an agent task, as stored and as every transport streams them. */
import type { TaskStatus } from '../../generated/prisma/enums.js';
import { appendEventsBatched, insertEvents, type NewEvent, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import type { ServiceDeps } from '../deps.js';
import type { TaskResult } from './task-result.js';
import { feedEvent } from './task-feed.js';

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

/** What never changes about a task and its events need: its owner, team, agent and orchestration. */
interface TaskInfo {
  ownerId: string;
  teamId: string | null;
  agentType: string;
  tags: string[];
  createdAt: Date;
  orchestrationId: string | null;
}

/** Remembered per process: none of it changes. */
const taskInfos = new Map<string, TaskInfo | null>();

/** Remembers what a process that has just created a task knows of it (its first event then needs no read). */
export function rememberTaskInfo(taskId: string, info: TaskInfo | null): void {
  if (taskInfos.size > 50_000) taskInfos.clear();
  taskInfos.set(taskId, info);
}

async function taskInfo(deps: Pick<ServiceDeps, 'db'>, taskId: string): Promise<TaskInfo | null> {
  if (taskInfos.has(taskId)) return taskInfos.get(taskId)!;
  const value = await deps.db.agentTask.findUnique({
    where: { id: taskId },
    select: { ownerId: true, teamId: true, agentType: true, createdAt: true, orchestrationId: true, tags: true },
  });
  rememberTaskInfo(taskId, value);
  return value;
}

/**
 * Stores and publishes one task event; `key` makes a retried emission store once. An agent of an
 * orchestration also has the event copied onto the orchestration's stream, so one subscription
 * sees every agent's progress interleaved, in one resumable sequence; and every event is copied
 * onto its owner's (or team's) task feed, which keeps task lists live (taskUpdates).
 */
export async function emitTaskEvent(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, type: TaskEventType, key: string, data: TaskEventData) {
  const info = await taskInfo(deps, taskId);
  const [stored] = await appendEventsBatched(deps.db, deps.bus, taskEventCopies(info, taskId, type, key, data));
  return stored;
}

/** The task's event and its copies (the orchestration's stream, the scope's feed): stored together, in one statement. */
function taskEventCopies(info: TaskInfo | null, taskId: string, type: TaskEventType, key: string, data: TaskEventData): NewEvent[] {
  const events: NewEvent[] = [{ streamId: taskId, type, key, data: data as unknown as Record<string, unknown> }];
  if (info?.orchestrationId) {
    events.push({ streamId: info.orchestrationId, type, key: `${taskId}:${key}`, data: { ...data, taskId, agentType: info.agentType } });
  }
  if (info) events.push(feedEvent(info, taskId, type, key, data));
  return events;
}

/**
 * The `queued` events of tasks just created, in one statement, in the order given: with `db` the
 * transaction that creates them (the caller publishes them once committed).
 */
export function insertQueuedEvents(db: Parameters<typeof insertEvents>[0], tasks: Array<TaskInfo & { id: string; message: string }>): Promise<StoredEvent[]> {
  for (const { id, ownerId, teamId, agentType, tags, createdAt, orchestrationId } of tasks) rememberTaskInfo(id, { ownerId, teamId, agentType, tags, createdAt, orchestrationId });
  const queued = (message: string): TaskEventData => ({ status: 'queued', progress: 0, message });
  return insertEvents(db, tasks.flatMap((t) => taskEventCopies(t, t.id, 'progress', 'queued', queued(t.message))));
}

/** The events of a task after `since`, then live until its terminal event. */
export function streamTaskEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, taskId: string, since: number, signal?: AbortSignal) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: taskId, since, isTerminal: isTerminalTaskEvent, signal }) as AsyncGenerator<TaskEvent>;
}
