/**
 * A bulk operation: one activity per batch of the ids snapshot at start (each records its progress
 * and emits an event), then the summary. Activities retry until they succeed; a batch already
 * recorded is not done twice.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BulkActivities } from '../src/activities/bulk.js';

export interface BulkOperationWorkflowInput {
  operationId: string;
  batches: number;
}

export async function bulkOperationWorkflow(input: BulkOperationWorkflowInput): Promise<void> {
  const { processBulkBatch, finishBulkOperation } = proxyActivities<BulkActivities>({
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  for (let batch = 0; batch < input.batches; batch++) await processBulkBatch({ operationId: input.operationId, batch });
  await finishBulkOperation({ operationId: input.operationId });
}
