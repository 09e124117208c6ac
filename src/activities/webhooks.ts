/** Activities of the webhook delivery and prune workflows: thin over the webhook services. */
import type { ServiceDeps } from '../services/deps.js';
import { attemptDelivery, failDelivery, pruneWebhookHistory } from '../services/webhooks/deliver.js';

export function createWebhookActivities(deps: Pick<ServiceDeps, 'db' | 'config' | 'logger'>) {
  return {
    attemptWebhookDelivery: (input: { deliveryId: string; number: number; nextDelayMs: number | null }) => attemptDelivery(deps, input),
    failWebhookDelivery: (input: { deliveryId: string; reason: 'exhausted' | 'gone' }) => failDelivery(deps, input),
    pruneWebhookHistory: () => pruneWebhookHistory(deps),
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
