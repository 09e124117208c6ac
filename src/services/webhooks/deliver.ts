/**
 * One delivery attempt and the end of a delivery. Attempts are numbered; an attempt already
 * recorded is not sent again (an activity retried after a worker crash returns what was recorded),
 * so a receiver never sees one attempt twice from us. Payload: type, id (the event id, also the
 * webhook-id header, the same on every attempt and redelivery), resource_id, created_at, data.
 */
import type { Prisma, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent } from '../../generated/prisma/client.js';
import { attemptLabel, metrics } from '../../metrics.js';
import type { ServiceDeps } from '../deps.js';
import { notifyUser } from './notify.js';
import { decryptSecret, signedHeaders } from './secrets.js';
import { postToTarget } from './target.js';
import { httpClientSpan } from '../../tracing.js';

type Deps = Pick<ServiceDeps, 'db' | 'config' | 'logger'>;

export type AttemptOutcome = 'succeeded' | 'failed' | 'gone' | 'stopped';

/** The JSON body sent for an event. */
export function payloadOf(event: { id: string; type: string; resourceId: string; createdAt: Date; data: unknown }): string {
  return JSON.stringify({ type: event.type, id: event.id, resource_id: event.resourceId, created_at: event.createdAt.toISOString(), data: event.data });
}

/** The secrets deliveries are signed with now: the current one, and the previous one during its rollover. */
export function activeSecrets(deps: Pick<ServiceDeps, 'config'>, w: { secretEncrypted: string; previousSecretEncrypted: string | null; previousSecretExpiresAt: Date | null }): string[] {
  const secrets = [decryptSecret(deps.config, w.secretEncrypted)];
  if (w.previousSecretEncrypted && w.previousSecretExpiresAt && w.previousSecretExpiresAt > new Date()) secrets.push(decryptSecret(deps.config, w.previousSecretEncrypted));
  return secrets;
}

function outcomeOf(a: Pick<WebhookAttempt, 'succeeded' | 'statusCode'>): AttemptOutcome {
  return a.succeeded ? 'succeeded' : a.statusCode === 410 ? 'gone' : 'failed';
}

type LoadedDelivery = WebhookDelivery & { webhook: Webhook; event: WebhookEvent };

/** A delivery with its webhook and event, as an attempt needs them. */
export function loadDelivery(deps: Pick<ServiceDeps, 'db'>, deliveryId: string): Promise<LoadedDelivery | null> {
  return deps.db.webhookDelivery.findUnique({ where: { id: deliveryId }, include: { webhook: true, event: true } });
}

/** What an attempt sends: the delivery, its endpoint's url and secrets, its event. */
type SendableDelivery = Pick<WebhookDelivery, 'id'> & {
  webhook: Pick<Webhook, 'url' | 'secretEncrypted' | 'previousSecretEncrypted' | 'previousSecretExpiresAt'>;
  event: Pick<WebhookEvent, 'id' | 'type' | 'resourceId' | 'createdAt' | 'data'>;
};

/** What an attempt changes on its delivery, given the attempt as recorded (null: nothing). */
export type Settle = (attempt: Pick<WebhookAttempt, 'statusCode' | 'succeeded'>) => Prisma.WebhookDeliveryUpdateManyArgs | null;

type AttemptRow = Pick<WebhookAttempt, 'deliveryId' | 'number' | 'startedAt' | 'statusCode' | 'latencyMs' | 'responseBody' | 'error' | 'succeeded'>;
type Recorded = Pick<WebhookAttempt, 'statusCode' | 'succeeded'> & { settled: number };

/** Sends the request of attempt `number` to the endpoint; returns the row that records it (not written yet). */
async function postAttempt(deps: Deps, delivery: SendableDelivery, number: number): Promise<AttemptRow> {
  const body = payloadOf(delivery.event);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = signedHeaders(activeSecrets(deps, delivery.webhook), delivery.event.id, timestamp, body);
  const startedAt = new Date();
  const url = delivery.webhook.url;
  const http = await httpClientSpan('webhook POST', url, (traceHeaders) => postToTarget(url, { ...traceHeaders, ...headers }, body, deps.config), (h) => h.statusCode);
  return { deliveryId: delivery.id, number, startedAt, statusCode: http.statusCode, latencyMs: http.latencyMs, responseBody: http.body, error: http.error, succeeded: http.succeeded };
}

/**
 * Records an attempt together with what `settle` says it changes on the delivery, in one
 * transaction: a reader never sees an attempt whose delivery does not show it yet.
 */
async function recordAttempt(deps: Deps, row: AttemptRow, settle: Settle): Promise<Recorded> {
  const { deliveryId, number } = row;
  try {
    return await deps.db.$transaction(async (tx) => {
      const [created] = await tx.webhookAttempt.createManyAndReturn({ data: [row], skipDuplicates: true });
      // Recorded meanwhile by another run of the same attempt: that one is the attempt.
      const attempt = created ?? (await tx.webhookAttempt.findUniqueOrThrow({ where: { deliveryId_number: { deliveryId, number } } }));
      return { ...attempt, settled: await applySettle(tx, settle(attempt)) };
    });
  } catch (err) {
    // The webhook (and its deliveries) was deleted during the attempt: nothing left to record.
    if ((err as { code?: string }).code === 'P2003') return { ...row, settled: 0 };
    throw err;
  }
}

/**
 * Sends the request of one attempt to the endpoint and records it with its change to the delivery
 * (see recordAttempt). `known: 'absent'` when the caller has just read that the attempt is not recorded.
 */
export async function sendAttempt(deps: Deps, delivery: SendableDelivery, number: number, settle: Settle, known?: 'absent'): Promise<Recorded> {
  const existing = known === 'absent' ? null : await deps.db.webhookAttempt.findUnique({ where: { deliveryId_number: { deliveryId: delivery.id, number } } });
  if (existing) return { ...existing, settled: await applySettle(deps.db, settle(existing)) };
  return recordAttempt(deps, await postAttempt(deps, delivery, number), settle);
}

/**
 * A pending delivery's attempt, sent and recorded with its change to the delivery in ONE statement
 * (the insert and the update in one CTE are one transaction): succeeded ends it; else it counts the
 * attempt and sets `nextAttemptAt`. When the attempt was recorded meanwhile by another run, that
 * one is the attempt and `settle` applies it (recordAttempt).
 */
async function sendPendingAttempt(deps: Deps, delivery: SendableDelivery, number: number, nextAttemptAt: (a: Pick<WebhookAttempt, 'statusCode' | 'succeeded'>) => Date | null, settle: Settle): Promise<Recorded> {
  const row = await postAttempt(deps, delivery, number);
  let rows: Array<{ inserted: number; settled: number }>;
  try {
    rows = await deps.db.$queryRaw<Array<{ inserted: number; settled: number }>>`
      WITH attempt AS (
        INSERT INTO webhook_attempts (delivery_id, number, started_at, status_code, latency_ms, response_body, error, succeeded)
        VALUES (${row.deliveryId}, ${row.number}, ${row.startedAt}, ${row.statusCode}, ${row.latencyMs}, ${row.responseBody}, ${row.error}, ${row.succeeded})
        ON CONFLICT (delivery_id, number) DO NOTHING
        RETURNING 1
      ), settled AS (
        UPDATE webhook_deliveries
           SET status = CASE WHEN ${row.succeeded} THEN 'succeeded' ELSE status END,
               completed_at = CASE WHEN ${row.succeeded} THEN now() ELSE completed_at END,
               attempt_count = ${number}, next_attempt_at = ${nextAttemptAt(row)}
         WHERE id = ${row.deliveryId} AND status = 'pending' AND EXISTS (SELECT 1 FROM attempt)
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM attempt)::int AS inserted, (SELECT count(*) FROM settled)::int AS settled`;
  } catch (err) {
    // The webhook (and its deliveries) was deleted during the attempt: nothing left to record.
    if ((await deps.db.webhookDelivery.count({ where: { id: row.deliveryId } })) === 0) return { ...row, settled: 0 };
    throw err;
  }
  if (rows[0]?.inserted === 1) return { ...row, settled: rows[0].settled };
  return recordAttempt(deps, row, settle);
}

async function applySettle(db: Pick<ServiceDeps['db'], 'webhookDelivery'>, change: Prisma.WebhookDeliveryUpdateManyArgs | null): Promise<number> {
  return change ? (await db.webhookDelivery.updateMany(change)).count : 0;
}

/** Why a delivery was skipped when its endpoint's owner lost sight of the event (kept on the delivery). */
const OWNER_LOST_ACCESS = {
  code: 'endpoint_owner_lost_access',
  message: "Not sent: the account that created this endpoint can no longer see the event's project or team (it left the team, or the resource changed hands). A member who can see it should create the endpoint again.",
};

/** Everything an attempt reads, in one query: the delivery, endpoint, event, what the endpoint's owner may see, the attempt if recorded. */
interface AttemptContext extends SendableDelivery {
  status: string;
  webhook: SendableDelivery['webhook'] & Pick<Webhook, 'id' | 'enabled' | 'createdById' | 'projectId'>;
  event: SendableDelivery['event'] & Pick<WebhookEvent, 'projectId' | 'teamId' | 'ownerId'>;
  /** The endpoint's project (null: deleted), and whether the endpoint's owner is in its team and in the event's team. */
  project: { ownerId: string; teamId: string | null; ownerInTeam: boolean } | null;
  ownerInEventTeam: boolean;
  /** Attempt `number` when already recorded. */
  recorded: Pick<WebhookAttempt, 'statusCode' | 'succeeded'> | null;
}

async function loadAttemptContext(deps: Pick<ServiceDeps, 'db'>, deliveryId: string, number: number): Promise<AttemptContext | null> {
  const [row] = await deps.db.$queryRaw<
    Array<{
      status: string;
      webhook_id: string;
      enabled: boolean;
      url: string;
      secret_encrypted: string;
      previous_secret_encrypted: string | null;
      previous_secret_expires_at: Date | null;
      created_by_id: string;
      webhook_project_id: string;
      event_id: string;
      type: string;
      resource_id: string;
      created_at: Date;
      data: WebhookEvent['data'];
      event_project_id: string | null;
      event_team_id: string | null;
      event_owner_id: string | null;
      project_owner_id: string | null;
      project_team_id: string | null;
      owner_in_project_team: boolean;
      owner_in_event_team: boolean;
      attempt_status_code: number | null;
      attempt_succeeded: boolean | null;
    }>
  >`
    SELECT d.status, w.id AS webhook_id, w.enabled, w.url, w.secret_encrypted, w.previous_secret_encrypted, w.previous_secret_expires_at,
           w.created_by_id, w.project_id AS webhook_project_id,
           e.id AS event_id, e.type, e.resource_id, e.created_at, e.data, e.project_id AS event_project_id, e.team_id AS event_team_id, e.owner_id AS event_owner_id,
           p.owner_id AS project_owner_id, p.team_id AS project_team_id,
           EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = p.team_id AND m.user_id = w.created_by_id) AS owner_in_project_team,
           EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = e.team_id AND m.user_id = w.created_by_id) AS owner_in_event_team,
           a.status_code AS attempt_status_code, a.succeeded AS attempt_succeeded
      FROM webhook_deliveries d
      JOIN webhooks w ON w.id = d.webhook_id
      JOIN webhook_events e ON e.id = d.event_id
      LEFT JOIN projects p ON p.id = w.project_id
      LEFT JOIN webhook_attempts a ON a.delivery_id = d.id AND a.number = ${number}
     WHERE d.id = ${deliveryId}`;
  if (!row) return null;
  return {
    id: deliveryId,
    status: row.status,
    webhook: {
      id: row.webhook_id,
      enabled: row.enabled,
      url: row.url,
      secretEncrypted: row.secret_encrypted,
      previousSecretEncrypted: row.previous_secret_encrypted,
      previousSecretExpiresAt: row.previous_secret_expires_at,
      createdById: row.created_by_id,
      projectId: row.webhook_project_id,
    },
    event: {
      id: row.event_id,
      type: row.type,
      resourceId: row.resource_id,
      createdAt: row.created_at,
      data: row.data,
      projectId: row.event_project_id,
      teamId: row.event_team_id,
      ownerId: row.event_owner_id,
    },
    project: row.project_owner_id === null ? null : { ownerId: row.project_owner_id, teamId: row.project_team_id, ownerInTeam: row.owner_in_project_team },
    ownerInEventTeam: row.owner_in_event_team,
    recorded: row.attempt_succeeded === null ? null : { statusCode: row.attempt_status_code, succeeded: row.attempt_succeeded },
  };
}

/**
 * Whether the endpoint's owner (the account that created it) may still see what the event is
 * about, checked when the event is sent: membership and ownership change after events are queued,
 * and someone removed from a team must not keep hearing the team's events through an endpoint
 * they left behind. The endpoint's project must be theirs (personal) or their team's; an event
 * without a project must be of a team they belong to, or their own.
 */
function ownerMaySee({ webhook, event, project, ownerInEventTeam }: AttemptContext): boolean {
  const ownerId = webhook.createdById;
  if (!project) return false;
  if (project.teamId ? !project.ownerInTeam : project.ownerId !== ownerId) return false;
  if (event.projectId) return event.projectId === webhook.projectId;
  if (event.teamId) return event.teamId === project.teamId || ownerInEventTeam;
  return event.ownerId === null || event.ownerId === ownerId;
}

/**
 * Attempt `number` of a delivery (from its workflow). `nextDelayMs` is when the next attempt comes
 * if this one fails (null: none). Deliveries that ended, or whose endpoint was disabled or deleted,
 * stop; one whose endpoint owner may no longer see the event ends `skipped`, with the reason.
 */
export async function attemptDelivery(deps: Deps, input: { deliveryId: string; number: number; nextDelayMs: number | null }): Promise<AttemptOutcome> {
  const delivery = await loadAttemptContext(deps, input.deliveryId, input.number);
  if (!delivery || delivery.status !== 'pending') return 'stopped';
  if (!delivery.webhook.enabled) {
    await deps.db.webhookDelivery.updateMany({ where: { id: delivery.id, status: 'pending' }, data: { status: 'missed', nextAttemptAt: null } });
    return 'stopped';
  }
  if (!ownerMaySee(delivery)) {
    await deps.db.webhookDelivery.updateMany({
      where: { id: delivery.id, status: 'pending' },
      data: { status: 'skipped', error: OWNER_LOST_ACCESS, completedAt: new Date(), nextAttemptAt: null },
    });
    deps.logger.info({ webhookId: delivery.webhook.id, deliveryId: delivery.id, ownerId: delivery.webhook.createdById }, 'webhook delivery skipped: its endpoint owner may no longer see the event');
    return 'stopped';
  }
  const nextAttemptAt = (a: Pick<WebhookAttempt, 'statusCode' | 'succeeded'>) =>
    outcomeOf(a) === 'failed' && input.nextDelayMs != null ? new Date(Date.now() + input.nextDelayMs) : null;
  const settle: Settle = (a) => ({
    where: { id: input.deliveryId, status: 'pending' },
    data: a.succeeded
      ? { status: 'succeeded', attemptCount: input.number, completedAt: new Date(), nextAttemptAt: null }
      : { attemptCount: input.number, nextAttemptAt: nextAttemptAt(a) },
  });
  const attempt = delivery.recorded
    ? { ...delivery.recorded, settled: await applySettle(deps.db, settle(delivery.recorded)) }
    : await sendPendingAttempt(deps, delivery, input.number, nextAttemptAt, settle);
  const outcome = outcomeOf(attempt);
  metrics.webhookDeliveries.inc({ outcome, attempt: attemptLabel(input.number) });
  if (outcome === 'succeeded') metrics.webhookLatency.observe((Date.now() - delivery.event.createdAt.getTime()) / 1000);
  if (attempt.settled === 1) {
    const fields = { webhookId: delivery.webhook.id, deliveryId: delivery.id, eventId: delivery.event.id, eventType: delivery.event.type, attempt: input.number, statusCode: attempt.statusCode };
    if (outcome === 'succeeded') deps.logger.info({ ...fields, status: 'succeeded' }, 'webhook delivery succeeded');
    else deps.logger.info({ ...fields, status: 'pending', outcome, retryInMs: outcome === 'failed' ? input.nextDelayMs : null }, 'webhook delivery attempt failed');
  }
  return outcome;
}

/**
 * Ends a delivery that will not succeed: after the last scheduled attempt failed, or at once on
 * 410 Gone. Either way the endpoint is disabled and its creator notified (once).
 */
export async function failDelivery(deps: Deps, input: { deliveryId: string; reason: 'exhausted' | 'gone' }): Promise<void> {
  const delivery = await deps.db.webhookDelivery.findUnique({ where: { id: input.deliveryId }, include: { webhook: true } });
  if (!delivery) return;
  const failed = await deps.db.webhookDelivery.updateMany({ where: { id: delivery.id, status: 'pending' }, data: { status: 'failed', completedAt: new Date(), nextAttemptAt: null } });
  if (failed.count === 1) deps.logger.info({ webhookId: delivery.webhookId, deliveryId: delivery.id, status: 'failed', reason: input.reason, attempts: delivery.attemptCount }, 'webhook delivery failed');
  const w = delivery.webhook;
  const reason =
    input.reason === 'gone'
      ? 'The endpoint answered 410 Gone.'
      : `Delivery ${delivery.id} failed ${delivery.attemptCount} times in a row (the last retry of the schedule).`;
  const disabled = await deps.db.webhook.updateMany({ where: { id: w.id, enabled: true }, data: { enabled: false, disabledAt: new Date(), disabledReason: reason } });
  if (disabled.count === 0) return;
  metrics.webhooksDisabled.inc();
  deps.logger.info({ webhookId: w.id, deliveryId: delivery.id, reason: input.reason }, 'webhook endpoint disabled');
  await notifyUser(deps, w.createdById, {
    type: 'webhook.disabled',
    subject: `Webhook endpoint disabled: ${w.url}`,
    message: `${reason} The webhook ${w.id} (${w.url}) was disabled and receives no events until you enable it again (PATCH /v1/webhooks/${w.id} with {"enabled": true, "redeliver_missed": true} also redelivers what it missed).`,
    data: { webhook_id: w.id, delivery_id: delivery.id, reason: input.reason },
  });
}

/**
 * Ends a pending delivery as failed with `error` because its workflow ended in the task engine
 * without it (the reconciler). The endpoint stays enabled: nothing says it is at fault.
 */
export async function failInterruptedDelivery(deps: Pick<ServiceDeps, 'db'>, deliveryId: string, error: { code: string; message: string }): Promise<boolean> {
  const { count } = await deps.db.webhookDelivery.updateMany({
    where: { id: deliveryId, status: 'pending' },
    data: { status: 'failed', error, completedAt: new Date(), nextAttemptAt: null },
  });
  return count === 1;
}

/** Deletes deliveries and events older than WEBHOOK_HISTORY_DAYS (attempts go with their delivery). */
export async function pruneWebhookHistory(deps: Pick<ServiceDeps, 'db' | 'config'>): Promise<{ deliveries: number; events: number }> {
  const before = new Date(Date.now() - deps.config.WEBHOOK_HISTORY_DAYS * 86_400_000);
  const deliveries = await deps.db.webhookDelivery.deleteMany({ where: { createdAt: { lt: before }, status: { not: 'pending' } } });
  const events = await deps.db.webhookEvent.deleteMany({ where: { createdAt: { lt: before }, deliveries: { none: {} } } });
  return { deliveries: deliveries.count, events: events.count };
}
