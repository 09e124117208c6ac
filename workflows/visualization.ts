/**
 * A repository visualization (workflow id = visualization id): one activity clones and analyses
 * the repository (retried on infrastructure failures, heartbeating while git runs); if every
 * attempt fails, the visualization ends as failed with a reason the caller can read.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { VisualizationActivities } from '../src/activities/visualizations.js';

export interface VisualizationWorkflowInput {
  visualizationId: string;
  /** Upper bound of one analysis attempt (clone timeout plus the analysis). */
  timeoutSeconds: number;
}

export async function visualizationWorkflow(input: VisualizationWorkflowInput): Promise<string> {
  const { analyzeRepository } = proxyActivities<VisualizationActivities>({
    startToCloseTimeout: `${input.timeoutSeconds} seconds`,
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 3 },
    // A cancelled analysis stops (git killed) before the visualization is marked failed, so it cannot store after that.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const { failVisualization } = proxyActivities<VisualizationActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  try {
    return await analyzeRepository(input.visualizationId);
  } catch (err) {
    const cancelled = isCancellation(err);
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const message = cancelled
      ? 'The visualization was cancelled.'
      : cause instanceof ApplicationFailure && cause.nonRetryable
        ? cause.message
        : 'The repository could not be analysed after several attempts; try again later.';
    await CancellationScope.nonCancellable(() => failVisualization(input.visualizationId, message));
    if (cancelled) throw err;
    return 'failed';
  }
}
