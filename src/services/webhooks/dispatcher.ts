/**
 * Starts a delivery workflow for each pending delivery row: at once when a delivery is recorded in
 * this process or announced on the bus, and from a sweep (at start-up and every WEBHOOK_SWEEP_SECONDS) for rows whose
 * announcement was lost (the process died between commit and start). The workflow id is the
 * delivery id and a second start is rejected, so starting twice never delivers twice.
 * Also keeps the Temporal schedule that prunes delivery history.
 */
import { ScheduleAlreadyRunning, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { pruneWebhookHistoryWorkflow, webhookDeliveryWorkflow, type WebhookDeliveryInput } from '../../../workflows/webhook-delivery.js';
import { start } from '../../temporal/start-for-row.js';
import type { ServiceDeps } from '../deps.js';
import { DELIVERY_TOPIC, dispatchLocally } from './events.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'temporal' | 'config' | 'logger'>;

export interface WebhookDispatcher {
  /** Starts the workflows of these deliveries (idempotent). */
  dispatch(ids: string[]): Promise<void>;
  /** Starts every pending delivery that has no workflow yet; returns how many. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

/** The retry delays of the schedule, in milliseconds. */
export function retryDelaysMs(config: ServiceDeps['config']): number[] {
  return config.WEBHOOK_RETRY_SCHEDULE.map((s) => Math.round(s * 1000));
}

export function startWebhookDispatcher(deps: Deps): WebhookDispatcher {
  const scheduleMs = retryDelaysMs(deps.config);
  const taskQueue = deps.config.taskQueues.cpu;
  const pruneScheduleId = `${deps.config.TASK_QUEUE_PREFIX}-webhook-history-prune`;

  // Ids this process started lately: the PostgreSQL bus also echoes our own announcements back.
  const recent = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    return p.finally(() => inFlight.delete(p));
  };

  async function dispatch(all: string[], skipRecent = false) {
    const ids = skipRecent ? all.filter((id) => !recent.has(id)) : all;
    const started: string[] = [];
    await Promise.all(
      ids.map(async (deliveryId) => {
        const input: WebhookDeliveryInput = { deliveryId, scheduleMs };
        try {
          await start(deps, webhookDeliveryWorkflow, { workflowId: deliveryId, taskQueue, args: [input], rejectDuplicate: true });
          started.push(deliveryId);
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) started.push(deliveryId);
          else deps.logger.warn({ err, deliveryId }, 'could not start a webhook delivery; the sweep retries it');
        }
      }),
    );
    for (const id of started) recent.add(id);
    if (recent.size > 10_000) for (const id of [...recent].slice(0, 5_000)) recent.delete(id);
    if (started.length) await markDispatched(started);
  }

  // Started ids are marked in one write at a time: those started while a write runs go in the next.
  let toMark: string[] = [];
  let marking: Promise<void> | null = null;
  function markDispatched(ids: string[]): Promise<void> {
    toMark.push(...ids);
    marking ??= (async () => {
      try {
        while (toMark.length) {
          const batch = toMark;
          toMark = [];
          await deps.db.webhookDelivery.updateMany({ where: { id: { in: batch }, dispatchedAt: null }, data: { dispatchedAt: new Date() } });
        }
      } finally {
        toMark = [];
        marking = null;
      }
    })();
    return marking;
  }

  async function sweep(): Promise<number> {
    const rows = await deps.db.webhookDelivery.findMany({ where: { status: 'pending', dispatchedAt: null }, select: { id: true }, orderBy: { id: 'asc' }, take: 500 });
    if (rows.length) await dispatch(rows.map((r) => r.id));
    return rows.length;
  }

  const dispatchAnnounced = (ids: string[], skipRecent: boolean) =>
    void track(dispatch(ids, skipRecent)).catch((err) => deps.logger.warn({ err }, 'webhook dispatch failed; the sweep retries it'));
  // Deliveries recorded in this process come straight here; other processes announce on the bus.
  const unregister = dispatchLocally(deps.bus, (ids) => dispatchAnnounced(ids, false));
  const unlisten = deps.bus.onBroadcast(DELIVERY_TOPIC, (message) => dispatchAnnounced(message.split(',').filter(Boolean), true));
  const unsubscribe = () => {
    unregister();
    unlisten();
  };
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const runSweep = () => {
    track(sweep())
      .catch((err) => deps.logger.warn({ err }, 'webhook delivery sweep failed'))
      .finally(() => {
        if (!closed) timer = setTimeout(runSweep, deps.config.WEBHOOK_SWEEP_SECONDS * 1000).unref();
      });
  };
  runSweep();

  const schedule = deps.temporal.schedule
    .create({
      scheduleId: pruneScheduleId,
      spec: { intervals: [{ every: '1 hour' }] },
      action: { type: 'startWorkflow', workflowType: pruneWebhookHistoryWorkflow, taskQueue, args: [] },
    })
    .catch((err) => {
      if (!(err instanceof ScheduleAlreadyRunning)) deps.logger.warn({ err }, 'could not create the webhook history prune schedule');
    });

  return {
    dispatch,
    sweep,
    async close() {
      closed = true;
      unsubscribe();
      if (timer) clearTimeout(timer);
      await Promise.allSettled([...inFlight]); // nothing may touch the database after its owner closes it
      await schedule;
      // Test systems each have their own queue prefix: leave no schedule behind for a queue nobody polls.
      if (deps.config.NODE_ENV === 'test') await deps.temporal.schedule.getHandle(pruneScheduleId).delete().catch(() => {});
    },
  };
}
