/**
 * One generation: the model writes the code (gpu queue), the built-in analyzers turn it into
 * warnings and the result is stored (cpu queue). A model that cannot be reached is retried with
 * backoff; an answer without code, or a request the provider refuses, fails the generation with
 * a message the caller reads on GET /v1/generations/{id}.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { GenerationActivities, GenerationModelActivities } from '../src/activities/generations.js';
import { AGENT_INPUT_ERROR } from './definitions.js';

export interface GenerationWorkflowInput {
  generationId: string;
  /** The queue whose workers call the model. */
  gpuQueue: string;
  timeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
}

/** Generates, analyzes and stores; returns how the generation ended. */
export async function generationWorkflow(input: GenerationWorkflowInput): Promise<'completed' | 'failed' | 'skipped'> {
  // Storing is retried a few times (an error that repeats, e.g. an analyzer failing on this code, then fails the generation).
  const { completeGeneration } = proxyActivities<GenerationActivities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
  });
  const { failGeneration } = proxyActivities<GenerationActivities>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { generateCode } = proxyActivities<GenerationModelActivities>({
    taskQueue: input.gpuQueue,
    startToCloseTimeout: `${input.timeoutSeconds + 30} seconds`,
    // Waiting for a gpu worker and every retry together: after this the generation fails (and can
    // be retried) rather than staying processing for ever.
    scheduleToCloseTimeout: `${Math.max(3600, (input.timeoutSeconds + 30) * 5)} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [AGENT_INPUT_ERROR] },
  });
  try {
    const draft = await generateCode(input.generationId);
    if (!draft) return 'skipped'; // deleted, or no longer processing
    await completeGeneration({ generationId: input.generationId, draft });
    return 'completed';
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const safe = cause instanceof ApplicationFailure && cause.type === AGENT_INPUT_ERROR;
    // Written even when the workflow itself is being cancelled, so the generation never stays processing.
    await CancellationScope.nonCancellable(() => failGeneration({
      generationId: input.generationId,
      error: {
        code: 'agent_error',
        message: safe ? cause.message : 'The generation could not be completed after several attempts. Retry it later (POST /v1/generations/{id}/retry).',
      },
    }));
    return 'failed';
  }
}

/** Deletes generations past GENERATION_RETENTION_DAYS; started by the generation-retention schedule. */
export async function generationRetentionWorkflow(): Promise<number> {
  const { deleteExpiredGenerations } = proxyActivities<GenerationActivities>({
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes' },
  });
  return deleteExpiredGenerations();
}

export interface ScaffoldFeatureWorkflowInput {
  gpuQueue: string;
  timeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  name: string;
  template: string;
  description: string;
}

/** The model's answer for a scaffold's described module (src/feature.ts); the gateway parses it. */
export async function scaffoldFeatureWorkflow(input: ScaffoldFeatureWorkflowInput): Promise<string> {
  const { writeScaffoldFeature } = proxyActivities<GenerationModelActivities>({
    taskQueue: input.gpuQueue,
    startToCloseTimeout: `${input.timeoutSeconds + 30} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3, nonRetryableErrorTypes: [AGENT_INPUT_ERROR] },
  });
  return writeScaffoldFeature({ name: input.name, template: input.template, description: input.description });
}
