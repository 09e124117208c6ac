/** /v1/webhooks: subscriptions of a project, their delivery history, pings and redeliveries. */
import { z } from 'zod';
import { NOTIFICATION_PAGE_MAX } from '../../services/webhooks/notify.js';
import { WEBHOOK_PAGE_MAX } from '../../services/webhooks/endpoints.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, oneOf } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';

const WebhookFields = graphql(`fragment RestWebhook on Webhook { id projectId url description eventTypes enabled disabledAt disabledReason missedDeliveries previousSecretExpiresAt createdAt updatedAt }`);
const WebhookDeliveryFields = graphql(`fragment RestWebhookDelivery on WebhookDelivery { id webhookId eventId eventType status attemptCount error { code message } nextAttemptAt redeliveryOf createdAt completedAt attempts { number startedAt statusCode latencyMs responseBody error succeeded } }`);

const WebhookJson = z.object({
  id: z.string(),
  object: z.literal('webhook'),
  project_id: z.string(),
  url: z.string(),
  description: z.string(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  disabled_at: z.iso.datetime().nullable(),
  disabled_reason: z.string().nullable(),
  missed_deliveries: z.number().int().describe('Events missed while disabled; PATCH {"enabled": true, "redeliver_missed": true} sends them.'),
  previous_secret_expires_at: z.iso.datetime().nullable().describe('Until then deliveries also carry a signature with the previous secret.'),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});

function webhookJson(w: ResultOf<typeof WebhookFields>): z.input<typeof WebhookJson> {
  return {
    id: w.id,
    object: 'webhook' as const,
    project_id: w.projectId,
    url: w.url,
    description: w.description,
    events: w.eventTypes,
    enabled: w.enabled,
    disabled_at: w.disabledAt,
    disabled_reason: w.disabledReason,
    missed_deliveries: w.missedDeliveries,
    previous_secret_expires_at: w.previousSecretExpiresAt,
    created_at: w.createdAt,
    updated_at: w.updatedAt,
  };
}

const WithSecretJson = WebhookJson.extend({ secret: z.string().describe('The signing secret (whsec_…): shown only in this response.') });

const deliveryStatuses = ['pending', 'succeeded', 'failed', 'missed', 'redelivered', 'skipped'] as const;

const DeliveryJson = z.object({
  id: z.string(),
  object: z.literal('webhook_delivery'),
  webhook_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(deliveryStatuses),
  attempt_count: z.number().int(),
  error: z
    .object({ code: z.string(), message: z.string() })
    .nullable()
    .describe('Why it ended without success: failed because its workflow ended in the task engine without it (workflow_terminated, task_timeout, workflow_cancelled, workflow_failed, workflow_lost), or skipped because the endpoint owner can no longer see the event (endpoint_owner_lost_access).'),
  next_attempt_at: z.iso.datetime().nullable(),
  redelivery_of: z.string().nullable(),
  created_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
  attempts: z.array(
    z.object({
      number: z.number().int(),
      started_at: z.iso.datetime(),
      status_code: z.number().int().nullable(),
      latency_ms: z.number().int(),
      response_body: z.string().nullable(),
      error: z.string().nullable(),
      succeeded: z.boolean(),
    }),
  ),
});

function deliveryJson(d: ResultOf<typeof WebhookDeliveryFields>): z.input<typeof DeliveryJson> {
  return {
    id: d.id,
    object: 'webhook_delivery' as const,
    webhook_id: d.webhookId,
    event_id: d.eventId,
    event_type: d.eventType,
    status: oneOf(deliveryStatuses, d.status),
    attempt_count: d.attemptCount,
    error: d.error,
    next_attempt_at: d.nextAttemptAt,
    redelivery_of: d.redeliveryOf,
    created_at: d.createdAt,
    completed_at: d.completedAt,
    attempts: d.attempts.map((a) => ({
      number: a.number,
      started_at: a.startedAt,
      status_code: a.statusCode,
      latency_ms: a.latencyMs,
      response_body: a.responseBody,
      error: a.error,
      succeeded: a.succeeded,
    })),
  };
}

const IdParams = z.object({ webhook_id: z.string() });

export const webhookRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/webhooks',
    operationId: 'createWebhook',
    summary: 'Subscribe an endpoint to events of a project (at most 25 per project); the answer shows the signing secret once',
    tag: 'Webhooks',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        project_id: z.string(),
        url: z.string(),
        events: z.array(z.string()).describe('Event types (task.completed, …), namespace wildcards (task.*) or *.'),
        secret: z.string().optional().describe('whsec_ + base64 of 16 to 64 bytes; generated when left out.'),
        description: z.string().optional(),
      })
      .strict(),
    response: WithSecretJson,
    errors: ['idempotency_conflict', 'webhook_limit_reached'],
    document: graphql(`mutation CreateWebhook($input: CreateWebhookInput!, $idempotencyKey: String) { createWebhook(input: $input, idempotencyKey: $idempotencyKey) { secret replayed webhook { ...RestWebhook } } }`, [WebhookFields]),
    variables: ({ body, headers }) => ({
      input: { projectId: body.project_id, url: body.url, eventTypes: body.events, secret: body.secret, description: body.description },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => ({ ...webhookJson(data.createWebhook.webhook), secret: data.createWebhook.secret }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/webhooks',
    operationId: 'listWebhooks',
    summary: "A project's webhooks (project_id), or those of every project in your scope, newest first",
    tag: 'Webhooks',
    successStatus: 200,
    query: listQuery(WEBHOOK_PAGE_MAX, 'webhook').extend({ project_id: z.string().optional(), team_id: z.string().optional() }).strict(),
    response: listResponse(WebhookJson),
    document: graphql(`
  query ListWebhooks($first: Int, $after: String, $last: Int, $before: String, $projectId: ID, $teamId: ID) {
    webhooks(first: $first, after: $after, last: $last, before: $before, projectId: $projectId, teamId: $teamId) {
      edges { node { ...RestWebhook } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [WebhookFields]),
    variables: ({ query }) => ({ ...pageVariables(query), projectId: query.project_id ?? null, teamId: query.team_id ?? null }),
    reply: (data, req) => pageReply(data.webhooks, webhookJson, '/v1/webhooks', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/webhooks/{webhook_id}',
    operationId: 'getWebhook',
    summary: 'One webhook endpoint',
    tag: 'Webhooks',
    successStatus: 200,
    params: IdParams,
    response: WebhookJson,
    document: graphql(`query GetWebhook($id: ID!) { webhook(id: $id) { ...RestWebhook } }`, [WebhookFields]),
    variables: ({ params }) => ({ id: params.webhook_id }),
    reply: (data) => webhookJson(data.webhook),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/webhooks/{webhook_id}',
    operationId: 'updateWebhook',
    summary: 'Change the URL, events or description; disable or enable it (redeliver_missed: also send what it missed)',
    tag: 'Webhooks',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    body: z
      .object({
        url: z.string().optional(),
        events: z.array(z.string()).optional(),
        description: z.string().optional(),
        enabled: z.boolean().optional(),
        redeliver_missed: z.boolean().optional(),
      })
      .strict(),
    response: WebhookJson.extend({ redelivered: z.number().int().describe('Deliveries started again by redeliver_missed.') }),
    document: graphql(`mutation UpdateWebhook($id: ID!, $input: UpdateWebhookInput!, $idempotencyKey: String) { updateWebhook(id: $id, input: $input, idempotencyKey: $idempotencyKey) { replayed redelivered webhook { ...RestWebhook } } }`, [WebhookFields]),
    variables: ({ params, body, headers }) => ({
      id: params.webhook_id,
      input: { url: body.url, eventTypes: body.events, description: body.description, enabled: body.enabled, redeliverMissed: body.redeliver_missed },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => ({ ...webhookJson(data.updateWebhook.webhook), redelivered: data.updateWebhook.redelivered }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/webhooks/{webhook_id}',
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook and its delivery history',
    tag: 'Webhooks',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: z.object({ id: z.string(), object: z.literal('webhook'), deleted: z.literal(true) }),
    document: graphql(`mutation DeleteWebhook($id: ID!, $idempotencyKey: String) { deleteWebhook(id: $id, idempotencyKey: $idempotencyKey) { replayed id } }`),
    variables: ({ params, headers }) => ({ id: params.webhook_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ id: data.deleteWebhook.id, object: 'webhook' as const, deleted: true as const }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/webhooks/{webhook_id}/test',
    operationId: 'testWebhook',
    summary: 'Send a webhook.ping event now; the answer is the delivery with its attempt',
    tag: 'Webhooks',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: DeliveryJson,
    document: graphql(`mutation TestWebhook($id: ID!, $idempotencyKey: String) { testWebhook(id: $id, idempotencyKey: $idempotencyKey) { replayed delivery { ...RestWebhookDelivery } } }`, [WebhookDeliveryFields]),
    variables: ({ params, headers }) => ({ id: params.webhook_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => deliveryJson(data.testWebhook.delivery),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/webhooks/{webhook_id}/rotate-secret',
    operationId: 'rotateWebhookSecret',
    summary: 'A new signing secret; the previous one stays valid during the rollover',
    tag: 'Webhooks',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: WithSecretJson,
    document: graphql(`mutation RotateWebhookSecret($id: ID!, $idempotencyKey: String) { rotateWebhookSecret(id: $id, idempotencyKey: $idempotencyKey) { secret replayed webhook { ...RestWebhook } } }`, [WebhookFields]),
    variables: ({ params, headers }) => ({ id: params.webhook_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ ...webhookJson(data.rotateWebhookSecret.webhook), secret: data.rotateWebhookSecret.secret }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/webhooks/{webhook_id}/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'Deliveries of the last 30 days with every attempt (time, status code, latency, start of the answer)',
    tag: 'Webhooks',
    successStatus: 200,
    params: IdParams,
    query: listQuery(WEBHOOK_PAGE_MAX, 'webhookDelivery').extend({ status: z.string().optional() }).strict(),
    response: listResponse(DeliveryJson),
    document: graphql(`
  query ListWebhookDeliveries($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $status: String) {
    webhook(id: $id) {
      deliveries(first: $first, after: $after, last: $last, before: $before, status: $status) {
        edges { node { ...RestWebhookDelivery } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
`, [WebhookDeliveryFields]),
    variables: ({ params, query }) => ({ id: params.webhook_id, ...pageVariables(query), status: query.status ?? null }),
    reply: (data, req) => pageReply(data.webhook.deliveries, deliveryJson, `/v1/webhooks/${req.params.webhook_id}/deliveries`, req.query),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/webhooks/deliveries/{delivery_id}/redeliver',
    operationId: 'redeliverWebhookDelivery',
    summary: "Send a delivery's event again (a new delivery with the full retry schedule)",
    tag: 'Webhooks',
    successStatus: 202,
    idempotent: true,
    params: z.object({ delivery_id: z.string() }),
    response: DeliveryJson,
    errors: ['webhook_disabled', 'idempotency_conflict'],
    document: graphql(`mutation RedeliverWebhookDelivery($id: ID!, $idempotencyKey: String) { redeliverWebhookDelivery(id: $id, idempotencyKey: $idempotencyKey) { replayed delivery { ...RestWebhookDelivery } } }`, [WebhookDeliveryFields]),
    variables: ({ params, headers }) => ({ id: params.delivery_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => deliveryJson(data.redeliverWebhookDelivery.delivery),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/notifications',
    operationId: 'listNotifications',
    summary: 'Your notifications (for example a webhook endpoint that was disabled), newest first',
    tag: 'Webhooks',
    successStatus: 200,
    query: listQuery(NOTIFICATION_PAGE_MAX, 'notification').strict(),
    response: listResponse(
      z.object({ id: z.string(), object: z.literal('notification'), type: z.string(), message: z.string(), data: z.record(z.string(), z.unknown()), emailed_at: z.iso.datetime().nullable(), created_at: z.iso.datetime() }),
    ),
    document: graphql(`
  query ListNotifications($first: Int, $after: String, $last: Int, $before: String) {
    notifications(first: $first, after: $after, last: $last, before: $before) {
      edges { node { id type message data emailedAt createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`),
    variables: ({ query }) => pageVariables(query),
    reply: (data, req) =>
      pageReply(
        data.notifications,
        (n) => ({ id: n.id, object: 'notification' as const, type: n.type, message: n.message, data: JSON.parse(n.data) as Record<string, unknown>, emailed_at: n.emailedAt, created_at: n.createdAt }),
        '/v1/notifications',
        req.query,
      ),
  }),
];
