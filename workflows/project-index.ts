/**
 * One index run of a project (workflow id = the run id, cpu queue): the `indexProject` activity
 * does the work with heartbeats (so cancellation reaches it), then `finishIndex` records the
 * outcome — also when the run is cancelled (deleting the project cancels it) or fails.
 */
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { ProjectActivities } from '../src/activities/projects.js';
import { INDEX_INPUT_ERROR } from './definitions.js';

export interface ProjectIndexWorkflowInput {
  projectId: string;
  runId: string;
  branch: string | null;
  heartbeatTimeoutSeconds: number;
}

export async function projectIndexWorkflow(input: ProjectIndexWorkflowInput): Promise<string> {
  const { indexProject } = proxyActivities<ProjectActivities>({
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: [INDEX_INPUT_ERROR] },
  });
  const { finishIndex } = proxyActivities<ProjectActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const run = { projectId: input.projectId, runId: input.runId };
  try {
    const stats = await indexProject({ ...run, branch: input.branch });
    await finishIndex({ ...run, status: 'completed', stats });
    return 'completed';
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => finishIndex({ ...run, status: 'cancelled', stats: null }));
      return 'cancelled';
    }
    const cause = (err as { cause?: unknown }).cause;
    const message = cause instanceof ApplicationFailure && cause.type === INDEX_INPUT_ERROR ? cause.message : 'the index run failed; retry it, and contact support if it keeps failing';
    await finishIndex({ ...run, status: 'failed', stats: null, error: message });
    return 'failed';
  }
}
