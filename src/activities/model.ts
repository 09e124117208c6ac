/**
 * The `runAgent` activity of the gpu queue: agents that need a model send the task and its files
 * to the configured OpenAI-compatible endpoint and stream the answer. Streamed text becomes
 * progress events (about every 200 characters); tokens come from the provider's usage and the cost
 * from MODEL_*_PRICE_PER_MTOK. A 429 or 5xx is retried by Temporal with backoff (only the attempt
 * that completes is billed); a 4xx is not. Cancellation aborts the HTTP call.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ModelRequestError, streamChat } from '../agents/model-client.js';
import type { SourceFile } from '../agents/security-expert.js';
import type { Config } from '../config.js';
import type { ServiceDeps } from '../services/deps.js';
import { completeTask, isCompleted, reportProgress, startTask } from '../services/tasks/task-lifecycle.js';
import { AGENT_INPUT_ERROR } from '../../workflows/definitions.js';

const PROGRESS_EVERY_CHARS = 200;
const MAX_CONTEXT_CHARS = 200_000;

export function createModelActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>, config: Config) {
  return {
    async runAgent(taskId: string): Promise<boolean> {
      const ctx = Context.current();
      const task = await startTask(deps, taskId);
      if (!task) return isCompleted(deps, taskId); // a previous attempt completed it, or it was cancelled
      if (!config.MODEL_BASE_URL) {
        throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: 'No model is configured on this worker (MODEL_BASE_URL).', nonRetryable: true });
      }
      const input = task.input as { context?: { files?: SourceFile[] }; maxTokens?: number | null; temperature?: number | null; previous_results?: unknown };
      const files = (input.context?.files ?? []).map((f) => `--- ${f.path}\n${f.content}`).join('\n\n').slice(0, MAX_CONTEXT_CHARS);
      const previous = input.previous_results ? `\n\nResults of the agents before you:\n${JSON.stringify(input.previous_results).slice(0, 20_000)}` : '';
      let streamed = 0;
      let reported = 0;
      const timeout = AbortSignal.timeout(config.MODEL_TIMEOUT_SECONDS * 1000);
      try {
        const answer = await streamChat({
          baseUrl: config.MODEL_BASE_URL,
          apiKey: config.MODEL_API_KEY,
          model: config.MODEL_NAME,
          maxTokens: input.maxTokens,
          temperature: input.temperature,
          signal: AbortSignal.any([ctx.cancellationSignal, timeout]),
          messages: [
            { role: 'system', content: 'You are a senior software engineer. Answer the task about the files precisely and concisely.' },
            { role: 'user', content: `${task.prompt}\n\nFiles:\n${files}${previous}` },
          ],
          onDelta: async (delta) => {
            streamed += delta.length;
            ctx.heartbeat({ streamed });
            if (streamed - reported >= PROGRESS_EVERY_CHARS) {
              reported = streamed;
              await reportProgress(deps, taskId, { key: `stream:${streamed}`, progress: Math.min(95, 5 + Math.floor(streamed / 100)), message: `Model streamed ${streamed} characters` });
            }
          },
        });
        const cost = (answer.promptTokens * config.MODEL_PROMPT_PRICE_PER_MTOK + answer.completionTokens * config.MODEL_COMPLETION_PRICE_PER_MTOK) / 1_000_000;
        return await completeTask(deps, taskId, {
          result: { findings: [], summary: answer.text },
          promptTokens: answer.promptTokens,
          completionTokens: answer.completionTokens,
          costUsd: Math.round(cost * 1e6) / 1e6,
        });
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        if (err instanceof ModelRequestError) throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: err.message, nonRetryable: true });
        throw err; // unavailable or timed out: Temporal retries with backoff
      }
    },
  };
}
