import { callerOf } from '../../src/context.js';
import { parseFeedCursor, streamTaskUpdates, type TaskUpdate } from '../../src/services/tasks/task-feed.js';
import { getTask } from '../../src/services/tasks/query-tasks.js';
import { builder } from '../builder.js';
import { TaskFilter as TaskFilterInput, toTaskFilter as taskFilterFromInput } from './task-filter.js';
import { TaskRef, TaskStatus } from './task.js';

const TaskUpdateKind = builder.enumType('TaskUpdateKind', {
  values: {
    CREATED: { value: 'created', description: 'A task was submitted (queued).' },
    STATUS: { value: 'status', description: 'A task started or finished.' },
    PROGRESS: { value: 'progress', description: 'A running task made progress.' },
  } as const,
});

const TaskUpdateRef = builder.objectRef<TaskUpdate>('TaskUpdate').implement({
  description: 'One change of a task in a live list. Resume the subscription with `after: <cursor of the last update received>`.',
  fields: (t) => ({
    cursor: t.string({ description: 'Pass as `after` to resume after this update.', resolve: (u) => String(u.seq) }),
    kind: t.field({ type: TaskUpdateKind, resolve: (u) => u.data.kind }),
    taskId: t.id({ resolve: (u) => u.data.taskId }),
    teamId: t.id({ nullable: true, resolve: (u) => u.data.teamId }),
    agentType: t.string({ resolve: (u) => u.data.agentType }),
    status: t.field({ type: TaskStatus, resolve: (u) => u.data.status }),
    progress: t.int({ resolve: (u) => u.data.progress }),
    message: t.string({ resolve: (u) => u.data.message }),
    timestamp: t.field({ type: 'DateTime', resolve: (u) => u.createdAt }),
    task: t.field({
      type: TaskRef,
      nullable: true,
      description: 'The task as it is now (one read per update; select only what the update does not carry).',
      resolve: (u, _args, ctx) => getTask(ctx.deps, callerOf(ctx), u.data.taskId).catch(() => null),
    }),
  }),
});

builder.subscriptionField('taskUpdates', (t) =>
  t.field({
    type: TaskUpdateRef,
    description:
      "Each change (created, status, progress) of your tasks, or a team's with filter.teamId, that matches the filter: the stored ones after `after`, then live ones, so a list stays live without polling. Never completes by itself.",
    authScopes: { $all: { read: true, sees: 'tasks' } },
    args: {
      filter: t.arg({ type: TaskFilterInput }),
      after: t.arg.string({ description: 'Resume after this cursor (the last update received); without it, only updates from now on.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const caller = callerOf(ctx);
      const filter = taskFilterFromInput(args.filter);
      return streamTaskUpdates(ctx.deps, caller, filter, args.after == null ? null : parseFeedCursor(args.after));
    },
    resolve: (update) => update,
  }),
);
