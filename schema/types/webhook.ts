// webhook endpoints of projects, their deliveries and attempts.
import { callerOf } from '../../src/context.js';
import type { Notification, Webhook, WebhookAttempt, WebhookDelivery } from '../../src/generated/prisma/client.js';
import { listNotifications } from '../../src/services/webhooks/notify.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/services/webhooks/events.js';
import {
  createWebhook,
  deleteWebhook,
  deliveryAttempts,
  getDelivery,
  getWebhook,
  listDeliveries,
  listWebhooks,
  missedCount,
  pingWebhook,
  redeliver,
  rotateWebhookSecret,
  updateWebhook,
} from '../../src/services/webhooks/endpoints.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { connectionOf } from '../connection.js';

const WebhookAttemptRef = builder.objectRef<WebhookAttempt>('WebhookAttempt').implement({
  description: 'One HTTP attempt of a delivery.',
  fields: (t) => ({
    number: t.exposeInt('number', { description: '1 for the first attempt, then one per retry.' }),
    startedAt: t.field({ type: 'DateTime', resolve: (a) => a.startedAt }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'null when no answer came (refused address, timeout, connection error).' }),
    latencyMs: t.exposeInt('latencyMs'),
    responseBody: t.exposeString('responseBody', { nullable: true, description: 'The first bytes of the answer (WEBHOOK_RESPONSE_STORE_BYTES).' }),
    error: t.exposeString('error', { nullable: true, description: 'Why the attempt failed.' }),
    succeeded: t.exposeBoolean('succeeded'),
  }),
});

const WebhookDeliveryErrorRef = builder.objectRef<{ code: string; message: string }>('WebhookDeliveryError').implement({
  description: 'Why a delivery ended failed when its workflow ended in the task engine without it.',
  fields: (t) => ({
    code: t.exposeString('code', { description: 'workflow_terminated, task_timeout, workflow_cancelled, workflow_failed or workflow_lost.' }),
    message: t.exposeString('message'),
  }),
});

/** A delivery as a list page loads it: with its attempts and event type (single reads load them on demand). */
type Preloaded = WebhookDelivery & { attempts?: WebhookAttempt[]; event?: { type: string } };

export const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>('WebhookDelivery');

builder.node(WebhookDeliveryRef, {
  authScopes: { sees: 'webhooks' },
  description: 'One event sent to one endpoint, with its attempts.',
  id: { resolve: (d) => d.id },
  loadOne: (id, ctx) => getDelivery(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    webhookId: t.exposeID('webhookId'),
    eventId: t.exposeID('eventId', { description: 'Also the webhook-id header; the same on every attempt and redelivery.' }),
    eventType: t.string({
      resolve: async (d, _a, ctx) => (d as Preloaded).event?.type ?? (await ctx.deps.db.webhookEvent.findUniqueOrThrow({ where: { id: d.eventId }, select: { type: true } })).type,
    }),
    status: t.exposeString('status', { description: 'pending (queued or between retries), succeeded, failed, missed (the endpoint was disabled), redelivered (a missed one sent again on enabling), skipped (not sent: the endpoint owner can no longer see the event; see error).' }),
    attemptCount: t.exposeInt('attemptCount'),
    error: t.field({
      type: WebhookDeliveryErrorRef,
      nullable: true,
      description: 'Why it ended without success: failed because its workflow ended in the task engine without it (terminated, timed out, cancelled, failed, lost), or skipped because the endpoint owner can no longer see the event (endpoint_owner_lost_access).',
      resolve: (d) => (d.error as { code: string; message: string } | null) ?? null,
    }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.nextAttemptAt }),
    redeliveryOf: t.exposeID('redeliveryOf', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.completedAt }),
    attempts: t.field({ type: [WebhookAttemptRef], resolve: (d, _a, ctx) => (d as Preloaded).attempts ?? deliveryAttempts(ctx.deps, d.id) }),
  }),
});

export const WebhookRef = builder.objectRef<Webhook>('Webhook');

builder.node(WebhookRef, {
  authScopes: { sees: 'webhooks' },
  description: "An endpoint subscribed to a project's events; deliveries are signed (Standard Webhooks headers).",
  id: { resolve: (w) => w.id },
  loadOne: (id, ctx) => getWebhook(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    projectId: t.exposeID('projectId'),
    url: t.exposeString('url'),
    description: t.exposeString('description'),
    eventTypes: t.exposeStringList('eventTypes'),
    enabled: t.exposeBoolean('enabled'),
    disabledAt: t.field({ type: 'DateTime', nullable: true, resolve: (w) => w.disabledAt }),
    disabledReason: t.exposeString('disabledReason', { nullable: true }),
    missedDeliveries: t.int({
      description: 'Events it missed while disabled; enabling with redeliverMissed sends them.',
      resolve: (w, _a, ctx) => (w as Webhook & { _count?: { deliveries: number } })._count?.deliveries ?? missedCount(ctx.deps, w.id),
    }),
    previousSecretExpiresAt: t.field({ type: 'DateTime', nullable: true, description: 'Until then deliveries are also signed with the secret before the last rotation.', resolve: (w) => (w.previousSecretExpiresAt && w.previousSecretExpiresAt > new Date() ? w.previousSecretExpiresAt : null) }),
    createdAt: t.field({ type: 'DateTime', resolve: (w) => w.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (w) => w.updatedAt }),
    deliveries: t.connection({
      type: WebhookDeliveryRef,
      description: 'Deliveries of the last 30 days, newest first.',
      args: { status: t.arg.string() },
      resolve: async (w, args, ctx) => connectionOf(await listDeliveries(ctx.deps, callerOf(ctx), w.id, args)),
    }),
  }),
});

const NotificationRef = builder.objectRef<Notification>('Notification').implement({
  description: 'A message to your account, e.g. that a webhook endpoint was disabled (also e-mailed when SMTP is configured).',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.exposeString('type'),
    message: t.exposeString('message'),
    data: t.string({ description: 'Details as a JSON object.', resolve: (n) => JSON.stringify(n.data) }),
    emailedAt: t.field({ type: 'DateTime', nullable: true, resolve: (n) => n.emailedAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (n) => n.createdAt }),
  }),
});

builder.queryFields((t) => ({
  notifications: t.connection({
    type: NotificationRef,
    description: 'Your notifications, newest first.',
    authScopes: { $all: { read: true, sees: 'notifications' } },
    resolve: async (_r, args, ctx) => connectionOf(await listNotifications(ctx.deps, callerOf(ctx), args)),
  }),
  webhook: t.field({
    type: WebhookRef,
    authScopes: { $all: { read: true, sees: 'webhooks' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getWebhook(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  webhooks: t.connection({
    type: WebhookRef,
    description: "A project's webhooks, or those of every project in your scope (personal, or teamId's).",
    authScopes: { $all: { read: true, sees: 'webhooks' } },
    args: { projectId: t.arg.id(), teamId: t.arg.id() },
    resolve: async (_r, args, ctx) =>
      connectionOf(await listWebhooks(ctx.deps, callerOf(ctx), { ...args, projectId: args.projectId == null ? null : String(args.projectId), teamId: args.teamId == null ? null : String(args.teamId) })),
  }),
  webhookDelivery: t.field({
    type: WebhookDeliveryRef,
    authScopes: { $all: { read: true, sees: 'webhooks' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getDelivery(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  webhookEventTypes: t.stringList({ description: 'Every event type a webhook can subscribe to.', authScopes: { read: true }, resolve: () => [...WEBHOOK_EVENT_TYPES] }),
}));

const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    url: t.string({ required: true, description: 'https URL (plain http only where the operator allows it).' }),
    eventTypes: t.stringList({ required: true, description: 'Event types, namespace wildcards (task.*) or *.' }),
    secret: t.string({ description: 'whsec_ + base64; generated when left out.' }),
    description: t.string(),
  }),
});

const UpdateWebhookInput = builder.inputType('UpdateWebhookInput', {
  fields: (t) => ({
    url: t.string(),
    eventTypes: t.stringList(),
    description: t.string(),
    enabled: t.boolean(),
    redeliverMissed: t.boolean({ description: 'With enabled: true, also redeliver what it missed while disabled.' }),
  }),
});

const WithSecret = builder.objectRef<{ webhook: Webhook; secret: string; replayed?: boolean }>('WebhookWithSecretPayload').implement({
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, resolve: (p) => p.webhook }),
    secret: t.exposeString('secret', { description: 'The signing secret: shown only now; store it.' }),
    replayed: t.boolean({ resolve: (p) => p.replayed ?? false }),
  }),
});
const UpdatePayload = builder.objectRef<{ webhook: Webhook; redelivered: number; replayed?: boolean }>('UpdateWebhookPayload').implement({
  fields: (t) => ({ webhook: t.field({ type: WebhookRef, resolve: (p) => p.webhook }), redelivered: t.exposeInt('redelivered'), replayed: replayedField(t) }),
});
const DeletePayload = builder.objectRef<{ id: string; replayed?: boolean }>('DeleteWebhookPayload').implement({
  fields: (t) => ({ id: t.exposeID('id'), replayed: replayedField(t) }),
});
const DeliveryPayload = builder.objectRef<{ delivery: WebhookDelivery; replayed?: boolean }>('WebhookDeliveryPayload').implement({
  fields: (t) => ({ delivery: t.field({ type: WebhookDeliveryRef, resolve: (p) => p.delivery }), replayed: t.boolean({ resolve: (p) => p.replayed ?? false }) }),
});

builder.mutationFields((t) => ({
  createWebhook: t.field({
    type: WithSecret,
    description: 'Subscribes an endpoint to events of a project (at most 25 per project).',
    args: { input: t.arg({ type: CreateWebhookInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const created = await createWebhook(ctx.deps, callerOf(ctx), { ...input, projectId: String(input.projectId) }, idempotencyKey);
      return created;
    },
  }),
  updateWebhook: t.field({
    type: UpdatePayload,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateWebhookInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) =>
      changeOnceFor(
        ctx,
        'updateWebhook',
        args,
        () => updateWebhook(ctx.deps, callerOf(ctx), String(args.id), args.input),
        (p) => ({ id: p.webhook.id, redelivered: p.redelivered }),
        async ({ id, redelivered }) => ({ webhook: await getWebhook(ctx.deps, callerOf(ctx), id), redelivered }),
      ),
  }),
  deleteWebhook: t.field({
    type: DeletePayload,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) =>
      changeOnceFor(
        ctx,
        'deleteWebhook',
        args,
        async () => ({ id: (await deleteWebhook(ctx.deps, callerOf(ctx), String(args.id))).id }),
        (p) => p.id,
        (webhookId) => ({ id: webhookId }),
      ),
  }),
  rotateWebhookSecret: t.field({
    type: WithSecret,
    description: 'A new secret; the previous one stays valid during the rollover (WEBHOOK_SECRET_ROLLOVER_HOURS).',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, args, ctx) => {
      const r = await rotateWebhookSecret(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey);
      return r;
    },
  }),
  testWebhook: t.field({
    type: DeliveryPayload,
    description: 'Sends a webhook.ping event now and returns the delivery with its attempt.',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, args, ctx) => {
      const r = await pingWebhook(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey);
      return r;
    },
  }),
  redeliverWebhookDelivery: t.field({
    type: DeliveryPayload,
    description: "Sends a delivery's event again as a new delivery.",
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, args, ctx) => {
      const r = await redeliver(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey);
      return r;
    },
  }),
}));
