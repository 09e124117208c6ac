/**
 * The retries of one webhook delivery (workflow id = delivery id). The dispatcher sends attempt 1
 * itself, right after the event's transaction commits, and starts this workflow only when that
 * attempt failed (`firstAttempt: 2`): it waits the first delay of the retry schedule (1 min, 5 min,
 * 25 min, 2 h, 6 h by default; WEBHOOK_RETRY_SCHEDULE) and attempts again, and so on. Without
 * `firstAttempt` (the sweep's hand-over of a delivery whose dispatcher died, and workflows started
 * before the dispatcher sent first attempts) it begins with attempt 1, which is not sent again when
 * already recorded. A 2xx ends it; a 410 ends it and disables the endpoint at once; a failure of
 * the last retry ends it and disables the endpoint. Timers are durable: a worker killed between
 * attempts resumes the schedule where it was, attempt numbers keep each attempt sent once.
 */
import { proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { WebhookActivities } from '../src/activities/webhooks.js';

export interface WebhookDeliveryInput {
  deliveryId: string;
  /** Delays before each retry, in milliseconds. */
  scheduleMs: number[];
  /** The number of the first attempt this workflow sends (default 1); 2 after the dispatcher's failed attempt 1. */
  firstAttempt?: number;
}

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<string> {
  const { attemptWebhookDelivery, failWebhookDelivery } = proxyActivities<WebhookActivities>({
    startToCloseTimeout: '1 minute', // the HTTP attempt itself stops after WEBHOOK_TIMEOUT_MS
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  // Attempt 1, when this workflow sends it, runs as a local activity, in the worker that runs the
  // workflow task: no round trip through the server's matching before the event leaves.
  const { attemptWebhookDelivery: firstAttempt } = proxyLocalActivities<WebhookActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const first = input.firstAttempt ?? 1;
  // Attempt n (1-based) comes scheduleMs[n - 2] after attempt n - 1 failed.
  if (first > 1) await sleep(input.scheduleMs[first - 2] ?? 0);
  for (let i = first - 1; ; i++) {
    const nextDelayMs = input.scheduleMs[i] ?? null;
    const outcome = await (i === 0 ? firstAttempt : attemptWebhookDelivery)({ deliveryId: input.deliveryId, number: i + 1, nextDelayMs });
    if (outcome === 'succeeded' || outcome === 'stopped') return outcome;
    if (outcome === 'gone' || nextDelayMs === null) {
      await failWebhookDelivery({ deliveryId: input.deliveryId, reason: outcome === 'gone' ? 'gone' : 'exhausted' });
      return 'failed';
    }
    await sleep(nextDelayMs);
  }
}

/** Run hourly by a Temporal schedule: deletes delivery history older than WEBHOOK_HISTORY_DAYS. */
export async function pruneWebhookHistoryWorkflow(): Promise<{ deliveries: number; events: number }> {
  const { pruneWebhookHistory } = proxyActivities<WebhookActivities>({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 3 } });
  return pruneWebhookHistory();
}
