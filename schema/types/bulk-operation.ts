import type { BulkOperation } from '../../src/generated/prisma/client.js';
import { BULK_UNIT_COST, getBulkOperation, startBulkOperation, streamBulkEvents, type BulkEvent } from '../../src/services/bulk/bulk-operations.js';
import { callerOf } from '../../src/context.js';
import { builder } from '../builder.js';
import { TaskFilter as TaskFilterInput, toTaskFilter as taskFilterFromInput } from './task-filter.js';

const BulkAction = builder.enumType('BulkAction', {
  values: {
    CANCEL: { value: 'cancel', description: 'Cancel each matching task that is queued or running (one that already finished is skipped).' },
    RERUN: { value: 'rerun', description: 'Start each matching task again with the same input (linked by rerunOfId).' },
  } as const,
});

const BulkStatus = builder.enumType('BulkOperationStatus', {
  values: { RUNNING: { value: 'running' }, COMPLETED: { value: 'completed' }, FAILED: { value: 'failed' } } as const,
});

export const BulkOperationRef = builder.objectRef<BulkOperation>('BulkOperation');

builder.node(BulkOperationRef, {
  authScopes: { sees: 'tasks' },
  description: `Cancel or rerun every task that matched a filter when it started (at most BULK_MAX_TASKS, 10,000 by default), in batches; its id is also its Temporal workflow's.`,
  id: { resolve: (op) => op.id },
  loadOne: (id, ctx) => getBulkOperation(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    action: t.field({ type: BulkAction, resolve: (op) => op.action as 'cancel' | 'rerun' }),
    status: t.field({ type: BulkStatus, resolve: (op) => op.status as 'running' | 'completed' | 'failed' }),
    teamId: t.exposeID('teamId', { nullable: true, description: 'The team whose tasks it covers; null for your personal tasks.' }),
    matched: t.int({ description: 'Tasks that matched at the start: the snapshot it works through.', resolve: (op) => op.taskIds.length }),
    processed: t.exposeInt('processed'),
    succeeded: t.exposeInt('succeeded'),
    skipped: t.exposeInt('skipped', { description: 'Nothing to do: cancelling a task that had already finished, or a task gone since.' }),
    failed: t.exposeInt('failed'),
    creditsCharged: t.exposeInt('creditsCharged', { description: 'matched × the unit cost of the action, charged at the start.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (op) => op.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (op) => op.completedAt }),
  }),
});

const BulkEventRef = builder.objectRef<BulkEvent>('BulkOperationEvent').implement({
  description: 'Progress of a bulk operation after each batch, then its summary (type COMPLETED); resume with `since: <last seq seen>`.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    type: t.string({ description: 'progress or completed.', resolve: (e) => e.type }),
    operationId: t.exposeID('streamId'),
    status: t.field({ type: BulkStatus, resolve: (e) => e.data.status }),
    matched: t.int({ resolve: (e) => e.data.matched }),
    processed: t.int({ resolve: (e) => e.data.processed }),
    succeeded: t.int({ resolve: (e) => e.data.succeeded }),
    skipped: t.int({ resolve: (e) => e.data.skipped }),
    failed: t.int({ resolve: (e) => e.data.failed }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

const StartBulkPayload = builder.objectRef<{ operation: BulkOperation; replayed: boolean }>('StartBulkOperationPayload').implement({
  fields: (t) => ({
    operation: t.field({ type: BulkOperationRef, resolve: (p) => p.operation }),
    replayed: t.exposeBoolean('replayed', { description: 'True when this idempotency key was used before and the first operation is returned.' }),
  }),
});

builder.mutationField('startBulkOperation', (t) =>
  t.field({
    type: StartBulkPayload,
    description: `Cancels or reruns every task matching the filter (which must name at least one criterion besides teamId), at most BULK_MAX_TASKS (10,000 by default). Costs 1 credit, plus ${BULK_UNIT_COST.cancel} per matched task (the unit cost of the action), charged before it starts: INSUFFICIENT_CREDITS when the month's remaining credits do not cover it.`,
    authScopes: { write: true },
    args: {
      action: t.arg({ type: BulkAction, required: true }),
      filter: t.arg({ type: TaskFilterInput, required: true }),
      idempotencyKey: t.arg.string({ description: 'Same key and same action and filter: the first operation. Kept 24 hours.' }),
    },
    resolve: async (_root, args, ctx) => {
      const caller = callerOf(ctx);
      const { id, replayed } = await startBulkOperation(ctx.deps, caller, { action: args.action, filter: taskFilterFromInput(args.filter) }, args.idempotencyKey);
      return { operation: await getBulkOperation(ctx.deps, caller, id), replayed };
    },
  }),
);

builder.queryField('bulkOperation', (t) =>
  t.field({
    type: BulkOperationRef,
    description: 'A bulk operation you started, or one over your team\'s tasks; RESOURCE_NOT_FOUND for any other id.',
    authScopes: { $all: { read: true, sees: 'tasks' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getBulkOperation(ctx.deps, callerOf(ctx), String(args.id)),
  }),
);

builder.subscriptionField('bulkOperationEvents', (t) =>
  t.field({
    type: BulkEventRef,
    description: 'Progress of a bulk operation: stored events after `since`, then live ones; completes after the COMPLETED summary.',
    authScopes: { $all: { read: true, sees: 'tasks' } },
    args: { id: t.arg.id({ required: true }), since: t.arg.int({ defaultValue: 0, description: 'Resume after this sequence number.' }) },
    subscribe: async (_root, args, ctx) => {
      const op = await getBulkOperation(ctx.deps, callerOf(ctx), String(args.id));
      return streamBulkEvents(ctx.deps, op.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);
