/** Activities of the visualization workflow: thin over the visualization service. */
import { Context } from '@temporalio/activity';
import type { ServiceDeps } from '../services/deps.js';
import { failVisualization, runVisualization } from '../services/visualizations/visualizations.js';

export function createVisualizationActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'config' | 'logger'>) {
  return {
    /** Clones and analyses the repository; 'failed' when the repository itself is the problem. */
    async analyzeRepository(visualizationId: string): Promise<'completed' | 'failed'> {
      const ctx = Context.current();
      return runVisualization(deps, visualizationId, { heartbeat: () => ctx.heartbeat(), signal: ctx.cancellationSignal, attempt: ctx.info.attempt });
    },
    failVisualization: (visualizationId: string, message: string) => failVisualization(deps, visualizationId, message),
  };
}

export type VisualizationActivities = ReturnType<typeof createVisualizationActivities>;
