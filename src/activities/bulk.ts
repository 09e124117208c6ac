/** Activities of the bulk operation workflow: thin over the bulk operation service. */
import { finishBulkOperation, processBulkBatch } from '../services/bulk/bulk-operations.js';
import type { TaskStartDeps } from '../services/tasks/execute-task.js';

export function createBulkActivities(deps: TaskStartDeps) {
  return {
    processBulkBatch: (input: { operationId: string; batch: number }) => processBulkBatch(deps, input),
    finishBulkOperation: (input: { operationId: string }) => finishBulkOperation(deps, input),
  };
}

export type BulkActivities = ReturnType<typeof createBulkActivities>;
