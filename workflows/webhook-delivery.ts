/**
 * One webhook delivery (workflow id = delivery id): attempt, and after a failure wait the next
 * delay of the retry schedule (1 min, 5 min, 25 min, 2 h, 6 h by default; WEBHOOK_RETRY_SCHEDULE)
 * and attempt again. A 2xx ends it; a 410 ends it and disables the endpoint at once; a failure of
 * the last retry ends it and disables the endpoint. Timers are durable: a worker killed between
 * attempts resumes the schedule where it was, attempt numbers keep each attempt sent once.
 */
import { proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { WebhookActivities } from '../src/activities/webhooks.js';

export interface WebhookDeliveryInput {
  deliveryId: string;
  /** Delays before each retry, in milliseconds. */
  scheduleMs: number[];
}

export async function webhookDeliveryWorkflow(input: WebhookDeliveryInput): Promise<string> {
  const { attemptWebhookDelivery, failWebhookDelivery } = proxyActivities<WebhookActivities>({
    startToCloseTimeout: '1 minute', // the HTTP attempt itself stops after WEBHOOK_TIMEOUT_MS
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  // The first attempt runs as a local activity, in the worker that runs the workflow task: no
  // round trip through the server's matching before the event leaves (the 500 ms promise).
  const { attemptWebhookDelivery: firstAttempt } = proxyLocalActivities<WebhookActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  for (let i = 0; ; i++) {
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
