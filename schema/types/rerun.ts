import type { Orchestration } from '../../src/generated/prisma/client.js';
import { callerOf } from '../../src/context.js';
import { getOrchestration, rerunOrchestration } from '../../src/services/orchestrations.js';
import { getTask, type TaskRow } from '../../src/services/tasks/query-tasks.js';
import { rerunTask } from '../../src/services/tasks/rerun-task.js';
import { builder } from '../builder.js';
import { OrchestrationRef } from './orchestration.js';
import { TaskRef } from './task.js';

builder.objectField(TaskRef, 'rerunOfId', (t) =>
  t.exposeID('rerunOfId', { nullable: true, description: 'The task this one reruns (rerunTask or a bulk RERUN); null for a new submission.' }),
);
builder.objectField(OrchestrationRef, 'rerunOfId', (t) =>
  t.exposeID('rerunOfId', { nullable: true, description: 'The orchestration this one reruns; null for a new start.' }),
);

const RerunTaskPayload = builder.objectRef<{ task: TaskRow; replayed: boolean }>('RerunTaskPayload').implement({
  fields: (t) => ({ task: t.field({ type: TaskRef, resolve: (p) => p.task }), replayed: t.exposeBoolean('replayed') }),
});
const RerunOrchestrationPayload = builder.objectRef<{ orchestration: Orchestration; replayed: boolean }>('RerunOrchestrationPayload').implement({
  fields: (t) => ({ orchestration: t.field({ type: OrchestrationRef, resolve: (p) => p.orchestration }), replayed: t.exposeBoolean('replayed') }),
});

builder.mutationFields((t) => ({
  rerunTask: t.field({
    type: RerunTaskPayload,
    description: 'Starts a new task with the same input as this one (linked by rerunOfId; the original is unchanged). Admitted, limited and charged as a new submission.',
    authScopes: { write: true },
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string({ description: 'Same key and same task: the first rerun. Kept 24 hours.' }) },
    resolve: async (_root, args, ctx) => {
      const { taskId, replayed } = await rerunTask(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey);
      return { task: await getTask(ctx.deps, callerOf(ctx), taskId), replayed };
    },
  }),
  rerunOrchestration: t.field({
    type: RerunOrchestrationPayload,
    description: 'Starts the orchestration again with the same goal, agents and context (linked by rerunOfId; the original is unchanged). Costs what a new start costs.',
    extensions: { cost: 5 }, // as startOrchestration: several agents for one request
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string({ description: 'Same key and same orchestration: the first rerun. Kept 24 hours.' }) },
    resolve: async (_root, args, ctx) => {
      const { id, replayed } = await rerunOrchestration(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey);
      return { orchestration: await getOrchestration(ctx.deps, callerOf(ctx), id), replayed };
    },
  }),
}));
