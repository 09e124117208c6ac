/** Activities of the project index workflow: thin over the index service. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ServiceDeps } from '../services/deps.js';
import { finishIndex, runIndex, type IndexStats } from '../services/projects/index-run.js';
import { RepositoryUrlError } from '../services/projects/repository.js';
import { INDEX_INPUT_ERROR } from '../../workflows/definitions.js';

export function createProjectActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'config'>) {
  return {
    /** Builds or refreshes the index; null when the project or run is gone. */
    async indexProject(input: { projectId: string; runId: string; branch: string | null }): Promise<IndexStats | null> {
      const ctx = Context.current();
      try {
        return await runIndex(deps, input, { attempt: ctx.info.attempt, heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal });
      } catch (err) {
        if (err instanceof RepositoryUrlError) throw ApplicationFailure.create({ type: INDEX_INPUT_ERROR, message: err.message, nonRetryable: true });
        throw err;
      }
    },
    finishIndex: (input: { projectId: string; runId: string; status: 'completed' | 'failed' | 'cancelled'; stats: IndexStats | null; error?: string | null }) => finishIndex(deps, input),
  };
}

export type ProjectActivities = ReturnType<typeof createProjectActivities>;
