// Multi-agent orchestrations: each agent is a Task run as a child workflow.
import { callerOf } from '../../src/context.js';
import type { Orchestration } from '../../src/generated/prisma/client.js';
import type { StoredEvent } from '../../src/events/event-store.js';
import { cancelOrchestration, estimatedCompletion, getOrchestration, listOrchestrations, startOrchestration, streamOrchestrationEvents, type AggregatedResult } from '../../src/services/orchestrations.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { countedConnection, countedConnectionOf } from '../connection.js';
import { FileInput, TaskRef } from './task.js';
import { listFilterFields, toListFilter } from './task-filter.js';

const OrchestrationStatus = builder.enumType('OrchestrationStatus', {
  values: {
    IN_PROGRESS: { value: 'in_progress' },
    COMPLETED: { value: 'completed', description: 'Every agent completed.' },
    PARTIAL: { value: 'partial', description: 'best_effort: some agents did not complete; the others\' results are kept.' },
    FAILED: { value: 'failed', description: 'fail_fast stopped it at the first failure, or no agent completed.' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

const Aggregated = builder.objectRef<AggregatedResult>('AggregatedResult').implement({
  fields: (t) => ({
    filesModified: t.exposeInt('files_modified'),
    testsGenerated: t.exposeInt('tests_generated'),
    securityIssues: t.exposeInt('security_issues'),
    codeIssues: t.exposeInt('code_issues'),
    failedAgents: t.exposeStringList('failed_agents'),
    summary: t.exposeString('summary'),
  }),
});

export const OrchestrationRef = builder.objectRef<Orchestration>('Orchestration');

const OrchestrationFilter = builder.inputType('OrchestrationFilter', {
  description: 'Narrows the orchestration list; the fields combine with AND, a list field matches any of its values (tags: all of them).',
  fields: (t) => listFilterFields(t, OrchestrationStatus, { items: 'Orchestrations', searched: 'the goal' }, {}),
});

builder.node(OrchestrationRef, {
  authScopes: { sees: 'orchestrations' },
  description: 'Several agents working toward one goal; each agent is an ordinary task.',
  id: { resolve: (o) => o.id },
  loadOne: (id, ctx) => getOrchestration(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    goal: t.exposeString('goal'),
    strategy: t.exposeString('strategy', { description: 'parallel or sequential.' }),
    failurePolicy: t.exposeString('failurePolicy', { description: 'best_effort or fail_fast.' }),
    status: t.field({ type: OrchestrationStatus, resolve: (o) => o.status }),
    teamId: t.exposeID('teamId', { nullable: true }),
    agents: t.field({ type: [TaskRef], description: 'The agents\' tasks, in order.', resolve: (o, _a, ctx) => ctx.loaders.orchestrationTasks.load(o.id) }),
    aggregatedResult: t.field({ type: Aggregated, nullable: true, resolve: (o) => (o.aggregatedResult as AggregatedResult | null) ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (o) => o.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (o) => o.completedAt }),
    tags: t.exposeStringList('tags', { description: 'Labels given at submission (its agents\' tasks carry them too).' }),
    metadata: t.field({ type: 'JSONObject', description: 'The JSON object given at submission ({} when none was).', resolve: (o) => o.metadata }),
    estimatedCompletion: t.field({
      type: 'DateTime',
      description: "When it should be done, from its agents' estimated durations: the slowest agent's for parallel, their sum for sequential.",
      resolve: (o, _a, ctx) => estimatedCompletion(ctx.deps, o),
    }),
    totalDurationSeconds: t.float({ nullable: true, resolve: (o) => (o.completedAt ? (o.completedAt.getTime() - o.createdAt.getTime()) / 1000 : null) }),
    totalTokensUsed: t.int({
      resolve: async (o, _a, ctx) => (await ctx.loaders.orchestrationTasks.load(o.id)).reduce((n, task) => n + task.promptTokens + task.completionTokens, 0),
    }),
  }),
});

builder.queryFields((t) => ({
  orchestration: t.field({
    type: OrchestrationRef,
    authScopes: { $all: { read: true, sees: 'orchestrations' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getOrchestration(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  orchestrations: t.connection(
    {
      type: OrchestrationRef,
      description: "Your orchestrations, or a team's with teamId; narrowed by filter; newest first (at most 100 per page).",
      authScopes: { $all: { read: true, sees: 'orchestrations' } },
      args: { filter: t.arg({ type: OrchestrationFilter }), teamId: t.arg.id({ description: 'A team you belong to (the same as filter.teamId).' }) },
      resolve: async (_r, args, ctx) => {
        const filter = toListFilter({ ...args.filter, teamId: args.filter?.teamId ?? args.teamId });
        const page = await listOrchestrations(ctx.deps, callerOf(ctx), { filter, first: args.first, after: args.after, last: args.last, before: args.before });
        return countedConnectionOf(page);
      },
    },
    countedConnection('OrchestrationConnection', 'Orchestrations'),
  ),
}));

const OrchestrationContextInput = builder.inputType('OrchestrationContextInput', {
  fields: (t) => ({
    files: t.field({ type: [FileInput], description: 'Files to analyse; with a repository they stand in for its files at the same paths.' }),
    repository: t.string({ description: "Repository every agent analyses: an https URL on a public host, or a path under the server's REPOSITORY_ROOT." }),
    branch: t.string({ description: "The repository's branch (its default branch when left out)." }),
    paths: t.stringList({ description: 'Narrows the files to these paths or globs, relative to the repository root.' }),
    language: t.string(),
    framework: t.string(),
  }),
});

const StartOrchestrationInput = builder.inputType('StartOrchestrationInput', {
  fields: (t) => ({
    goal: t.string({ required: true }),
    strategy: t.string({ description: 'parallel (default) or sequential (each agent receives the previous agents\' results).' }),
    failurePolicy: t.string({ description: 'best_effort (default) or fail_fast.' }),
    agents: t.stringList({ required: true, description: 'Agent types, in order.' }),
    context: t.field({ type: OrchestrationContextInput, required: true }),
    timeoutSeconds: t.int(),
    teamId: t.id(),
    tags: t.stringList({ description: 'Up to 10 labels (each 1 to 40 characters of letters, digits, _ . : -); its agents\' tasks carry them too.' }),
    metadata: t.field({ type: 'JSONObject', description: 'A flat JSON object returned as given: at most 32 keys, values strings (up to 500 characters), numbers, booleans or null, 4 KB in all.' }),
  }),
});

const StartPayload = builder.objectRef<{ orchestration: Orchestration; replayed: boolean }>('StartOrchestrationPayload').implement({
  fields: (t) => ({ orchestration: t.field({ type: OrchestrationRef, resolve: (p) => p.orchestration }), replayed: t.exposeBoolean('replayed') }),
});
const CancelPayload = builder.objectRef<{ orchestration: Orchestration; replayed?: boolean }>('CancelOrchestrationPayload').implement({
  fields: (t) => ({ orchestration: t.field({ type: OrchestrationRef, resolve: (p) => p.orchestration }), replayed: replayedField(t) }),
});

builder.mutationFields((t) => ({
  startOrchestration: t.field({
    type: StartPayload,
    description: 'Runs several agents toward one goal, in parallel or in sequence.',
    extensions: { cost: 5 }, // a bulk operation: several agents for one request
    args: { input: t.arg({ type: StartOrchestrationInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { id, replayed } = await startOrchestration(ctx.deps, caller, { ...input, strategy: input.strategy ?? undefined, failurePolicy: input.failurePolicy ?? undefined, timeoutSeconds: input.timeoutSeconds ?? undefined, teamId: input.teamId == null ? undefined : String(input.teamId) }, idempotencyKey);
      return { orchestration: await getOrchestration(ctx.deps, caller, id), replayed };
    },
  }),
  cancelOrchestration: t.field({
    type: CancelPayload,
    description: 'Cancels the orchestration and every agent still running.',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) =>
      changeOnceFor(
        ctx,
        'cancelOrchestration',
        args,
        async () => ({ orchestration: await cancelOrchestration(ctx.deps, callerOf(ctx), String(args.id)) }),
        (p) => p.orchestration.id,
        async (id) => ({ orchestration: await getOrchestration(ctx.deps, callerOf(ctx), id) }),
      ),
  }),
}));

const OrchestrationEventRef = builder.objectRef<StoredEvent>('OrchestrationEvent').implement({
  description: "One event of an orchestration: an agent's progress, result or error, or (type ORCHESTRATION, last) its end.",
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Per-orchestration sequence number; resume with since.' }),
    type: t.string({ description: 'progress, result, error (an agent) or orchestration (the end).', resolve: (e) => e.type }),
    taskId: t.id({ nullable: true, resolve: (e) => (e.data.taskId as string | undefined) ?? null }),
    agentType: t.string({ nullable: true, resolve: (e) => (e.data.agentType as string | undefined) ?? null }),
    status: t.string({ resolve: (e) => String(e.data.status) }),
    progress: t.int({ resolve: (e) => Number(e.data.progress ?? 0) }),
    message: t.string({ resolve: (e) => String((e.data.message as string | null | undefined) ?? '') }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

builder.subscriptionField('orchestrationEvents', (t) =>
  t.field({
    type: OrchestrationEventRef,
    description: "Every agent's progress, interleaved, then the orchestration's end; resumable with since.",
    authScopes: { $all: { read: true, sees: 'orchestrations' } },
    args: { id: t.arg.id({ required: true }), since: t.arg.int({ defaultValue: 0 }) },
    subscribe: async (_r, args, ctx) => {
      const o = await getOrchestration(ctx.deps, callerOf(ctx), String(args.id));
      return streamOrchestrationEvents(ctx.deps, o.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);
