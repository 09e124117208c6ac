/** /v1/agents/orchestrate and /v1/agents/orchestrations: start, get, list and cancel multi-agent runs. */
import { z } from 'zod';
import { INT32_MAX, intForService } from '../../bounded-int.js';
import { ORCHESTRATION_PAGE_MAX } from '../../services/orchestrations.js';
import { filterVariables, listFilterQuery } from '../list-filters.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, lower, oneOf } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';

const OrchestrationFields = graphql(`
  fragment RestOrchestration on Orchestration {
    id goal strategy failurePolicy status teamId tags metadata createdAt completedAt totalDurationSeconds totalTokensUsed
    agents { id agentType status startedAt completedAt durationSeconds }
    aggregatedResult { filesModified testsGenerated securityIssues codeIssues failedAgents summary }
  }
`);

const statuses = ['in_progress', 'completed', 'partial', 'failed', 'cancelled'] as const;

const OrchestrationJson = z.object({
  orchestration_id: z.string(),
  goal: z.string(),
  status: z.enum(statuses),
  strategy: z.enum(['parallel', 'sequential']),
  failure_policy: z.enum(['best_effort', 'fail_fast']),
  team_id: z.string().nullable(),
  tags: z.array(z.string()).describe('Labels given at submission.'),
  metadata: z.record(z.string(), z.unknown()).describe('The JSON object given at submission ({} when none was).'),
  agents: z.array(z.object({ agent_type: z.string(), task_id: z.string(), status: z.string(), duration_seconds: z.number().nullable() })),
  aggregated_result: z
    .object({
      files_modified: z.number().int(),
      tests_generated: z.number().int(),
      security_issues: z.number().int(),
      code_issues: z.number().int(),
      failed_agents: z.array(z.string()),
      summary: z.string(),
    })
    .nullable()
    .describe('null while in progress'),
  total_duration_seconds: z.number().nullable(),
  total_tokens_used: z.number().int(),
  created_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
  result_url: z.string(),
});

function orchestrationJson(o: ResultOf<typeof OrchestrationFields>): z.input<typeof OrchestrationJson> {
  const a = o.aggregatedResult;
  return {
    orchestration_id: o.id,
    goal: o.goal,
    status: lower(o.status),
    strategy: oneOf(['parallel', 'sequential'], o.strategy),
    failure_policy: oneOf(['best_effort', 'fail_fast'], o.failurePolicy),
    team_id: o.teamId,
    tags: o.tags,
    metadata: o.metadata,
    agents: o.agents.map((t) => ({ agent_type: t.agentType, task_id: t.id, status: lower(t.status), duration_seconds: t.durationSeconds })),
    aggregated_result: a && {
      files_modified: a.filesModified,
      tests_generated: a.testsGenerated,
      security_issues: a.securityIssues,
      code_issues: a.codeIssues,
      failed_agents: a.failedAgents,
      summary: a.summary,
    },
    total_duration_seconds: o.totalDurationSeconds,
    total_tokens_used: o.totalTokensUsed,
    created_at: o.createdAt,
    completed_at: o.completedAt,
    result_url: `/v1/agents/orchestrations/${o.id}`,
  };
}

const IdParams = z.object({ orchestration_id: z.string() });

export const orchestrationRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/agents/orchestrate',
    operationId: 'startOrchestration',
    summary: 'Run several agents toward one goal (each is a task you can watch and cancel)',
    tag: 'Agents',
    successStatus: 202,
    idempotent: true,
    body: z
      .object({
        goal: z.string(),
        strategy: z.enum(['parallel', 'sequential']).optional(),
        failure_policy: z.enum(['best_effort', 'fail_fast']).optional(),
        agents: z.array(z.string()),
        context: z
          .object({
            files: z.array(z.object({ path: z.string(), content: z.string() }).strict()).optional(),
            repository: z.string().optional().describe("Repository every agent analyses: an https URL on a public host, or a path under the server's REPOSITORY_ROOT."),
            branch: z.string().optional(),
            paths: z.array(z.string()).optional().describe('Narrows the files to these paths or globs, relative to the repository root.'),
            language: z.string().optional(),
            framework: z.string().optional(),
          })
          .strict(),
        timeout_seconds: intForService(1, INT32_MAX).optional().describe("Each agent's time limit in seconds, at most the server's TASK_MAX_TIMEOUT_SECONDS (3600 unless the operator changed it)."),
        team_id: z.string().optional(),
        tags: z.array(z.string()).optional().describe("Up to 10 labels (each 1 to 40 characters of letters, digits, _ . : -); its agents' tasks carry them too."),
        metadata: z.record(z.string(), z.unknown()).optional().describe('A flat JSON object returned as given: at most 32 keys, values strings (up to 500 characters), numbers, booleans or null, 4 KB in all.'),
      })
      .strict(),
    response: z.object({
      orchestration_id: z.string(),
      status: z.literal('in_progress'),
      agents_running: z.number().int(),
      estimated_completion: z.iso.datetime(),
      result_url: z.string(),
    }),
    errors: ['idempotency_conflict', 'service_unavailable'],
    document: graphql(`
  mutation StartOrchestration($input: StartOrchestrationInput!, $idempotencyKey: String) {
    startOrchestration(input: $input, idempotencyKey: $idempotencyKey) { replayed orchestration { ...RestOrchestration estimatedCompletion } }
  }
`, [OrchestrationFields]),
    variables: ({ body, headers }) => ({
      input: {
        goal: body.goal,
        strategy: body.strategy,
        failurePolicy: body.failure_policy,
        agents: body.agents,
        context: body.context,
        timeoutSeconds: body.timeout_seconds,
        teamId: body.team_id,
        tags: body.tags,
        metadata: body.metadata,
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => {
      const o = data.startOrchestration.orchestration;
      return {
        orchestration_id: o.id,
        status: 'in_progress' as const,
        agents_running: o.strategy === 'parallel' ? o.agents.length : 1,
        estimated_completion: o.estimatedCompletion,
        result_url: `/v1/agents/orchestrations/${o.id}`,
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/orchestrations',
    operationId: 'listOrchestrations',
    summary: "Your orchestrations (or a team's), filtered, newest first, with the total that match",
    tag: 'Agents',
    successStatus: 200,
    query: listQuery(ORCHESTRATION_PAGE_MAX, 'orchestration').extend(listFilterQuery(statuses)).strict(),
    response: listResponse(OrchestrationJson).extend({ total_count: z.number().int().describe('Orchestrations matching the filter, all pages together.') }),
    document: graphql(`
  query ListOrchestrations($filter: OrchestrationFilter, $first: Int, $after: String, $last: Int, $before: String) {
    orchestrations(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { node { ...RestOrchestration } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [OrchestrationFields]),
    variables: ({ query }) => ({ ...pageVariables(query), filter: filterVariables(query) }),
    reply: (data, req) => ({ ...pageReply(data.orchestrations, orchestrationJson, '/v1/agents/orchestrations', req.query), total_count: data.orchestrations.totalCount }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/orchestrations/{orchestration_id}',
    operationId: 'getOrchestration',
    summary: 'Status of every agent, the aggregated result, total duration and tokens',
    tag: 'Agents',
    successStatus: 200,
    params: IdParams,
    response: OrchestrationJson,
    document: graphql(`query GetOrchestration($id: ID!) { orchestration(id: $id) { ...RestOrchestration } }`, [OrchestrationFields]),
    variables: ({ params }) => ({ id: params.orchestration_id }),
    reply: (data) => orchestrationJson(data.orchestration),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/agents/orchestrations/{orchestration_id}',
    operationId: 'cancelOrchestration',
    summary: 'Cancel the orchestration and every agent still running',
    tag: 'Agents',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: OrchestrationJson,
    errors: ['orchestration_not_cancellable'],
    document: graphql(`mutation CancelOrchestration($id: ID!, $idempotencyKey: String) { cancelOrchestration(id: $id, idempotencyKey: $idempotencyKey) { replayed orchestration { ...RestOrchestration } } }`, [OrchestrationFields]),
    variables: ({ params, headers }) => ({ id: params.orchestration_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => orchestrationJson(data.cancelOrchestration.orchestration),
  }),
];
