/**
 * One chat completion from inside an activity (gpu queue): the model's errors become what
 * Temporal should do with them (a 4xx or no model configured: not retried; 429, 5xx, unreachable
 * or too slow: retried with backoff), cancellation aborts the HTTP call, and the activity
 * heartbeats every second, also while the model reads a long prompt before its first token.
 * A wave of agents (runAgentWave) makes many calls in one activity: it passes each call's own
 * `signal` and heartbeats for all of them itself (`heartbeats: false`).
 *
 * Calls per worker are capped call by call at WORKER_GPU_MAX_CONCURRENT_ACTIVITIES (the model
 * server's capacity): the worker's activity slots alone no longer bound them once one activity
 * makes a wave's calls. Calls beyond the cap wait their turn, in order.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ModelRequestError, streamChat, type ChatMessage, type ChatResult } from '../agents/model-client.js';
import type { Config } from '../config.js';
import { metrics } from '../metrics.js';
import { AGENT_INPUT_ERROR } from '../../workflows/definitions.js';

type ModelConfig = Pick<Config, 'MODEL_BASE_URL' | 'MODEL_API_KEY' | 'MODEL_NAME' | 'MODEL_TIMEOUT_SECONDS' | 'WORKER_GPU_MAX_CONCURRENT_ACTIVITIES'>;

export interface CallOptions {
  maxTokens?: number | null;
  temperature?: number | null;
  onDelta?: (text: string) => void | Promise<void>;
  /** The activity's heartbeat details. */
  heartbeat?: () => unknown;
  /** Aborts this call alone (one agent of a wave); the activity's cancellation always does. */
  signal?: AbortSignal;
  /** false: the caller heartbeats (a wave); no heartbeat per call. */
  heartbeats?: boolean;
}

/** A turn at one of the worker's model calls: resolves when a call may go out; `release` ends it. */
type Turns = { take(signal: AbortSignal): Promise<void>; release(): void };

/** One counter per worker configuration (a process runs one gpu worker; tests may run several). */
const turnsByConfig = new WeakMap<object, Turns>();

function turnsOf(config: ModelConfig): Turns {
  let turns = turnsByConfig.get(config);
  if (!turns) {
    let free = config.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES;
    const waiting: Array<() => void> = [];
    turns = {
      take: (signal) => {
        if (free > 0) {
          free--;
          return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => {
          const go = () => {
            signal.removeEventListener('abort', stop);
            resolve();
          };
          const stop = () => {
            waiting.splice(waiting.indexOf(go), 1);
            reject(signal.reason as Error);
          };
          waiting.push(go);
          signal.addEventListener('abort', stop, { once: true });
        });
      },
      release: () => {
        const next = waiting.shift();
        if (next) next();
        else free++;
      },
    };
    turnsByConfig.set(config, turns);
  }
  return turns;
}

export async function callModel(config: ModelConfig, messages: ChatMessage[], options: CallOptions = {}): Promise<ChatResult> {
  const ctx = Context.current();
  if (!config.MODEL_BASE_URL) {
    throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: 'No model is configured on this worker (MODEL_BASE_URL).', nonRetryable: true });
  }
  const heartbeats = options.heartbeats ?? true;
  const heartbeat = () => ctx.heartbeat(options.heartbeat?.());
  const beat = heartbeats ? setInterval(heartbeat, 1000) : undefined;
  const stop = options.signal ? AbortSignal.any([ctx.cancellationSignal, options.signal]) : ctx.cancellationSignal;
  const turns = turnsOf(config);
  const started = performance.now();
  let outcome: 'ok' | 'error' | 'cancelled' = 'error';
  let turn = false;
  try {
    await turns.take(stop);
    turn = true;
    const result = await streamChat({
      baseUrl: config.MODEL_BASE_URL,
      apiKey: config.MODEL_API_KEY,
      model: config.MODEL_NAME,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      signal: AbortSignal.any([stop, AbortSignal.timeout(config.MODEL_TIMEOUT_SECONDS * 1000)]),
      messages,
      onDelta: async (text) => {
        if (heartbeats) heartbeat();
        await options.onDelta?.(text);
      },
    });
    outcome = 'ok';
    metrics.modelTokens.inc({ kind: 'prompt' }, result.promptTokens);
    metrics.modelTokens.inc({ kind: 'completion' }, result.completionTokens);
    return result;
  } catch (err) {
    if (stop.aborted) {
      outcome = 'cancelled';
      throw stop.reason;
    }
    if (err instanceof ModelRequestError) throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: err.message, nonRetryable: true });
    throw err; // unavailable or timed out: Temporal retries with backoff
  } finally {
    if (turn) turns.release();
    clearInterval(beat);
    metrics.modelCalls.inc({ outcome });
    metrics.modelDuration.observe({ outcome }, (performance.now() - started) / 1000);
  }
}
