/** Activities of the orchestration workflow: thin over the orchestration service. */
import type { ServiceDeps } from '../services/deps.js';
import { finishOrchestration, passResultsForward } from '../services/orchestrations.js';

export function createOrchestrationActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>) {
  return {
    passResultsForward: (input: { orchestrationId: string; taskId: string }) => passResultsForward(deps, input),
    finishOrchestration: (input: { orchestrationId: string; cancelled: boolean; failedFast: boolean }) => finishOrchestration(deps, input),
  };
}

export type OrchestrationActivities = ReturnType<typeof createOrchestrationActivities>;
