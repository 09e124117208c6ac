/** The webhook events of this branch's event sources (tasks, orchestrations), built from their rows. */
import type { AgentTask, Orchestration } from '../../generated/prisma/client.js';
import type { WebhookEventInput, WebhookEventType } from './events.js';

/** The columns of a task its webhook event is built from. */
export type TaskEventFields = Pick<AgentTask, 'id' | 'status' | 'ownerId' | 'teamId' | 'agentType' | 'orchestrationId' | 'completedAt' | 'result' | 'error'>;

/** task.completed | task.failed | task.cancelled | task.timed_out for a task that just ended. */
export function taskWebhookEvent(t: TaskEventFields): WebhookEventInput {
  const result = t.result as { summary?: string } | null;
  return {
    type: `task.${t.status}` as WebhookEventType,
    resourceId: t.id,
    ownerId: t.ownerId,
    teamId: t.teamId,
    data: {
      task_id: t.id,
      agent_type: t.agentType,
      status: t.status,
      orchestration_id: t.orchestrationId,
      completed_at: t.completedAt?.toISOString() ?? null,
      summary: result?.summary ?? null,
      error: t.error ?? null,
      result_url: `/v1/agents/tasks/${t.id}`,
    },
  };
}

/** orchestration.<status> for an orchestration that just ended. */
export function orchestrationWebhookEvent(o: Orchestration): WebhookEventInput {
  return {
    type: `orchestration.${o.status}` as WebhookEventType,
    resourceId: o.id,
    ownerId: o.ownerId,
    teamId: o.teamId,
    data: { orchestration_id: o.id, status: o.status, aggregated_result: o.aggregatedResult, completed_at: o.completedAt?.toISOString() ?? null, result_url: `/v1/agents/orchestrations/${o.id}` },
  };
}
