import { agentCatalog, type AgentDefinition } from '../../src/agents/catalog.js';
import type { Finding } from '../../src/agents/security-expert.js';
import type { TaskStatus as DbTaskStatus } from '../../src/generated/prisma/enums.js';
import { cancelTask } from '../../src/services/tasks/cancel-task.js';
import { executeAgentTask } from '../../src/services/tasks/execute-task.js';
import { waitingReason, queueStatus } from '../../src/services/engine-status.js';
import { getTask, listTasks, type TaskRow } from '../../src/services/tasks/query-tasks.js';
import type { TaskEvent } from '../../src/services/tasks/task-events.js';
import { streamTaskEvents } from '../../src/services/tasks/task-events.js';
import type { TaskAnalysis, TaskResult } from '../../src/services/tasks/task-result.js';
import type { GeneratedFile } from '../../src/agents/test-gen.js';
import { callerOf } from '../../src/context.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { countedConnection, countedConnectionOf } from '../connection.js';
import { TaskFilter, toTaskFilter } from './task-filter.js';

const statuses: DbTaskStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'];

export const TaskStatus = builder.enumType('TaskStatus', {
  values: Object.fromEntries(statuses.map((s) => [s.toUpperCase(), { value: s }])) as Record<Uppercase<DbTaskStatus>, { value: DbTaskStatus }>,
});

const FindingRef = builder.objectRef<Finding>('Finding').implement({
  description: 'One problem an agent found, on an exact line.',
  fields: (t) => ({
    ruleId: t.exposeString('ruleId'),
    severity: t.exposeString('severity', { description: 'critical, high, medium or low.' }),
    title: t.exposeString('title'),
    description: t.exposeString('description'),
    file: t.exposeString('file'),
    line: t.exposeInt('line'),
    suggestion: t.exposeString('suggestion'),
  }),
});

const GeneratedFileRef = builder.objectRef<GeneratedFile>('GeneratedFile').implement({
  fields: (t) => ({ path: t.exposeString('path'), content: t.exposeString('content'), tests: t.exposeInt('tests', { description: 'Test cases in it.' }) }),
});

const TaskAnalysisRef = builder.objectRef<TaskAnalysis>('TaskAnalysis').implement({
  description: 'How an agent that can use the model (code_expert) made its findings.',
  fields: (t) => ({
    mode: t.exposeString('mode', { description: 'builtin (the built-in analysis alone) or builtin+model (the model reviewed the files after it).' }),
    builtinFindings: t.exposeInt('builtinFindings'),
    modelFindings: t.exposeInt('modelFindings'),
    note: t.exposeString('note', { nullable: true, description: 'Why the model was not used, when it was not.' }),
  }),
});

const TaskResultRef = builder.objectRef<TaskResult>('TaskResult').implement({
  fields: (t) => ({
    analysis: t.field({ type: TaskAnalysisRef, nullable: true, resolve: (r) => r.analysis ?? null }),
    files: t.field({
      type: [GeneratedFileRef],
      description: 'Files the agent wrote (test_gen: test files).',
      resolve: (r) => r.files ?? [],
    }),
    findings: t.field({ type: [FindingRef], resolve: (r) => r.findings }),
    summary: t.exposeString('summary'),
  }),
});

const TaskErrorRef = builder.objectRef<{ code: string; message: string }>('TaskError').implement({
  fields: (t) => ({
    code: t.string({ description: 'The error code, upper-cased (TASK_TIMEOUT, TASK_CANCELLED, AGENT_ERROR; when its workflow ended in the task engine without it: WORKFLOW_TERMINATED, WORKFLOW_FAILED, WORKFLOW_LOST).', resolve: (e) => e.code.toUpperCase() }),
    message: t.exposeString('message'),
  }),
});

const TokensUsedRef = builder.objectRef<{ prompt: number; completion: number }>('TokensUsed').implement({
  fields: (t) => ({
    prompt: t.exposeInt('prompt'),
    completion: t.exposeInt('completion'),
    total: t.int({ resolve: (u) => u.prompt + u.completion }),
  }),
});

const TaskEventType = builder.enumType('TaskEventType', {
  values: { PROGRESS: { value: 'progress' }, RESULT: { value: 'result' }, ERROR: { value: 'error' } } as const,
});

export const TaskEventRef = builder.objectRef<TaskEvent>('TaskEvent').implement({
  description: 'A progress event of a task. `seq` increases by one per event; resume a stream with `since: <last seq seen>`.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    type: t.field({ type: TaskEventType, resolve: (e) => e.type }),
    taskId: t.exposeID('streamId'),
    status: t.field({ type: TaskStatus, resolve: (e) => e.data.status }),
    progress: t.int({ resolve: (e) => e.data.progress }),
    message: t.string({ resolve: (e) => e.data.message }),
    queuePosition: t.int({ nullable: true, description: 'While waiting for an agent slot: 1 = next to start.', resolve: (e) => e.data.queuePosition ?? null }),
    result: t.field({ type: TaskResultRef, nullable: true, resolve: (e) => e.data.result ?? null }),
    error: t.field({ type: TaskErrorRef, nullable: true, resolve: (e) => e.data.error ?? null }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

export const TaskRef = builder.objectRef<TaskRow>('Task');

builder.node(TaskRef, {
  authScopes: { sees: 'tasks' },
  description: 'An agent task. Its id is also the id of the Temporal workflow that runs it.',
  id: { resolve: (task) => task.id },
  loadOne: (id, ctx) => getTask(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    agentType: t.exposeString('agentType'),
    teamId: t.exposeID('teamId', { nullable: true, description: 'The team the task belongs to; null for a personal task.' }),
    prompt: t.exposeString('prompt', { description: 'The task as submitted.' }),
    status: t.field({ type: TaskStatus, resolve: (task) => task.status }),
    progress: t.exposeInt('progress', { description: 'Percent done, 0 to 100.' }),
    queueReason: t.string({
      nullable: true,
      description: 'Why a queued task has not started when no worker serves its queue, or the task engine is unreachable (it starts when one does, or once it is back).',
      resolve: async (task, _args, ctx) =>
        task.status === 'queued' ? waitingReason(ctx.deps, agentCatalog[task.agentType]?.queue ?? 'cpu').catch(() => null) : null,
    }),
    queuePosition: t.int({
      nullable: true,
      description: "While queued: the task's place among your queued tasks (1 = starts next, when one of your plan's parallel agents is free).",
      resolve: (task, _args, ctx) => ctx.loaders.queuePosition.load(task),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (task) => task.createdAt }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (task) => task.startedAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (task) => task.completedAt }),
    durationSeconds: t.float({
      nullable: true,
      description: 'From start to completion, in seconds.',
      resolve: (task) => (task.startedAt && task.completedAt ? (task.completedAt.getTime() - task.startedAt.getTime()) / 1000 : null),
    }),
    estimatedDurationSeconds: t.exposeInt('estimatedDurationSeconds'),
    timeoutSeconds: t.exposeInt('timeoutSeconds'),
    result: t.field({ type: TaskResultRef, nullable: true, resolve: (task) => (task.result as TaskResult | null) ?? null }),
    error: t.field({ type: TaskErrorRef, nullable: true, resolve: (task) => (task.error as { code: string; message: string } | null) ?? null }),
    tokensUsed: t.field({ type: TokensUsedRef, resolve: (task) => ({ prompt: task.promptTokens, completion: task.completionTokens }) }),
    costUsd: t.exposeFloat('costUsd'),
    tags: t.exposeStringList('tags', { description: 'Labels given at submission.' }),
    metadata: t.field({ type: 'JSONObject', description: 'The JSON object given at submission ({} when none was).', resolve: (task) => task.metadata }),
    resultUrl: t.string({ resolve: (task, _args, ctx) => `${ctx.deps.config.publicUrl}/v1/agents/tasks/${task.id}` }),
    websocketUrl: t.string({
      resolve: (task, _args, ctx) => `${ctx.deps.config.publicUrl.replace(/^http/, 'ws')}/v1/agents/tasks/${task.id}/stream`,
    }),
  }),
});

builder.queryFields((t) => ({
  task: t.field({
    type: TaskRef,
    description: 'One of your tasks or your teams\' tasks; RESOURCE_NOT_FOUND for any other id.',
    authScopes: { $all: { read: true, sees: 'tasks' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getTask(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  tasks: t.connection(
    {
      type: TaskRef,
      description: "Your personal tasks, or a team's tasks with teamId; narrowed by filter; newest first (at most 100 per page).",
      authScopes: { $all: { read: true, sees: 'tasks' } },
      args: {
        filter: t.arg({ type: TaskFilter }),
        status: t.arg({ type: TaskStatus, description: 'One status (filter.status takes several).' }),
        teamId: t.arg.id({ description: 'A team you belong to (the same as filter.teamId).' }),
      },
      resolve: async (_root, args, ctx) => {
        const filter = toTaskFilter(args.filter);
        if (args.status && !filter.status) filter.status = [args.status];
        if (args.teamId != null && filter.teamId == null) filter.teamId = String(args.teamId);
        const page = await listTasks(ctx.deps, callerOf(ctx), { filter, first: args.first, after: args.after, last: args.last, before: args.before });
        return countedConnectionOf(page);
      },
    },
    countedConnection('TaskConnection', 'Tasks'),
  ),
}));

export const FileInput = builder.inputType('FileInput', {
  fields: (t) => ({ path: t.string({ required: true }), content: t.string({ required: true }) }),
});

const TaskContextInput = builder.inputType('TaskContextInput', {
  fields: (t) => ({
    files: t.field({ type: [FileInput], description: 'Files to analyse; with a repository they stand in for its files at the same paths.' }),
    repository: t.string({ description: "Repository to clone and analyse: an https URL on a public host, or a path under the server's REPOSITORY_ROOT." }),
    branch: t.string({ description: "The repository's branch (its default branch when left out)." }),
    paths: t.stringList({ description: 'Narrows the files to these paths or globs, relative to the repository root (e.g. src, src/**/*.ts).' }),
  }),
});

const ExecuteAgentTaskInput = builder.inputType('ExecuteAgentTaskInput', {
  fields: (t) => ({
    task: t.string({ required: true, description: 'What the agent should do, in natural language.' }),
    agentType: t.string({ required: true, description: 'An agent from the catalog, e.g. security_expert.' }),
    context: t.field({ type: TaskContextInput }),
    maxTokens: t.int(),
    temperature: t.float(),
    timeoutSeconds: t.int({ description: 'Time limit; the task ends TIMED_OUT past it. Defaults to the server setting.' }),
    teamId: t.id({ description: 'Run it for a team you are a member (or admin, owner) of; its members then see it.' }),
    projectId: t.id({ description: "Analyse this project's indexed files instead of files or a repository." }),
    tags: t.stringList({ description: 'Up to 10 labels to filter by, each 1 to 40 characters of letters, digits, _ . : -.' }),
    metadata: t.field({ type: 'JSONObject', description: 'A flat JSON object returned as given: at most 32 keys, values strings (up to 500 characters), numbers, booleans or null, 4 KB in all.' }),
  }),
});

const ExecuteAgentTaskPayload = builder.objectRef<{ task: TaskRow; replayed: boolean }>('ExecuteAgentTaskPayload').implement({
  fields: (t) => ({
    task: t.field({ type: TaskRef, resolve: (p) => p.task }),
    replayed: t.exposeBoolean('replayed', { description: 'True when this idempotency key was used before and the first task is returned.' }),
  }),
});

const CancelTaskPayload = builder.objectRef<{ task: TaskRow; replayed?: boolean }>('CancelTaskPayload').implement({
  fields: (t) => ({ task: t.field({ type: TaskRef, resolve: (p) => p.task }), replayed: replayedField(t) }),
});

builder.mutationFields((t) => ({
  executeAgentTask: t.field({
    type: ExecuteAgentTaskPayload,
    description: 'Starts an agent task. With an idempotencyKey, a retry returns the first task instead of starting another.',
    authScopes: { write: true },
    args: {
      input: t.arg({ type: ExecuteAgentTaskInput, required: true }),
      idempotencyKey: t.arg.string({ description: 'Same key and same input: the first result. Kept 24 hours.' }),
    },
    resolve: async (_root, args, ctx) => {
      const { taskId, replayed } = await executeAgentTask(ctx.deps, callerOf(ctx), { ...args.input, projectId: args.input.projectId == null ? args.input.projectId : String(args.input.projectId) }, args.idempotencyKey);
      return { task: await getTask(ctx.deps, callerOf(ctx), taskId), replayed };
    },
  }),
  cancelTask: t.field({
    type: CancelTaskPayload,
    description: 'Cancels a queued or running task; TASK_NOT_CANCELLABLE when it already finished.',
    authScopes: { write: true },
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'cancelTask',
        args,
        async () => ({ task: await cancelTask(ctx.deps, callerOf(ctx), String(args.id)) }),
        (p) => p.task.id,
        async (taskId) => ({ task: await getTask(ctx.deps, callerOf(ctx), taskId) }),
      ),
  }),
}));

builder.subscriptionField('taskEvents', (t) =>
  t.field({
    type: TaskEventRef,
    description: 'Progress of a task: stored events after `since`, then live ones; completes after the RESULT or ERROR event.',
    authScopes: { $all: { read: true, sees: 'tasks' } },
    args: {
      taskId: t.arg.id({ required: true }),
      since: t.arg.int({ defaultValue: 0, description: 'Resume after this sequence number.' }),
    },
    subscribe: async (_root, args, ctx) => {
      const task = await getTask(ctx.deps, callerOf(ctx), String(args.taskId));
      return streamTaskEvents(ctx.deps, task.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);

const AgentTypeRef = builder.objectRef<AgentDefinition>('AgentType').implement({
  description: 'An agent this deployment runs.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'The agent_type to ask for.' }),
    description: t.exposeString('description'),
    inputs: t.exposeStringList('inputs', { description: 'What it reads from the task, e.g. context.files.' }),
    queue: t.exposeString('queue', { description: 'cpu (built-in analysis) or gpu (model inference).' }),
    needsModel: t.exposeBoolean('needsModel'),
  }),
});

builder.queryField('agentTypes', (t) =>
  t.field({
    type: [AgentTypeRef],
    description: 'The agent catalog.',
    authScopes: { read: true },
    resolve: () => Object.values(agentCatalog),
  }),
);

const QueueStatusRef = builder.objectRef<Awaited<ReturnType<typeof queueStatus>>>('QueueStatus').implement({
  fields: (t) => ({
    kind: t.exposeString('kind', { description: 'cpu (workflows and built-in agents) or gpu (model inference).' }),
    name: t.exposeString('name', { description: 'The Temporal task queue.' }),
    workflowPollers: t.exposeInt('workflowPollers'),
    activityPollers: t.exposeInt('activityPollers'),
  }),
});

builder.queryField('engineStatus', (t) =>
  t.field({
    type: [QueueStatusRef],
    description: 'Workers polling each task queue (from Temporal), so a task that waits for a worker is explained.',
    authScopes: { read: true },
    resolve: (_r, _a, ctx) => Promise.all([queueStatus(ctx.deps, 'cpu'), queueStatus(ctx.deps, 'gpu')]),
  }),
);
