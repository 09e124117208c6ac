/**
 * Webhook events: the catalog, and the one function event sources call. An event is stored with
 * one delivery row per matching subscription (in the caller's transaction when it passes one), then
 * handed to the dispatcher of this process, or announced on the bus when none runs here; the
 * dispatcher (src/services/webhooks/dispatcher.ts) claims each row and sends its first attempt at
 * once (a retry workflow only when it fails), and its sweep hands any row whose announcement was
 * lost, or whose claimer died, to a workflow.
 *
 * Which subscriptions receive an event: with a project, that project's subscriptions; without one,
 * the subscriptions of every project of the event's team (teamId set) or of every personal project
 * of its owner (teamId null). In each case only subscriptions whose event types list the type, its
 * namespace wildcard (`task.*`) or `*`. Disabled subscriptions get a `missed` row instead, which
 * re-enabling can redeliver.
 */
import type { Db } from '../../db/client.js';
import type { EventBus } from '../../events/event-bus.js';
import { newId } from '../../ids.js';

/** Every event type a subscription can name. */
export const WEBHOOK_EVENT_TYPES = [
  'generation.completed',
  'generation.failed',
  'review.completed',
  'review.failed',
  'project.index_updated',
  'task.completed',
  'task.failed',
  'task.cancelled',
  'task.timed_out',
  'orchestration.completed',
  'orchestration.partial',
  'orchestration.failed',
  'orchestration.cancelled',
  'team.member_added',
  'team.member_removed',
  'team.member_role_changed',
  'key.created',
  'key.revoked',
  'webhook.ping',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The bus topic that carries ids of deliveries ready to start. */
export const DELIVERY_TOPIC = 'webhook.deliveries';

export interface WebhookEventInput {
  type: WebhookEventType;
  /** The resource the event is about (task, orchestration, team, key, generation, review, project id). */
  resourceId: string;
  /** The account the resource belongs to. */
  ownerId: string | null;
  /** The team the resource belongs to, if any. */
  teamId?: string | null;
  /** The project the event is about, if any: only that project's subscriptions receive it. */
  projectId?: string | null;
  data: Record<string, unknown>;
}

type Tx = Pick<Db, 'webhook' | '$executeRaw'>;

/** The event types a subscription pattern list matches for `type`. */
function patternsFor(type: string): string[] {
  return [type, `${type.split('.')[0]}.*`, '*'];
}

/**
 * Stores the event and its delivery rows with `db` (pass a transaction client to commit them with
 * the change that caused the event). Returns the deliveries to announce once committed.
 */
export async function recordWebhookEvent(db: Tx, event: WebhookEventInput): Promise<{ eventId: string; deliveryIds: string[] }> {
  const scope = event.projectId
    ? { projectId: event.projectId }
    : event.teamId
      ? { project: { teamId: event.teamId } }
      : event.ownerId
        ? { project: { ownerId: event.ownerId, teamId: null } }
        : null;
  const subs = scope
    ? await db.webhook.findMany({ where: { ...scope, eventTypes: { hasSome: patternsFor(event.type) } }, select: { id: true, enabled: true } })
    : [];
  if (!subs.length) return { eventId: '', deliveryIds: [] };
  const eventId = newId('webhookEvent');
  const rows = subs.map((s) => ({ id: newId('webhookDelivery'), webhook_id: s.id, status: s.enabled ? 'pending' : 'missed' }));
  // The event and its deliveries in one statement (one round trip, and never an event without them).
  await db.$executeRaw`
    WITH stored AS (
      INSERT INTO webhook_events (id, type, resource_id, owner_id, team_id, project_id, data)
      VALUES (${eventId}, ${event.type}, ${event.resourceId}, ${event.ownerId}, ${event.teamId ?? null}, ${event.projectId ?? null}, ${JSON.stringify(event.data)}::jsonb)
    )
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, status)
    SELECT d.id, d.webhook_id, ${eventId}, d.status FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS d(id text, webhook_id text, status text)`;
  return { eventId, deliveryIds: rows.filter((r) => r.status === 'pending').map((r) => r.id) };
}

/** The dispatchers running in this process, by the bus they listen on. */
const localDispatchers = new WeakMap<EventBus, Set<(deliveryIds: string[]) => void>>();

/**
 * Registers a dispatcher of this process: deliveries announced on `bus` go to it directly, with no
 * NOTIFY round trip (any one dispatcher can start any delivery). Returns the unregister function.
 */
export function dispatchLocally(bus: EventBus, dispatch: (deliveryIds: string[]) => void): () => void {
  const set = localDispatchers.get(bus) ?? new Set();
  localDispatchers.set(bus, set.add(dispatch));
  return () => void set.delete(dispatch);
}

/**
 * Tells a dispatcher that these deliveries are ready to start: the one of this process when it
 * runs one, else every worker process through the bus.
 */
export async function announceDeliveries(bus: EventBus, deliveryIds: string[]): Promise<void> {
  if (!deliveryIds.length) return;
  const local = localDispatchers.get(bus)?.values().next().value;
  if (local) return local(deliveryIds);
  // NOTIFY payloads are limited to 8 kB: 100 ids a message.
  for (let i = 0; i < deliveryIds.length; i += 100) await bus.broadcast(DELIVERY_TOPIC, deliveryIds.slice(i, i + 100).join(','));
}

/**
 * THE entry point for event sources: stores the event for every matching subscription and
 * announces its deliveries (each is sent within milliseconds by a running worker).
 */
export async function publishWebhookEvent(deps: { db: Db; bus: EventBus }, event: WebhookEventInput): Promise<{ eventId: string; deliveryIds: string[] }> {
  const recorded = await recordWebhookEvent(deps.db, event);
  await announceDeliveries(deps.bus, recorded.deliveryIds);
  return recorded;
}

/** The transaction client `db.$transaction` hands its callback. */
export type TxClient = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * A state change and its webhook event committed together: `change` runs in a transaction and
 * says what it did and which event that raises (null: nothing changed, no event); the event and
 * its deliveries are stored in the same transaction and announced once it commits.
 */
export async function changeWithWebhookEvent<T>(
  deps: { db: Db; bus: EventBus },
  change: (tx: TxClient) => Promise<{ result: T; event: WebhookEventInput | null }>,
): Promise<T> {
  const { result, deliveryIds } = await deps.db.$transaction(async (tx) => {
    const done = await change(tx);
    return { result: done.result, deliveryIds: done.event ? (await recordWebhookEvent(tx, done.event)).deliveryIds : [] };
  });
  await announceDeliveries(deps.bus, deliveryIds);
  return result;
}
