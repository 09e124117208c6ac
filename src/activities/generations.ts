/**
 * Activities of the generation workflow. `generateCode` runs on the gpu queue: it streams the
 * model's answer (heartbeating, so cancellation and a dead worker are noticed) and parses the code
 * out of it. The rest runs on cpu: the built-in analyzers, storage, and the retention clean-up.
 */
import { ApplicationFailure } from '@temporalio/common';
import { analyzeGeneratedCode, generationConfidence, generationMessages, parseModelAnswer, type GenerationOptions } from '../agents/code-generation.js';
import type { Config } from '../config.js';
import { callModel } from './model-call.js';
import type { FileHit } from '../services/projects/search.js';
import type { ServiceDeps } from '../services/deps.js';
import { deleteExpiredGenerations, failGeneration, storeCompletedGeneration, type GenerationDraft } from '../services/generations.js';
import { scaffoldFeatureMessages } from '../services/scaffold.js';
import { AGENT_INPUT_ERROR } from '../../workflows/definitions.js';

/** The gpu queue's generation activity. */
export function createGenerationModelActivities(deps: Pick<ServiceDeps, 'db' | 'logger'>, config: Config) {
  return {
    /** The model's code for the generation, or null when it is gone or no longer processing. */
    async generateCode(generationId: string): Promise<GenerationDraft | null> {
      const g = await deps.db.generation.findUnique({ where: { id: generationId }, include: { project: true } });
      if (!g || g.status !== 'processing') return null;
      const answer = await callModel(
        config,
        generationMessages({
          prompt: g.prompt,
          language: g.language,
          options: g.options as GenerationOptions,
          project: g.project,
          contextFiles: g.contextFiles as unknown as FileHit[],
        }),
        { temperature: 0.2 },
      );
      const parsed = parseModelAnswer(answer.text, g.language);
      if (!parsed) {
        const refusal = /"explanation"\s*:\s*"([^"]{1,300})/.exec(answer.text)?.[1];
        throw ApplicationFailure.create({
          type: AGENT_INPUT_ERROR,
          message: refusal
            ? `The model wrote no code: ${refusal}`
            : 'The model answered without any code (no JSON object with "code" and no fenced code block). Rephrase the prompt or retry.',
          nonRetryable: true,
        });
      }
      return { ...parsed, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens };
    },
    /** The model's answer (unparsed) for a scaffold's described module. */
    async writeScaffoldFeature(input: { name: string; template: string; description: string }): Promise<string> {
      return (await callModel(config, scaffoldFeatureMessages(input), { temperature: 0.2 })).text;
    },
  };
}

/** The cpu queue's generation activities. */
export function createGenerationActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>, config: Config) {
  return {
    /** Runs the built-in analyzers on the draft and stores the completed generation. */
    async completeGeneration(input: { generationId: string; draft: GenerationDraft }): Promise<void> {
      const g = await deps.db.generation.findUnique({ where: { id: input.generationId } });
      if (!g || g.status !== 'processing') return;
      const { draft } = input;
      const language = g.language ?? draft.language ?? 'text';
      const warnings = analyzeGeneratedCode(draft.code, language, g.options as GenerationOptions);
      await storeCompletedGeneration(deps, g.id, {
        code: draft.code,
        language,
        explanation: draft.explanation,
        confidence: generationConfidence(draft, g.language, warnings),
        warnings,
        promptTokens: draft.promptTokens,
        completionTokens: draft.completionTokens,
      });
    },
    failGeneration: (input: { generationId: string; error: { code: string; message: string } }) => failGeneration(deps, input.generationId, input.error),
    /** Deletes generations older than GENERATION_RETENTION_DAYS. */
    async deleteExpiredGenerations(): Promise<number> {
      const deleted = await deleteExpiredGenerations(deps, { days: config.GENERATION_RETENTION_DAYS });
      if (deleted) deps.logger.info({ deleted, retentionDays: config.GENERATION_RETENTION_DAYS }, 'expired generations deleted');
      return deleted;
    },
  };
}

export type GenerationModelActivities = ReturnType<typeof createGenerationModelActivities>;
export type GenerationActivities = ReturnType<typeof createGenerationActivities>;
