/**
 * Task feeds: every event of a task is also appended to its scope's feed stream (`feed:<user id>`
 * for personal tasks, `feed:<team id>` for a team's), so a task list stays live through one
 * resumable stream per scope. Each process reads a feed once, however many subscribe to it (one
 * reader per feed, woken by the event bus), and filters each event in memory per subscriber.
 */
import { ValidationError } from '../../errors.js';
import { readEvents, type NewEvent, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import type { TaskStatus } from '../../generated/prisma/enums.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { hasTeamRole, listScope } from '../teams.js';
import { checkTaskFilter, type TaskFilter } from './task-filter.js';
import type { TaskEventData, TaskEventType } from './task-events.js';

/** What a feed event says: a task was created, changed status, or made progress. */
export type TaskUpdateKind = 'created' | 'status' | 'progress';

export interface TaskUpdateData {
  kind: TaskUpdateKind;
  taskId: string;
  teamId: string | null;
  agentType: string;
  /** The task's tags (absent on feed events written before tags existed). */
  tags?: string[];
  createdAt: string;
  status: TaskStatus;
  progress: number;
  message: string;
}

export type TaskUpdate = StoredEvent<TaskUpdateData>;

const feedOf = (scope: { ownerId?: string; teamId: string | null }) => `feed:${scope.teamId ?? scope.ownerId}`;

/** A task event as its copy on its scope's feed (the task's own stream keeps results and details). */
export function feedEvent(
  task: { ownerId: string; teamId: string | null; agentType: string; createdAt: Date; tags: string[] },
  taskId: string,
  type: TaskEventType,
  key: string,
  data: TaskEventData,
): NewEvent {
  const kind: TaskUpdateKind = key === 'queued' ? 'created' : type !== 'progress' || key === 'started' ? 'status' : 'progress';
  const update: TaskUpdateData = {
    kind,
    taskId,
    teamId: task.teamId,
    agentType: task.agentType,
    tags: task.tags,
    createdAt: task.createdAt.toISOString(),
    status: data.status,
    progress: data.progress,
    message: data.message,
  };
  return { streamId: feedOf(task), type: kind, key: `${taskId}:${key}`, data: { ...update } };
}

const FINAL: TaskStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

/** Whether an update matches the filter (every tag asked for must be on the task, as in lists). */
export function matchesFilter(filter: TaskFilter, update: TaskUpdate): boolean {
  const d = update.data;
  if (filter.ids?.length && !filter.ids.includes(d.taskId)) return false;
  if (filter.status?.length && !filter.status.includes(d.status)) return false;
  if (filter.agentType?.length && !filter.agentType.includes(d.agentType)) return false;
  if (filter.tags?.length && !filter.tags.every((tag) => d.tags?.includes(tag))) return false;
  const created = new Date(d.createdAt);
  if (filter.createdAfter && created < filter.createdAfter) return false;
  if (filter.createdBefore && created > filter.createdBefore) return false;
  if (filter.finishedAfter || filter.finishedBefore) {
    if (!FINAL.includes(d.status)) return false;
    if (filter.finishedAfter && update.createdAt < filter.finishedAfter) return false;
    if (filter.finishedBefore && update.createdAt > filter.finishedBefore) return false;
  }
  return true;
}

type Listener = (event: StoredEvent) => void;

const asUpdate = (event: StoredEvent) => event as unknown as TaskUpdate;

interface Feed {
  listeners: Set<Listener>;
  /** Resolves once the reader knows where it starts: events after that reach the listeners. */
  ready: Promise<void>;
  stop: AbortController;
}

/** One reader per feed stream in this process. */
const feeds = new Map<string, Feed>();

function joinFeed(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>, streamId: string, listener: Listener): { ready: Promise<void>; leave: () => void } {
  let feed = feeds.get(streamId);
  if (!feed) {
    const stop = new AbortController();
    const created: Feed = { listeners: new Set(), stop, ready: Promise.resolve() };
    created.ready = (async () => {
      const head = await deps.db.eventStream.findUnique({ where: { id: streamId }, select: { lastSeq: true } });
      const reader = streamEvents({ db: deps.db, bus: deps.bus, streamId, since: head?.lastSeq ?? 0, isTerminal: () => false, pollMs: 30_000, signal: stop.signal });
      void (async () => {
        try {
          for await (const event of reader) for (const l of created.listeners) l(event);
        } catch (err) {
          if (!stop.signal.aborted) deps.logger.warn({ err, streamId }, 'task feed reader stopped');
        } finally {
          if (feeds.get(streamId) === created) feeds.delete(streamId);
        }
      })();
    })();
    feeds.set(streamId, created);
    feed = created;
  }
  const joined = feed;
  joined.listeners.add(listener);
  return {
    ready: joined.ready,
    leave: () => {
      joined.listeners.delete(listener);
      if (joined.listeners.size === 0) {
        joined.stop.abort();
        if (feeds.get(streamId) === joined) feeds.delete(streamId);
      }
    },
  };
}

/** Parses a taskUpdates cursor: the last feed sequence number seen. */
export function parseFeedCursor(after: string | null | undefined): number {
  if (after == null || after === '') return 0;
  if (!/^\d{1,10}$/.test(after) || Number(after) > 2 ** 31 - 1) {
    throw new ValidationError([{ field: 'after', message: 'must be the cursor of the last update you received (a whole number)' }]);
  }
  return Number(after);
}

/** How often a team subscriber's membership is checked again while the stream is open. */
const RECHECK_MS = 10_000;

/**
 * The updates of the caller's tasks (or a team's, for its members) matching `filter`, after the
 * cursor `after` (null: from now on): the stored ones, then live ones, until the subscriber leaves. A team's updates
 * stop (the stream ends) once the caller is no longer a member.
 */
export async function streamTaskUpdates(
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>,
  principal: Principal,
  filter: TaskFilter,
  after: number | null,
): Promise<AsyncGenerator<TaskUpdate>> {
  if (filter.search) {
    throw new ValidationError([
      { field: 'filter.search', message: 'is not available on live updates (they carry no prompt); filter by status, agent type, tags, team or dates, or poll the tasks list with search' },
    ]);
  }
  checkTaskFilter(filter);
  const scope = await listScope(deps, principal, filter.teamId);
  const streamId = feedOf(scope);
  const stop = new AbortController();
  const queue: StoredEvent[] = [];
  let wake: (() => void) | null = null;
  const { ready, leave } = joinFeed(deps, streamId, (event) => {
    queue.push(event);
    wake?.();
  });
  stop.signal.addEventListener('abort', () => wake?.());
  let checkedAt = Date.now();
  const allowed = async () => {
    if (!scope.teamId || Date.now() - checkedAt < RECHECK_MS) return true;
    checkedAt = Date.now();
    return hasTeamRole(deps, principal, scope.teamId, 'viewer');
  };

  async function* updates(): AsyncGenerator<TaskUpdate> {
    try {
      await ready;
      let last = after ?? (await deps.db.eventStream.findUnique({ where: { id: streamId }, select: { lastSeq: true } }))?.lastSeq ?? 0;
      // The stored backlog after the cursor, read until caught up; live events queued meanwhile follow.
      for (;;) {
        const batch = await readEvents(deps.db, streamId, last);
        for (const event of batch) {
          last = event.seq;
          if (matchesFilter(filter, asUpdate(event))) yield asUpdate(event);
        }
        if (batch.length === 0 || stop.signal.aborted) break;
      }
      while (!stop.signal.aborted) {
        const event = queue.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
          continue;
        }
        if (event.seq <= last) continue;
        last = event.seq;
        if (!(await allowed())) return;
        if (matchesFilter(filter, asUpdate(event))) yield asUpdate(event);
      }
    } finally {
      leave();
    }
  }

  const inner = updates();
  const outer: AsyncGenerator<TaskUpdate> = {
    next: () => inner.next(),
    return: (value) => {
      stop.abort();
      leave(); // also when it never started (its finally would not run)
      return inner.return(value);
    },
    throw: (err) => {
      stop.abort();
      leave();
      return inner.throw(err);
    },
    [Symbol.asyncIterator]: () => outer,
  };
  return outer;
}
