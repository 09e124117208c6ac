/**
 * The JSON a webhook delivery POSTs, per event type, for the `webhooks` section of the OpenAPI
 * document: {type, id, resource_id, created_at, data}; `data` depends on the type.
 */
import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../services/webhooks/events.js';

const when = z.iso.datetime().nullable();
const error = z.object({ code: z.string(), message: z.string() }).nullable();

const TaskEventData = z.object({
  task_id: z.string(),
  agent_type: z.string(),
  status: z.enum(['completed', 'failed', 'cancelled', 'timed_out']),
  orchestration_id: z.string().nullable(),
  completed_at: when,
  summary: z.string().nullable(),
  error,
  result_url: z.string(),
});
const OrchestrationEventData = z.object({
  orchestration_id: z.string(),
  status: z.enum(['completed', 'partial', 'failed', 'cancelled']),
  aggregated_result: z.unknown(),
  completed_at: when,
  result_url: z.string(),
});
const GenerationEventData = z.looseObject({ generation_id: z.string(), status: z.enum(['completed', 'failed']), attempt: z.number().int() });
const ReviewEventData = z.looseObject({ review_id: z.string(), status: z.enum(['completed', 'failed']) });
const ProjectIndexEventData = z.object({ project_id: z.string(), run_id: z.string(), status: z.string(), stats: z.unknown() });
const TeamMemberEventData = z.looseObject({ team_id: z.string(), user_id: z.string(), role: z.string(), by: z.string().optional() });
const KeyEventData = z.looseObject({ key_id: z.string(), name: z.string(), kind: z.string().optional() });
const PingEventData = z.object({ webhook_id: z.string(), message: z.string() });

const dataOf = (type: WebhookEventType): { name: string; schema: z.ZodType } => {
  const ns = type.split('.')[0];
  if (ns === 'task') return { name: 'TaskEventData', schema: TaskEventData };
  if (ns === 'orchestration') return { name: 'OrchestrationEventData', schema: OrchestrationEventData };
  if (ns === 'generation') return { name: 'GenerationEventData', schema: GenerationEventData };
  if (ns === 'review') return { name: 'ReviewEventData', schema: ReviewEventData };
  if (ns === 'project') return { name: 'ProjectIndexEventData', schema: ProjectIndexEventData };
  if (ns === 'team') return { name: 'TeamMemberEventData', schema: TeamMemberEventData };
  if (ns === 'key') return { name: 'KeyEventData', schema: KeyEventData };
  return { name: 'PingEventData', schema: PingEventData };
};

const pascal = (type: string) => type.replace(/(^|[._])([a-z])/g, (_m, _s, c: string) => c.toUpperCase());

/** One entry per event type: the component name of its payload, its schema, and the names of the schemas it uses. */
export const webhookEventSchemas = WEBHOOK_EVENT_TYPES.map((type) => {
  const data = dataOf(type);
  return {
    type,
    name: `${pascal(type)}Event`,
    data,
    schema: z.object({
      type: z.literal(type),
      id: z.string().describe('The event id; also the webhook-id header, the same on every attempt and redelivery.'),
      resource_id: z.string(),
      created_at: z.iso.datetime(),
      data: data.schema,
    }),
  };
});
