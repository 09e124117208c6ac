/**
 * Run management: rerun a task or an orchestration (POST …/{id}/rerun), and bulk operations that
 * cancel or rerun every task matching a filter (POST /v1/agents/bulk, GET /v1/agents/bulk/{id}).
 */
import { z } from 'zod';
import { defineRoute, idempotencyKey, lower, upper, type RestRoute, type TypedRestRoute } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';

const statuses = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out'] as const;

export const BulkFields = graphql(`
  fragment RestBulkOperation on BulkOperation {
    id action status teamId matched processed succeeded skipped failed creditsCharged createdAt completedAt
  }
`);

export const BulkJson = z.object({
  bulk_id: z.string(),
  action: z.enum(['cancel', 'rerun']),
  status: z.enum(['running', 'completed', 'failed']),
  team_id: z.string().nullable(),
  matched: z.number().int().describe('Tasks that matched at the start: the snapshot it works through.'),
  processed: z.number().int(),
  succeeded: z.number().int(),
  skipped: z.number().int().describe('Nothing to do: cancelling a task that had already finished, or a task gone since.'),
  failed: z.number().int(),
  credits_charged: z.number().int().describe('matched × the unit cost of the action (1), charged before it starts.'),
  created_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
  result_url: z.string(),
});

export function bulkJson(op: ResultOf<typeof BulkFields>): z.input<typeof BulkJson> {
  return {
    bulk_id: op.id,
    action: op.action === 'CANCEL' ? 'cancel' : 'rerun',
    status: op.status === 'RUNNING' ? 'running' : op.status === 'COMPLETED' ? 'completed' : 'failed',
    team_id: op.teamId,
    matched: op.matched,
    processed: op.processed,
    succeeded: op.succeeded,
    skipped: op.skipped,
    failed: op.failed,
    credits_charged: op.creditsCharged,
    created_at: op.createdAt,
    completed_at: op.completedAt,
    result_url: `/v1/agents/bulk/${op.id}`,
  };
}

const dateBound = z.string().describe('An ISO 8601 date (2025-11-01) or timestamp.');

const FilterBody = z
  .object({
    status: z.array(z.enum(statuses)).optional().describe('Any of these statuses.'),
    agent_type: z.array(z.string()).optional(),
    tag: z.array(z.string()).optional().describe('Tasks carrying every one of these tags.'),
    team_id: z.string().optional().describe("A team you are a member of: its tasks instead of your personal ones."),
    created_after: dateBound.optional(),
    created_before: dateBound.optional(),
    finished_after: dateBound.optional(),
    finished_before: dateBound.optional(),
    q: z.string().optional().describe("Text in the task's prompt or tags."),
    task_id: z.array(z.string()).optional().describe('Only these tasks (at most 100), e.g. the ones a person selected.'),
  })
  .strict();

/** The variables of a rerun mutation: the original's id and the request's Idempotency-Key. */
interface RerunVariables {
  id: string;
  idempotencyKey?: string | null;
}

/**
 * A rerun route: POST `path`, whose parameter `param` names the original (left unchanged);
 * answers 202 with what started, and accepts Idempotency-Key.
 */
function rerunRoute<K extends string, D, R>(
  route: { param: K } & Pick<TypedRestRoute<unknown, unknown, Record<K, string>, D, RerunVariables, R>, 'path' | 'operationId' | 'summary' | 'response' | 'document' | 'reply'>,
): RestRoute {
  const { param, ...rest } = route;
  return defineRoute<unknown, unknown, Record<K, string>, D, RerunVariables, R>({
    method: 'POST',
    tag: 'Agents',
    successStatus: 202,
    idempotent: true,
    params: z.object({ [param]: z.string().min(1) }) as unknown as z.ZodType<Record<K, string>>,
    errors: ['idempotency_conflict', 'service_unavailable'],
    variables: ({ params, headers }) => ({ id: params[param], idempotencyKey: idempotencyKey(headers) }),
    ...rest,
  });
}

export const bulkRoutes = [
  rerunRoute({
    path: '/v1/agents/tasks/{task_id}/rerun',
    param: 'task_id',
    operationId: 'rerunAgentTask',
    summary: 'Start a new task with the same input as this one (the original is unchanged)',
    response: z.object({
      task_id: z.string(),
      rerun_of: z.string(),
      status: z.enum(statuses),
      estimated_duration_seconds: z.number().int(),
      result_url: z.string(),
      websocket_url: z.string(),
    }),
    document: graphql(`
  mutation RerunTask($id: ID!, $idempotencyKey: String) {
    rerunTask(id: $id, idempotencyKey: $idempotencyKey) { replayed task { id rerunOfId status estimatedDurationSeconds resultUrl websocketUrl } }
  }
`),
    reply: (data) => {
      const t = data.rerunTask.task;
      return {
        task_id: t.id,
        rerun_of: t.rerunOfId ?? '',
        status: lower(t.status),
        estimated_duration_seconds: t.estimatedDurationSeconds,
        result_url: t.resultUrl,
        websocket_url: t.websocketUrl,
      };
    },
  }),
  rerunRoute({
    path: '/v1/agents/orchestrations/{orchestration_id}/rerun',
    param: 'orchestration_id',
    operationId: 'rerunOrchestration',
    summary: 'Start the orchestration again with the same goal, agents and context (the original is unchanged)',
    response: z.object({ orchestration_id: z.string(), rerun_of: z.string(), status: z.literal('in_progress'), agents_running: z.number().int(), result_url: z.string() }),
    document: graphql(`
  mutation RerunOrchestration($id: ID!, $idempotencyKey: String) {
    rerunOrchestration(id: $id, idempotencyKey: $idempotencyKey) { replayed orchestration { id rerunOfId strategy agents { id } } }
  }
`),
    reply: (data) => {
      const o = data.rerunOrchestration.orchestration;
      return {
        orchestration_id: o.id,
        rerun_of: o.rerunOfId ?? '',
        status: 'in_progress' as const,
        agents_running: o.strategy === 'parallel' ? o.agents.length : 1,
        result_url: `/v1/agents/orchestrations/${o.id}`,
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/agents/bulk',
    operationId: 'startBulkOperation',
    summary: 'Cancel or rerun every task matching a filter (at most 10,000 by default; 1 credit plus 1 per matched task)',
    tag: 'Agents',
    successStatus: 202,
    idempotent: true,
    body: z.object({ action: z.enum(['cancel', 'rerun']), filter: FilterBody }).strict(),
    response: BulkJson,
    errors: ['idempotency_conflict', 'service_unavailable'],
    document: graphql(`
  mutation StartBulkOperation($action: BulkAction!, $filter: TaskFilter!, $idempotencyKey: String) {
    startBulkOperation(action: $action, filter: $filter, idempotencyKey: $idempotencyKey) { replayed operation { ...RestBulkOperation } }
  }
`, [BulkFields]),
    variables: ({ body, headers }) => ({
      action: body.action === 'cancel' ? ('CANCEL' as const) : ('RERUN' as const),
      filter: {
        status: body.filter.status?.map(upper),
        agentType: body.filter.agent_type,
        tags: body.filter.tag,
        teamId: body.filter.team_id,
        createdAfter: body.filter.created_after,
        createdBefore: body.filter.created_before,
        finishedAfter: body.filter.finished_after,
        finishedBefore: body.filter.finished_before,
        ids: body.filter.task_id,
        search: body.filter.q,
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => bulkJson(data.startBulkOperation.operation),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/bulk/{bulk_id}',
    operationId: 'getBulkOperation',
    summary: 'Progress of a bulk operation: matched, processed, succeeded, skipped and failed',
    tag: 'Agents',
    successStatus: 200,
    params: z.object({ bulk_id: z.string().min(1) }),
    response: BulkJson,
    document: graphql(`query GetBulkOperation($id: ID!) { bulkOperation(id: $id) { ...RestBulkOperation } }`, [BulkFields]),
    variables: ({ params }) => ({ id: params.bulk_id }),
    reply: (data) => bulkJson(data.bulkOperation),
  }),
];
