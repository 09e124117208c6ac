/** /v1/agents/orchestrate and /v1/agents/orchestrations (spec 004, "エージェント実行"). */
import { z } from 'zod';
import { INT32_MAX, intForService } from '../../bounded-int.js';
import { ORCHESTRATION_PAGE_MAX } from '../../services/orchestrations.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute } from '../route.js';
import { operation } from './operations.js';

const statuses = ['in_progress', 'completed', 'partial', 'failed', 'cancelled'] as const;

const OrchestrationJson = z.object({
  orchestration_id: z.string(),
  goal: z.string(),
  status: z.enum(statuses),
  strategy: z.enum(['parallel', 'sequential']),
  failure_policy: z.enum(['best_effort', 'fail_fast']),
  team_id: z.string().nullable(),
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
  created_at: z.string(),
  completed_at: z.string().nullable(),
  result_url: z.string(),
});

function orchestrationJson(o: any): z.infer<typeof OrchestrationJson> {
  const a = o.aggregatedResult;
  return {
    orchestration_id: o.id,
    goal: o.goal,
    status: o.status.toLowerCase(),
    strategy: o.strategy,
    failure_policy: o.failurePolicy,
    team_id: o.teamId,
    agents: o.agents.map((t: any) => ({ agent_type: t.agentType, task_id: t.id, status: t.status.toLowerCase(), duration_seconds: t.durationSeconds })),
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
    cost: 5,
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
      })
      .strict(),
    response: z.object({
      orchestration_id: z.string(),
      status: z.literal('in_progress'),
      agents_running: z.number().int(),
      estimated_completion: z.string(),
      result_url: z.string(),
    }),
    errors: ['idempotency_conflict', 'service_unavailable'],
    document: operation('start-orchestration', 'orchestration-fields'),
    variables: ({ body, headers }) => ({
      input: {
        goal: body.goal,
        strategy: body.strategy,
        failurePolicy: body.failure_policy,
        agents: body.agents,
        context: body.context,
        timeoutSeconds: body.timeout_seconds,
        teamId: body.team_id,
      },
      idempotencyKey: headers['idempotency-key'] ?? null,
    }),
    reply: (data: any) => {
      const o = data.startOrchestration.orchestration;
      // Parallel agents finish with the slowest; sequential ones one after another.
      const estimates: number[] = o.agents.map((t: any) => t.estimatedDurationSeconds);
      const estimate = o.strategy === 'sequential' ? estimates.reduce((a, b) => a + b, 0) : Math.max(...estimates);
      return {
        orchestration_id: o.id,
        status: 'in_progress' as const,
        agents_running: o.strategy === 'parallel' ? o.agents.length : 1,
        estimated_completion: new Date(new Date(o.createdAt).getTime() + estimate * 1000).toISOString(),
        result_url: `/v1/agents/orchestrations/${o.id}`,
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/orchestrations',
    operationId: 'listOrchestrations',
    summary: 'Your orchestrations, newest first',
    tag: 'Agents',
    successStatus: 200,
    query: listQuery(ORCHESTRATION_PAGE_MAX, 'orchestration').extend({ team_id: z.string().optional() }).strict(),
    response: listResponse(OrchestrationJson),
    document: operation('list-orchestrations', 'orchestration-fields'),
    variables: ({ query }) => ({ ...pageVariables(query), teamId: query.team_id ?? null }),
    reply: (data: any, req) => pageReply(data.orchestrations, orchestrationJson, '/v1/agents/orchestrations', req.query),
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
    document: operation('get-orchestration', 'orchestration-fields'),
    variables: ({ params }) => ({ id: params.orchestration_id }),
    reply: (data: any) => orchestrationJson(data.orchestration),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/agents/orchestrations/{orchestration_id}',
    operationId: 'cancelOrchestration',
    summary: 'Cancel the orchestration and every agent still running',
    tag: 'Agents',
    successStatus: 200,
    params: IdParams,
    response: OrchestrationJson,
    errors: ['orchestration_not_cancellable'],
    document: operation('cancel-orchestration', 'orchestration-fields'),
    variables: ({ params }) => ({ id: params.orchestration_id }),
    reply: (data: any) => orchestrationJson(data.cancelOrchestration.orchestration),
  }),
];
