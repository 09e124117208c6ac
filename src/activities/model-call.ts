/**
 * One chat completion from inside an activity (gpu queue): the model's errors become what
 * Temporal should do with them (a 4xx or no model configured: not retried; 429, 5xx, unreachable
 * or too slow: retried with backoff), cancellation aborts the HTTP call, and the activity
 * heartbeats every second, also while the model reads a long prompt before its first token.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ModelRequestError, streamChat, type ChatMessage, type ChatResult } from '../agents/model-client.js';
import type { Config } from '../config.js';
import { metrics } from '../metrics.js';
import { AGENT_INPUT_ERROR } from '../../workflows/definitions.js';

export async function callModel(
  config: Pick<Config, 'MODEL_BASE_URL' | 'MODEL_API_KEY' | 'MODEL_NAME' | 'MODEL_TIMEOUT_SECONDS'>,
  messages: ChatMessage[],
  options: { maxTokens?: number | null; temperature?: number | null; onDelta?: (text: string) => void | Promise<void>; heartbeat?: () => unknown } = {},
): Promise<ChatResult> {
  const ctx = Context.current();
  if (!config.MODEL_BASE_URL) {
    throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: 'No model is configured on this worker (MODEL_BASE_URL).', nonRetryable: true });
  }
  const heartbeat = () => ctx.heartbeat(options.heartbeat?.());
  const beat = setInterval(heartbeat, 1000);
  const started = performance.now();
  let outcome: 'ok' | 'error' | 'cancelled' = 'error';
  try {
    const result = await streamChat({
      baseUrl: config.MODEL_BASE_URL,
      apiKey: config.MODEL_API_KEY,
      model: config.MODEL_NAME,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      signal: AbortSignal.any([ctx.cancellationSignal, AbortSignal.timeout(config.MODEL_TIMEOUT_SECONDS * 1000)]),
      messages,
      onDelta: async (text) => {
        heartbeat();
        await options.onDelta?.(text);
      },
    });
    outcome = 'ok';
    metrics.modelTokens.inc({ kind: 'prompt' }, result.promptTokens);
    metrics.modelTokens.inc({ kind: 'completion' }, result.completionTokens);
    return result;
  } catch (err) {
    if (ctx.cancellationSignal.aborted) {
      outcome = 'cancelled';
      throw ctx.cancellationSignal.reason;
    }
    if (err instanceof ModelRequestError) throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: err.message, nonRetryable: true });
    throw err; // unavailable or timed out: Temporal retries with backoff
  } finally {
    clearInterval(beat);
    metrics.modelCalls.inc({ outcome });
    metrics.modelDuration.observe({ outcome }, (performance.now() - started) / 1000);
  }
}
