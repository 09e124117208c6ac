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
  return (await recordWebhookEvents(db, [event]))[0];
}

/** Which subscriptions an event's scope covers (see the top of this file); null: none. */
function scopeOf(event: WebhookEventInput) {
  if (event.projectId) return { projectId: event.projectId };
  if (event.teamId) return { project: { teamId: event.teamId } };
  if (event.ownerId) return { project: { ownerId: event.ownerId, teamId: null } };
  return null;
}

/**
 * `recordWebhookEvent` for several events at once (the tasks a batch of ends finished): the
 * subscriptions are read once per scope and event type (50 agents of one account: one read), and
 * every event with its deliveries is stored in one statement. Results in the order of `events`.
 */
export async function recordWebhookEvents(db: Tx, events: WebhookEventInput[]): Promise<Array<{ eventId: string; deliveryIds: string[] }>> {
  const lookups = new Map<string, Array<{ id: string; enabled: boolean }>>();
  const stored: Array<{ id: string; type: string; resource_id: string; owner_id: string | null; team_id: string | null; project_id: string | null; data: Record<string, unknown> }> = [];
  const deliveries: Array<{ id: string; webhook_id: string; event_id: string; status: string }> = [];
  const results: Array<{ eventId: string; deliveryIds: string[] }> = [];
  for (const event of events) {
    const scope = scopeOf(event);
    const key = JSON.stringify([scope, event.type]);
    let subs = lookups.get(key);
    if (!subs) {
      // One after another: on a transaction's connection they would queue anyway.
      subs = scope ? await db.webhook.findMany({ where: { ...scope, eventTypes: { hasSome: patternsFor(event.type) } }, select: { id: true, enabled: true } }) : [];
      lookups.set(key, subs);
    }
    if (!subs.length) {
      results.push({ eventId: '', deliveryIds: [] });
      continue;
    }
    const eventId = newId('webhookEvent');
    const rows = subs.map((s) => ({ id: newId('webhookDelivery'), webhook_id: s.id, event_id: eventId, status: s.enabled ? 'pending' : 'missed' }));
    stored.push({ id: eventId, type: event.type, resource_id: event.resourceId, owner_id: event.ownerId, team_id: event.teamId ?? null, project_id: event.projectId ?? null, data: event.data });
    deliveries.push(...rows);
    results.push({ eventId, deliveryIds: rows.filter((r) => r.status === 'pending').map((r) => r.id) });
  }
  if (!stored.length) return results;
  // The events and their deliveries in one statement (one round trip, and never an event without them).
  await db.$executeRaw`
    WITH stored AS (
      INSERT INTO webhook_events (id, type, resource_id, owner_id, team_id, project_id, data)
      SELECT e.id, e.type, e.resource_id, e.owner_id, e.team_id, e.project_id, e.data
      FROM jsonb_to_recordset(${JSON.stringify(stored)}::jsonb) AS e(id text, type text, resource_id text, owner_id text, team_id text, project_id text, data jsonb)
    )
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, status)
    SELECT d.id, d.webhook_id, d.event_id, d.status FROM jsonb_to_recordset(${JSON.stringify(deliveries)}::jsonb) AS d(id text, webhook_id text, event_id text, status text)`;
  return results;
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
