/** /v1/agents: execute, get, list and cancel agent tasks. */
import { z } from 'zod';
import { INT32_MAX, intForService } from '../../bounded-int.js';
import { TaskTimeoutError } from '../../errors.js';
import { codeIn, vocabularyOf } from '../envelope.js';
import { TASK_PAGE_MAX } from '../../services/tasks/query-tasks.js';
import { TASK_MAX_TOKENS } from '../../services/tasks/task-input.js';
import { defineRoute, idempotencyKey, lower, oneOf } from '../route.js';
import { filterVariables, taskFilterQuery } from '../list-filters.js';
import { listQuery, listResponse, pageVariables, pageReply } from '../pagination.js';
import { graphql, type ResultOf } from '../graphql.js';

const TaskFields = graphql(`
  fragment RestTask on Task {
    id
    agentType
    teamId
    status
    progress
    queuePosition
    queueReason
    createdAt
    startedAt
    completedAt
    durationSeconds
    estimatedDurationSeconds
    result {
      summary
      findings { ruleId severity title description file line suggestion }
      files { path content tests }
      analysis { mode builtinFindings modelFindings note }
    }
    error { code message }
    tokensUsed { prompt completion total }
    costUsd
    tags
    metadata
    resultUrl
    websocketUrl
  }
`);

const statuses = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;

const severities = ['critical', 'high', 'medium', 'low'] as const;

const FindingJson = z.object({
  rule_id: z.string(),
  severity: z.enum(severities),
  title: z.string(),
  description: z.string(),
  file: z.string(),
  line: z.number().int(),
  suggestion: z.string(),
});

const TaskResultJson = z.object({
  findings: z.array(FindingJson),
  summary: z.string(),
  files: z.array(z.object({ path: z.string(), content: z.string(), tests: z.number().int() })).optional().describe('Files the agent wrote (test_gen).'),
  analysis: z
    .object({ mode: z.enum(['builtin', 'builtin+model']), builtin_findings: z.number().int(), model_findings: z.number().int(), note: z.string().nullable() })
    .optional()
    .describe('code_expert: whether the model reviewed the files after the built-in analysis, and why not when it did not.'),
});
const TaskErrorJson = z.object({ code: z.string(), message: z.string() });

export const TaskJson = z.object({
  task_id: z.string(),
  status: z.enum(statuses),
  progress: z.number().int(),
  queue_position: z.number().int().nullable().describe("While queued: the task's place among your queued tasks (1 = next)."),
  queue_reason: z.string().nullable().describe('While queued because no worker serves its queue (which queue, and that it starts when one does) or the task engine is unreachable.'),
  agent_type: z.string(),
  team_id: z.string().nullable(),
  created_at: z.iso.datetime(),
  started_at: z.iso.datetime().nullable(),
  completed_at: z.iso.datetime().nullable(),
  duration_seconds: z.number().nullable(),
  estimated_duration_seconds: z.number().int(),
  result: TaskResultJson.nullable(),
  error: TaskErrorJson.nullable(),
  tokens_used: z.object({ prompt: z.number().int(), completion: z.number().int(), total: z.number().int() }),
  cost_usd: z.number(),
  tags: z.array(z.string()).describe('Labels given at submission.'),
  metadata: z.record(z.string(), z.unknown()).describe('The JSON object given at submission ({} when none was).'),
  result_url: z.string(),
  websocket_url: z.string(),
});

/** GraphQL findings (camelCase) in the spec's JSON. */
export function findingsJson(
  findings: ReadonlyArray<{ ruleId: string; severity: string; title: string; description: string; file: string; line: number; suggestion: string }>,
): Array<z.input<typeof FindingJson>> {
  return findings.map((f) => ({
    rule_id: f.ruleId,
    severity: oneOf(severities, f.severity),
    title: f.title,
    description: f.description,
    file: f.file,
    line: f.line,
    suggestion: f.suggestion,
  }));
}

/** A `RestTask` fragment in the spec's JSON. */
export function taskJson(t: ResultOf<typeof TaskFields>): z.input<typeof TaskJson> {
  return {
    task_id: t.id,
    status: lower(t.status),
    progress: t.progress,
    queue_position: t.queuePosition,
    queue_reason: t.queueReason,
    agent_type: t.agentType,
    team_id: t.teamId,
    created_at: t.createdAt,
    started_at: t.startedAt,
    completed_at: t.completedAt,
    duration_seconds: t.durationSeconds,
    estimated_duration_seconds: t.estimatedDurationSeconds,
    result: t.result && {
      findings: findingsJson(t.result.findings),
      summary: t.result.summary,
      ...(t.result.files?.length ? { files: t.result.files } : {}),
      ...(t.result.analysis
        ? { analysis: { mode: oneOf(['builtin', 'builtin+model'], t.result.analysis.mode), builtin_findings: t.result.analysis.builtinFindings, model_findings: t.result.analysis.modelFindings, note: t.result.analysis.note } }
        : {}),
    },
    error: t.error && { code: t.error.code.toLowerCase(), message: t.error.message },
    tokens_used: t.tokensUsed,
    cost_usd: t.costUsd,
    tags: t.tags,
    metadata: t.metadata,
    result_url: t.resultUrl,
    websocket_url: t.websocketUrl,
  };
}

const TaskIdParams = z.object({ task_id: z.string().min(1) });

const ExecuteBody = z
  .object({
    task: z.string().describe('What the agent should do, in natural language.'),
    agent_type: z.string().describe('An agent from the catalog, e.g. security_expert.'),
    context: z
      .object({
        files: z.array(z.object({ path: z.string(), content: z.string() }).strict()).optional().describe('Files to analyse; with a repository they stand in for its files at the same paths.'),
        repository: z.string().nullish().describe("Repository to clone and analyse: an https URL on a public host, or a path under the server's REPOSITORY_ROOT."),
        branch: z.string().nullish().describe("The repository's branch (its default branch when left out)."),
        paths: z.array(z.string()).nullish().describe('Narrows the files to these paths or globs, relative to the repository root (e.g. src, src/**/*.ts).'),
      })
      .strict()
      .optional(),
    max_tokens: intForService(1, TASK_MAX_TOKENS).nullish(),
    temperature: z.number().nullish(),
    timeout_seconds: intForService(1, INT32_MAX).nullish().describe("Time limit in seconds, at most the server's TASK_MAX_TIMEOUT_SECONDS (3600 unless the operator changed it); the task ends timed_out past it."),
    team_id: z.string().nullish().describe('Run the task for a team you are a member of; its members then see it.'),
    project_id: z.string().nullish().describe("Analyse this project's indexed files instead of context.files or context.repository."),
    tags: z.array(z.string()).nullish().describe('Up to 10 labels to filter by, each 1 to 40 characters of letters, digits, _ . : -.'),
    metadata: z.record(z.string(), z.unknown()).nullish().describe('A flat JSON object returned as given: at most 32 keys, values strings (up to 500 characters), numbers, booleans or null, 4 KB in all.'),
  })
  .strict();

export const agentRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/agents/types',
    operationId: 'listAgentTypes',
    summary: 'The agent catalog: each agent_type with what it does, its inputs, its queue and whether it needs a model',
    tag: 'Agents',
    successStatus: 200,
    response: z.object({
      object: z.literal('list'),
      data: z.array(z.object({ agent_type: z.string(), description: z.string(), inputs: z.array(z.string()), queue: z.enum(['cpu', 'gpu']), needs_model: z.boolean() })),
    }),
    document: graphql(`query AgentTypes { agentTypes { type description inputs queue needsModel } }`),
    variables: () => ({}),
    reply: (data) => ({
      object: 'list' as const,
      data: data.agentTypes.map((a) => ({ agent_type: a.type, description: a.description, inputs: a.inputs, queue: oneOf(['cpu', 'gpu'], a.queue), needs_model: a.needsModel })),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/agents/execute',
    operationId: 'executeAgentTask',
    summary: 'Run an agent task',
    tag: 'Agents',
    successStatus: 202,
    idempotent: true,
    body: ExecuteBody,
    response: z.object({
      task_id: z.string(),
      status: z.enum(statuses),
      estimated_duration_seconds: z.number().int(),
      result_url: z.string(),
      websocket_url: z.string(),
    }),
    errors: ['idempotency_conflict', 'payload_too_large', 'service_unavailable'],
    document: graphql(`
  mutation ExecuteAgentTask($input: ExecuteAgentTaskInput!, $idempotencyKey: String) {
    executeAgentTask(input: $input, idempotencyKey: $idempotencyKey) {
      replayed
      task { id status estimatedDurationSeconds resultUrl websocketUrl }
    }
  }
`),
    variables: ({ body, headers }) => ({
      input: {
        task: body.task,
        agentType: body.agent_type,
        context: body.context,
        maxTokens: body.max_tokens,
        temperature: body.temperature,
        timeoutSeconds: body.timeout_seconds,
        teamId: body.team_id,
        projectId: body.project_id,
        tags: body.tags,
        metadata: body.metadata,
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => {
      const t = data.executeAgentTask.task;
      return {
        task_id: t.id,
        status: lower(t.status),
        estimated_duration_seconds: t.estimatedDurationSeconds,
        result_url: t.resultUrl,
        websocket_url: t.websocketUrl,
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/tasks',
    operationId: 'listAgentTasks',
    summary: "List the caller's tasks (or a team's), filtered, newest first, with the total that match",
    tag: 'Agents',
    successStatus: 200,
    query: listQuery(TASK_PAGE_MAX, 'task').extend(taskFilterQuery).strict(),
    response: listResponse(TaskJson).extend({ total_count: z.number().int().describe('Tasks matching the filter, all pages together.') }),
    document: graphql(`
  query ListTasks($filter: TaskFilter, $first: Int, $after: String, $last: Int, $before: String) {
    tasks(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { node { ...RestTask } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [TaskFields]),
    variables: ({ query }) => ({ ...pageVariables(query), filter: { ...filterVariables(query), agentType: query.agent_type?.length ? query.agent_type : null } }),
    reply: (data, req) => ({ ...pageReply(data.tasks, taskJson, '/v1/agents/tasks', req.query), total_count: data.tasks.totalCount }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/tasks/{task_id}',
    operationId: 'getAgentTask',
    summary: 'Get task status and result (a failed task answers 200 with its error; a timed-out task answers 408 task_timeout with the task in details)',
    tag: 'Agents',
    successStatus: 200,
    params: TaskIdParams,
    response: TaskJson,
    errors: ['task_timeout'],
    document: graphql(`
  query GetTask($id: ID!) {
    task(id: $id) { ...RestTask }
  }
`, [TaskFields]),
    variables: ({ params }) => ({ id: params.task_id }),
    reply: (data, req) => {
      const task = taskJson(data.task);
      // A failed task is still a 200 (polling clients read its error); its code follows Codex-Error-Codes.
      if (task.error) task.error.code = codeIn(vocabularyOf(req.headers) ?? 'snake', task.error.code);
      if (task.status === 'timed_out') {
        throw new TaskTimeoutError(`Task ${task.task_id} exceeded its time limit and was stopped.`, { task });
      }
      return task;
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/agents/tasks/{task_id}',
    operationId: 'cancelAgentTask',
    summary: 'Cancel a queued or running task',
    tag: 'Agents',
    successStatus: 200,
    idempotent: true,
    params: TaskIdParams,
    response: z.object({ success: z.boolean(), task_id: z.string(), status: z.literal('cancelled') }),
    errors: ['task_not_cancellable'],
    document: graphql(`
  mutation CancelTask($id: ID!, $idempotencyKey: String) {
    cancelTask(id: $id, idempotencyKey: $idempotencyKey) { replayed task { id status } }
  }
`),
    variables: ({ params, headers }) => ({ id: params.task_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ success: true, task_id: data.cancelTask.task.id, status: 'cancelled' as const }),
  }),
];
