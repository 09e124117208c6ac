/**
 * webhook endpoints (/v1/webhooks): each belongs to a project (at most 25 per project), which
 * decides who sees it (the project's visibility, `canSee`) and who changes it (the project's owner,
 * or a member of its team). The secret is shown at creation and rotation only.
 */
import { z } from 'zod';
import type { Webhook, WebhookDelivery } from '../../generated/prisma/client.js';
import { ConflictError, NotFoundError, PermissionDeniedError, ValidationError } from '../../errors.js';
import { idKind, newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { paginate, type PageArgs } from '../pagination.js';
import { canSee, hasTeamRole, listScope } from '../teams.js';
import { fieldErrors } from '../tasks/task-input.js';
import { loadDelivery, sendAttempt } from './deliver.js';
import { announceDeliveries, WEBHOOK_EVENT_TYPES } from './events.js';
import { decryptSecret, encryptSecret, generateSecret, secretProblem } from './secrets.js';
import { checkHost, TargetRefused, urlProblem } from './target.js';
import { getProject } from '../projects/projects.js';

export const WEBHOOK_PAGE_MAX = 100;
export const MAX_WEBHOOKS_PER_PROJECT = 25;

type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'config' | 'logger'>;
type WithProject = Webhook & { project: { ownerId: string; teamId: string | null } };

const namespaces = [...new Set(WEBHOOK_EVENT_TYPES.map((t) => t.split('.')[0]))];
const eventPattern = z
  .string()
  .refine((v) => v === '*' || (WEBHOOK_EVENT_TYPES as readonly string[]).includes(v) || namespaces.some((n) => v === `${n}.*`), {
    message: `must be an event type (${WEBHOOK_EVENT_TYPES.join(', ')}), a namespace wildcard such as task.*, or *`,
  });
const eventTypes = z.array(eventPattern).min(1, 'must name at least one event type').max(50, 'must name at most 50 event types');
const description = z.string().max(500, 'must be at most 500 characters');

/** Checks the URL's form, then resolves it and checks its addresses (422 with the reason). */
async function checkUrl(deps: Pick<ServiceDeps, 'config'>, field: string, url: string): Promise<string> {
  const problem = urlProblem(url, deps.config);
  if (problem) throw new ValidationError([{ field, message: problem }]);
  try {
    await checkHost(url, deps.config);
  } catch (err) {
    if (err instanceof TargetRefused) throw new ValidationError([{ field, message: `is refused: ${err.message.replace(/\.$/, '')}` }]);
    throw err;
  }
  return url;
}


/** Changing a project's webhooks: its owner (personal project) or a team member (member role or higher). */
async function requireManage(deps: Pick<ServiceDeps, 'db'>, principal: Principal, project: { id: string; ownerId: string; teamId: string | null }) {
  if (project.teamId ? await hasTeamRole(deps, principal, project.teamId, 'member') : project.ownerId === principal.userId) return;
  throw new PermissionDeniedError(`Changing the webhooks of project ${project.id} needs the member role in its team or higher.`);
}

/** The webhook if the caller may see its project; else 404. */
export async function getWebhook(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<WithProject> {
  const w = idKind(id) === 'webhook' ? await deps.db.webhook.findUnique({ where: { id }, include: { project: { select: { ownerId: true, teamId: true } } } }) : null;
  if (!w || !(await canSee(deps, principal, w.project))) throw new NotFoundError('webhook', id);
  return w;
}

const createSchema = z.object({
  projectId: z.string({ message: 'is required' }),
  url: z.string({ message: 'is required' }),
  eventTypes,
  secret: z.string().nullish(),
  description: description.nullish(),
});

/** Creates a subscription; returns it with its secret (shown this once; again on a replay with the same Idempotency-Key). */
export async function createWebhook(deps: Deps, principal: Principal, raw: unknown, idempotencyKey?: string | null): Promise<{ webhook: Webhook; secret: string; replayed: boolean }> {
  const parsed = createSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error).map((e) => ({ ...e, field: e.field === 'projectId' ? 'project_id' : e.field === 'eventTypes' || e.field.startsWith('eventTypes.') ? e.field.replace('eventTypes', 'events') : e.field })));
  const input = parsed.data;
  const project = await getProject(deps, principal, input.projectId);
  await requireManage(deps, principal, project);
  if (input.secret != null) {
    const problem = secretProblem(input.secret);
    if (problem) throw new ValidationError([{ field: 'secret', message: problem }]);
  }
  await checkUrl(deps, 'url', input.url);
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'createWebhook', request: input },
    () =>
      deps.db.$transaction(async (tx) => {
        // The project's row lock serialises creations, so the limit holds under concurrent requests.
        await tx.$queryRaw`SELECT id FROM projects WHERE id = ${project.id} FOR UPDATE`;
        const count = await tx.webhook.count({ where: { projectId: project.id } });
        if (count >= MAX_WEBHOOKS_PER_PROJECT) {
          throw new ConflictError('webhook_limit_reached', `A project can have at most ${MAX_WEBHOOKS_PER_PROJECT} webhook endpoints; delete one it no longer needs first.`, {
            limit: MAX_WEBHOOKS_PER_PROJECT,
          });
        }
        const id = newId('webhook');
        await tx.webhook.create({
          data: {
            id,
            projectId: project.id,
            createdById: principal.userId,
            url: input.url,
            description: input.description ?? '',
            eventTypes: [...new Set(input.eventTypes)],
            secretEncrypted: encryptSecret(deps.config, input.secret ?? generateSecret()),
          },
        });
        return id;
      }),
  );
  const webhook = await deps.db.webhook.findUniqueOrThrow({ where: { id: resourceId } });
  return { webhook, secret: decryptSecret(deps.config, webhook.secretEncrypted), replayed };
}

/** Webhooks of one project (`projectId`), or of every project in the caller's scope (personal, or `teamId`'s), newest first. */
export async function listWebhooks(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { projectId?: string | null; teamId?: string | null }) {
  const where = args.projectId ? { projectId: (await getProject(deps, principal, args.projectId)).id } : { project: await listScope(deps, principal, args.teamId) };
  // Missed counts come with the page (one query, not one per webhook).
  return paginate(args, WEBHOOK_PAGE_MAX, 'webhook', (cursor, order, take) =>
    deps.db.webhook.findMany({ where: { ...where, ...cursor }, orderBy: { id: order }, take, include: { _count: { select: { deliveries: { where: { status: 'missed' } } } } } }),
  );
}

const updateSchema = z.object({
  url: z.string().nullish(),
  eventTypes: eventTypes.nullish(),
  description: description.nullish(),
  enabled: z.boolean().nullish(),
  redeliverMissed: z.boolean().nullish(),
});

/**
 * Changes a subscription. Disabling stops deliveries (events still arrive as `missed`); enabling
 * clears the disabled state, and with `redeliverMissed` redelivers what it missed while disabled
 * (the failed delivery that disabled it included).
 */
export async function updateWebhook(deps: Deps, principal: Principal, id: string, raw: unknown): Promise<{ webhook: Webhook; redelivered: number }> {
  const w = await getWebhook(deps, principal, id);
  await requireManage(deps, principal, { id: w.projectId, ...w.project });
  const parsed = updateSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error).map((e) => ({ ...e, field: e.field.replace('eventTypes', 'events').replace('redeliverMissed', 'redeliver_missed') })));
  const input = parsed.data;
  if (input.redeliverMissed && input.enabled !== true) {
    throw new ValidationError([{ field: 'redeliver_missed', message: 'is only possible together with "enabled": true' }]);
  }
  if (input.url != null) await checkUrl(deps, 'url', input.url);
  const data: Record<string, unknown> = {};
  if (input.url != null) data.url = input.url;
  if (input.eventTypes != null) data.eventTypes = [...new Set(input.eventTypes)];
  if (input.description != null) data.description = input.description;
  if (input.enabled === false && w.enabled) Object.assign(data, { enabled: false, disabledAt: new Date(), disabledReason: 'Disabled through the API.' });
  let redeliver: string[] = [];
  const webhook = await deps.db.$transaction(async (tx) => {
    // Enabling flips the flag only where it is still off: of two requests at once, one enables (and redelivers).
    const enabled =
      input.enabled === true && (await tx.webhook.updateMany({ where: { id, enabled: false }, data: { enabled: true, disabledAt: null, disabledReason: null } })).count === 1;
    const updated = await tx.webhook.update({ where: { id }, data });
    if (input.redeliverMissed && enabled) {
      // What it missed, and the deliveries that failed for good while it was failing, are sent again as
      // new deliveries of the same events (new workflow ids; a missed row may have had a workflow already).
      const since = new Date((w.disabledAt ?? new Date()).getTime() - 60_000);
      const missed = await tx.webhookDelivery.findMany({ where: { webhookId: id, status: 'missed' } });
      const failed = await tx.webhookDelivery.findMany({ where: { webhookId: id, status: 'failed', completedAt: { gte: since } } });
      await tx.webhookDelivery.updateMany({ where: { id: { in: missed.map((d) => d.id) } }, data: { status: 'redelivered' } });
      const copies = [...missed, ...failed].map((d) => ({ id: newId('webhookDelivery'), webhookId: id, eventId: d.eventId, redeliveryOf: d.id }));
      await tx.webhookDelivery.createMany({ data: copies });
      redeliver = copies.map((c) => c.id);
    }
    return updated;
  });
  await announceDeliveries(deps.bus, redeliver);
  return { webhook, redelivered: redeliver.length };
}

/** Deletes a subscription with its delivery history; deliveries in flight stop at their next attempt. */
export async function deleteWebhook(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Webhook> {
  const w = await getWebhook(deps, principal, id);
  await requireManage(deps, principal, { id: w.projectId, ...w.project });
  await deps.db.webhook.delete({ where: { id } });
  return w;
}

/** A new secret; the previous one stays valid (deliveries carry both signatures) for WEBHOOK_SECRET_ROLLOVER_HOURS. */
export async function rotateWebhookSecret(deps: Deps, principal: Principal, id: string, idempotencyKey?: string | null): Promise<{ webhook: Webhook; secret: string; replayed: boolean }> {
  const w = await getWebhook(deps, principal, id);
  await requireManage(deps, principal, { id: w.projectId, ...w.project });
  let issued: string | null = null;
  const { replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'rotateWebhookSecret', request: { id } }, async () => {
    issued = generateSecret();
    // One statement: the secret being replaced becomes the previous one even when two rotations race.
    const expires = new Date(Date.now() + deps.config.WEBHOOK_SECRET_ROLLOVER_HOURS * 3_600_000);
    await deps.db.$executeRaw`
      UPDATE webhooks SET previous_secret_encrypted = secret_encrypted, secret_encrypted = ${encryptSecret(deps.config, issued)},
        previous_secret_expires_at = ${expires}, updated_at = now()
      WHERE id = ${id}`;
    return id;
  });
  const webhook = await deps.db.webhook.findUniqueOrThrow({ where: { id } });
  // The secret this call issued (a replay answers the current one, as the first call did).
  return { webhook, secret: issued ?? decryptSecret(deps.config, webhook.secretEncrypted), replayed };
}

/** Sends a `webhook.ping` event to the endpoint now (once, no retries) and returns the delivery with its attempt. */
export async function pingWebhook(deps: Deps, principal: Principal, id: string, idempotencyKey?: string | null): Promise<{ delivery: WebhookDelivery; replayed: boolean }> {
  const w = await getWebhook(deps, principal, id);
  await requireManage(deps, principal, { id: w.projectId, ...w.project });
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'testWebhook', request: { id } }, async () => (await ping(deps, w)).id);
  return { delivery: await deps.db.webhookDelivery.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
}

async function ping(deps: Deps, w: WithProject): Promise<WebhookDelivery> {
  const eventId = newId('webhookEvent');
  const deliveryId = newId('webhookDelivery');
  await deps.db.webhookEvent.create({
    data: { id: eventId, type: 'webhook.ping', resourceId: w.id, ownerId: w.project.ownerId, teamId: w.project.teamId, projectId: w.projectId, data: { webhook_id: w.id, message: 'Test event from Codex.' } },
  });
  // Not a pending delivery: the dispatcher never picks it up, it is sent right here.
  await deps.db.webhookDelivery.create({ data: { id: deliveryId, webhookId: w.id, eventId, status: 'sending', dispatchedAt: new Date() } });
  await sendAttempt(deps, (await loadDelivery(deps, deliveryId))!, 1, (a) => ({
    where: { id: deliveryId },
    data: { status: a.succeeded ? 'succeeded' : 'failed', attemptCount: 1, completedAt: new Date() },
  }));
  return deps.db.webhookDelivery.findUniqueOrThrow({ where: { id: deliveryId } });
}

/** A delivery if the caller may see its webhook; else 404. */
export async function getDelivery(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<WebhookDelivery> {
  const d = idKind(id) === 'webhookDelivery' ? await deps.db.webhookDelivery.findUnique({ where: { id }, include: { webhook: { include: { project: { select: { ownerId: true, teamId: true } } } } } }) : null;
  if (!d || !(await canSee(deps, principal, d.webhook.project))) throw new NotFoundError('webhook delivery', id);
  return d;
}

/** A webhook's deliveries (the last WEBHOOK_HISTORY_DAYS), newest first. */
export async function listDeliveries(deps: Pick<ServiceDeps, 'db'>, principal: Principal, webhookId: string, args: PageArgs & { status?: string | null }) {
  const w = await getWebhook(deps, principal, webhookId);
  const statuses = ['pending', 'succeeded', 'failed', 'missed', 'redelivered', 'skipped'];
  if (args.status != null && !statuses.includes(args.status)) throw new ValidationError([{ field: 'status', message: `must be one of ${statuses.join(', ')}` }]);
  return paginate(args, WEBHOOK_PAGE_MAX, 'webhookDelivery', (cursor, order, take) =>
    // Attempts and the event type come with the page (no query per delivery).
    deps.db.webhookDelivery.findMany({
      where: { webhookId: w.id, ...(args.status ? { status: args.status } : {}), ...cursor },
      orderBy: { id: order },
      take,
      include: { attempts: { orderBy: { number: 'asc' } }, event: { select: { type: true } } },
    }),
  );
}

/** Sends a delivery's event again, as a new delivery with the full retry schedule. */
export async function redeliver(deps: Deps, principal: Principal, deliveryId: string, idempotencyKey?: string | null): Promise<{ delivery: WebhookDelivery; replayed: boolean }> {
  const original = await getDelivery(deps, principal, deliveryId);
  const w = await getWebhook(deps, principal, original.webhookId);
  await requireManage(deps, principal, { id: w.projectId, ...w.project });
  if (!w.enabled) {
    throw new ConflictError('webhook_disabled', `Webhook ${w.id} is disabled; enable it first (PATCH /v1/webhooks/${w.id} with {"enabled": true}).`);
  }
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'redeliverWebhookDelivery', request: { deliveryId } }, async () => {
    const id = newId('webhookDelivery');
    await deps.db.webhookDelivery.create({ data: { id, webhookId: w.id, eventId: original.eventId, redeliveryOf: original.id } });
    await announceDeliveries(deps.bus, [id]);
    return id;
  });
  return { delivery: await deps.db.webhookDelivery.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
}

/** Attempts of a delivery in order. */
export function deliveryAttempts(deps: Pick<ServiceDeps, 'db'>, deliveryId: string) {
  return deps.db.webhookAttempt.findMany({ where: { deliveryId }, orderBy: { number: 'asc' } });
}

/** How many deliveries the webhook missed while disabled (redeliverable on enabling). */
export function missedCount(deps: Pick<ServiceDeps, 'db'>, webhookId: string) {
  return deps.db.webhookDelivery.count({ where: { webhookId, status: 'missed' } });
}
