/**
 * Sends each delivery's first attempt from the process that recorded (or was announced) its event,
 * right after the event's transaction commits, and starts a delivery workflow (its retries) only
 * for a delivery whose first attempt failed.
 *
 * A delivery is claimed before its attempt (a conditional UPDATE … RETURNING on `claimed_at`), so
 * of two dispatchers announced the same ids only one sends it. At most WEBHOOK_DIRECT_CONCURRENCY
 * first attempts are in flight per process; more wait in a queue, unclaimed (past 100× that, they
 * go straight to a workflow). A failed attempt 1 (non-2xx, timeout, refused) starts the workflow
 * with `firstAttempt: 2`: it waits the schedule's first delay, then sends attempt 2. 410 and an
 * exhausted schedule end the delivery and disable the endpoint here, as the workflow would.
 *
 * The sweep (at start-up and every WEBHOOK_SWEEP_SECONDS) claims what no dispatcher took: pending
 * rows nobody claimed for WEBHOOK_SWEEP_SECONDS (an announcement lost, a queue dropped at shutdown,
 * a retry whose start failed while Temporal was down) and rows whose claim is older than
 * WEBHOOK_CLAIM_LEASE_SECONDS (the claimer died mid-attempt), and starts their workflows from
 * attempt 1, which is not sent again when already recorded. The workflow id is the delivery id and
 * a second start is rejected, so starting twice never delivers twice.
 * Also keeps the Temporal schedule that prunes delivery history.
 */
import { context, type Context } from '@opentelemetry/api';
import { ScheduleAlreadyRunning, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { pruneWebhookHistoryWorkflow, webhookDeliveryWorkflow, type WebhookDeliveryInput } from '../../../workflows/webhook-delivery.js';
import { start } from '../../temporal/start-for-row.js';
import { inSpan, SpanKind } from '../../tracing.js';
import type { ServiceDeps } from '../deps.js';
import { attemptDelivery, failDelivery } from './deliver.js';
import { DELIVERY_TOPIC, dispatchLocally } from './events.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'temporal' | 'config' | 'logger'>;

export interface WebhookDispatcher {
  /** Claims these deliveries and sends their first attempts (a failed one goes on in a workflow). */
  dispatch(ids: string[]): void;
  /** Starts the workflows of deliveries no dispatcher holds (see above); returns how many. */
  sweep(): Promise<number>;
  /** Stops taking deliveries and waits for the attempts in flight. */
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
  const limit = deps.config.WEBHOOK_DIRECT_CONCURRENCY;
  const queueMax = limit * 100;

  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    return p.finally(() => inFlight.delete(p));
  };
  const warnOnFailure = (p: Promise<unknown>, message: string) => void track(p).catch((err) => deps.logger.warn({ err }, message));

  /** Starts the delivery workflows of claimed deliveries; a failed start gives its claim back (the next sweep retries it). */
  async function startWorkflows(ids: string[], firstAttempt?: 2) {
    const started: string[] = [];
    const failed: string[] = [];
    await Promise.all(
      ids.map(async (deliveryId) => {
        const input: WebhookDeliveryInput = { deliveryId, scheduleMs, ...(firstAttempt ? { firstAttempt } : {}) };
        try {
          await start(deps, webhookDeliveryWorkflow, { workflowId: deliveryId, taskQueue, args: [input], rejectDuplicate: true });
          started.push(deliveryId);
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) started.push(deliveryId);
          else {
            failed.push(deliveryId);
            deps.logger.warn({ err, deliveryId }, 'could not start a webhook delivery workflow; the sweep retries it');
          }
        }
      }),
    );
    if (started.length) await markDispatched(started);
    if (failed.length) await deps.db.webhookDelivery.updateMany({ where: { id: { in: failed }, dispatchedAt: null }, data: { claimedAt: null } });
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

  /** Claims those of `ids` that are pending and unclaimed: the ids this process now sends. */
  async function claim(ids: string[]): Promise<Set<string>> {
    const rows = await deps.db.$queryRaw<Array<{ id: string }>>`
      UPDATE webhook_deliveries SET claimed_at = now()
       WHERE id = ANY(${ids}::text[]) AND status = 'pending' AND dispatched_at IS NULL AND claimed_at IS NULL
      RETURNING id`;
    return new Set(rows.map((r) => r.id));
  }

  /** Attempt 1 of a claimed delivery, then what its outcome calls for. Errors leave the claim to lapse (the sweep takes it over). */
  async function sendFirst(deliveryId: string) {
    const nextDelayMs = scheduleMs[0] ?? null;
    await inSpan('webhook delivery', SpanKind.INTERNAL, { 'webhook.delivery.id': deliveryId, 'webhook.attempt': 1 }, async () => {
      const outcome = await attemptDelivery(deps, { deliveryId, number: 1, nextDelayMs });
      if (outcome === 'gone' || (outcome === 'failed' && nextDelayMs === null)) await failDelivery(deps, { deliveryId, reason: outcome === 'gone' ? 'gone' : 'exhausted' });
      else if (outcome === 'failed') await startWorkflows([deliveryId], 2);
    });
  }

  // Deliveries waiting for a free slot, unclaimed, each with the trace context it was announced in.
  const queue: Array<{ id: string; trace: Context }> = [];
  let running = 0;
  let closed = false;

  function pump() {
    while (!closed && queue.length && running < limit) {
      const batch = queue.splice(0, limit - running);
      running += batch.length;
      warnOnFailure(claimAndSend(batch), 'webhook dispatch failed; the sweep takes the deliveries over');
    }
  }

  async function claimAndSend(batch: Array<{ id: string; trace: Context }>) {
    let claimed = new Set<string>();
    try {
      claimed = await claim(batch.map((b) => b.id));
    } finally {
      // Not claimed here (taken elsewhere, or the claim failed: left unclaimed for a sweep): their slots are free.
      running -= batch.length - claimed.size;
      if (claimed.size < batch.length) pump();
    }
    await Promise.all(
      batch
        .filter((b) => claimed.has(b.id))
        .map((b) =>
          context
            .with(b.trace, () => sendFirst(b.id))
            .catch((err) => deps.logger.warn({ err, deliveryId: b.id }, 'webhook first attempt failed to finish; the sweep hands the delivery to a workflow after WEBHOOK_CLAIM_LEASE_SECONDS'))
            .finally(() => {
              running--;
              pump();
            }),
        ),
    );
    pump();
  }

  function dispatch(ids: string[]) {
    if (closed) return; // left unclaimed: a sweep takes them
    const trace = context.active();
    const room = Math.max(0, queueMax - queue.length);
    for (const id of ids.slice(0, room)) queue.push({ id, trace });
    // Past the queue's bound: straight to a workflow (attempt 1 included).
    const overflow = ids.slice(room);
    if (overflow.length) warnOnFailure(claim(overflow).then((claimed) => (claimed.size ? startWorkflows([...claimed]) : undefined)), 'webhook dispatch failed; the sweep retries it');
    pump();
  }

  async function sweep(): Promise<number> {
    const lease = deps.config.WEBHOOK_CLAIM_LEASE_SECONDS;
    const unclaimedFor = deps.config.WEBHOOK_SWEEP_SECONDS;
    const rows = await deps.db.$queryRaw<Array<{ id: string }>>`
      UPDATE webhook_deliveries SET claimed_at = now()
       WHERE id IN (
         SELECT id FROM webhook_deliveries
          WHERE status = 'pending' AND dispatched_at IS NULL
            AND (claimed_at < now() - ${lease}::int * interval '1 second'
                 OR (claimed_at IS NULL AND created_at < now() - ${unclaimedFor}::int * interval '1 second'))
          ORDER BY id LIMIT 500
          FOR UPDATE SKIP LOCKED)
      RETURNING id`;
    if (rows.length) await startWorkflows(rows.map((r) => r.id));
    return rows.length;
  }

  // Deliveries recorded in this process come straight here; other processes announce on the bus.
  const unregister = dispatchLocally(deps.bus, dispatch);
  const unlisten = deps.bus.onBroadcast(DELIVERY_TOPIC, (message) => dispatch(message.split(',').filter(Boolean)));
  let timer: NodeJS.Timeout | null = null;
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
      unregister();
      unlisten();
      queue.length = 0; // unclaimed: another worker's sweep (or this one's next start) takes them
      if (timer) clearTimeout(timer);
      // Attempts in flight finish and record (nothing may touch the database after its owner closes it).
      while (inFlight.size) await Promise.allSettled([...inFlight]);
      await schedule;
      // Test systems each have their own queue prefix: leave no schedule behind for a queue nobody polls.
      if (deps.config.NODE_ENV === 'test') await deps.temporal.schedule.getHandle(pruneScheduleId).delete().catch(() => {});
    },
  };
}
