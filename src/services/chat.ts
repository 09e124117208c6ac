/**
 * Chat (POST /v1/chat, the `chat` subscription): conversational assistance over the configured
 * model, streamed as it is written. Interactive and unstored, so the gateway streams from the
 * model itself rather than through a workflow; stopping the stream (the client disconnects, or
 * unsubscribes) aborts the model call. Without a model provider: model_not_configured (503).
 *
 * With an idempotency key, the first request streams from the model and, once its answer is
 * complete, keeps the answer (text and token counts) as the key's result; a repeat with the same
 * key and input replays it (one delta with the whole text, then done) without calling the model,
 * waiting for the first while it still streams. A failed or aborted first call is not remembered.
 */
import { z } from 'zod';
import { ModelRequestError, ModelUnavailableError, streamChat, type ChatMessage } from '../agents/model-client.js';
import { boundedInt } from '../bounded-int.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError } from '../errors.js';
import { idKind } from '../ids.js';
import type { Principal, ServiceDeps } from './deps.js';
import { requireModel } from './generations.js';
import { withIdempotentResult } from './idempotency.js';
import { fieldErrors } from './tasks/task-input.js';
import { canSee } from './teams.js';

const MAX_MESSAGES = 100;
const MAX_CHARS = 200_000;
/** The most tokens a chat answer may ask the model for. */
export const CHAT_MAX_TOKENS = 32_000;

const inputSchema = z
  .object({
    messages: z
      .array(
        z
          .object({
            role: z.enum(['system', 'user', 'assistant'], { message: 'must be system, user or assistant' }),
            content: z.string().min(1, 'must not be empty'),
          })
          .strict(),
      )
      .min(1, 'must hold at least one message')
      .max(MAX_MESSAGES, `must hold at most ${MAX_MESSAGES} messages`)
      .refine((m) => m.at(-1)?.role === 'user', 'must end with a user message')
      .refine((m) => m.reduce((n, x) => n + x.content.length, 0) <= MAX_CHARS, `must total at most ${MAX_CHARS.toLocaleString('en')} characters`),
    projectId: z.string().nullish(),
    maxTokens: boundedInt(1, CHAT_MAX_TOKENS).nullish(),
    temperature: z.number().min(0, 'must be between 0 and 2').max(2, 'must be between 0 and 2').nullish(),
  })
  .strict();

/** One item of a chat stream: a piece of the answer, then `done` with the provider's token counts. */
export type ChatEvent =
  | { type: 'delta'; text: string; replayed?: boolean }
  | { type: 'done'; text: string; promptTokens: number; completionTokens: number; replayed?: boolean };

const SYSTEM =
  'You are Codex, a coding assistant inside the user\'s editor. Answer precisely; put code in fenced blocks with the language named.';

/**
 * Checks the request (so errors come before the stream opens) and returns the stream. Ending the
 * returned iterator early (return()) aborts the model call.
 */
export async function openChat(
  deps: ServiceDeps,
  principal: Principal,
  raw: unknown,
  options: { idempotencyKey?: string | null; onReplay?: () => void } = {},
): Promise<AsyncIterableIterator<ChatEvent>> {
  const parsed = inputSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const input = parsed.data;
  requireModel(deps);
  const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }];
  if (input.projectId) {
    const project = idKind(input.projectId) === 'project' ? await deps.db.project.findUnique({ where: { id: input.projectId } }) : null;
    if (!project || !(await canSee(deps, principal, project))) throw new NotFoundError('project', input.projectId);
    messages.push({
      role: 'system',
      content: `The user works on the project "${project.name}"${project.description ? ` (${project.description})` : ''}, written in ${project.languages.join(', ') || 'unspecified languages'}.`,
    });
  }
  messages.push(...input.messages);
  const open = () => runChat(deps, messages, input.maxTokens ?? null, input.temperature ?? null);
  if (!options.idempotencyKey) return open();
  return openOnce(deps, { principalId: principal.userId, key: options.idempotencyKey, operation: 'chat', request: input }, open, options.onReplay);
}

type ChatAnswer = { text: string; promptTokens: number; completionTokens: number };

/**
 * The chat stream at most once per key: resolves with the model's stream when this request holds
 * the key (its answer is stored when `done` arrives), or with a replay of the stored answer.
 */
function openOnce(
  deps: ServiceDeps,
  scope: { principalId: string; key: string; operation: string; request: unknown },
  open: () => AsyncIterableIterator<ChatEvent>,
  onReplay?: () => void,
): Promise<AsyncIterableIterator<ChatEvent>> {
  return new Promise((resolve, reject) => {
    withIdempotentResult(deps.db, scope, () => {
      // This request holds the key: stream now, and complete the key with the answer once it is whole.
      let answered: (a: ChatAnswer) => void = () => {};
      let failed: (err: unknown) => void = () => {};
      const answer = new Promise<ChatAnswer>((ok, fail) => ((answered = ok), (failed = fail)));
      resolve(remembering(open(), answered, failed));
      return answer;
    }).then(({ result, replayed }) => {
      if (!replayed) return;
      onReplay?.();
      resolve(replay(result));
    }, reject); // once the stream is open, its failure only releases the key (reject is then a no-op)
  });
}

/** The model's stream, reporting its final answer (or its failure or abort) as it passes. */
function remembering(stream: AsyncIterableIterator<ChatEvent>, answered: (a: ChatAnswer) => void, failed: (err: unknown) => void): AsyncIterableIterator<ChatEvent> {
  const iterator: AsyncIterableIterator<ChatEvent> = {
    async next() {
      try {
        const item = await stream.next();
        if (item.done) failed(new Error('The chat stream ended without an answer.'));
        else if (item.value.type === 'done') answered({ text: item.value.text, promptTokens: item.value.promptTokens, completionTokens: item.value.completionTokens });
        return item;
      } catch (err) {
        failed(err);
        throw err;
      }
    },
    async return() {
      failed(new Error('The chat stream was stopped before its answer was complete.'));
      return stream.return!();
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** A stored answer as a stream: the whole text as one delta, then done. */
async function* replay(answer: ChatAnswer): AsyncIterableIterator<ChatEvent> {
  yield { type: 'delta', text: answer.text, replayed: true };
  yield { type: 'done', text: answer.text, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens, replayed: true };
}

/**
 * The model's answer as an async iterator. Written by hand rather than as an async generator:
 * a generator's return() waits until its body reaches the next yield, so a client that leaves
 * while the model is still thinking would keep the call open until the first token; here
 * return() aborts the model call at once.
 */
function runChat(deps: ServiceDeps, messages: ChatMessage[], maxTokens: number | null, temperature: number | null): AsyncIterableIterator<ChatEvent> {
  const abort = new AbortController();
  const queue: ChatEvent[] = [];
  let finished = false;
  let failure: AppError | null = null;
  let wake: (() => void) | null = null;
  const push = (event: ChatEvent) => {
    queue.push(event);
    wake?.();
  };
  streamChat({
    baseUrl: deps.config.MODEL_BASE_URL!,
    apiKey: deps.config.MODEL_API_KEY,
    model: deps.config.MODEL_NAME,
    messages,
    maxTokens,
    temperature,
    signal: AbortSignal.any([abort.signal, AbortSignal.timeout(deps.config.MODEL_TIMEOUT_SECONDS * 1000)]),
    onDelta: (text) => push({ type: 'delta', text }),
  }).then(
    (r) => push({ type: 'done', text: r.text, promptTokens: r.promptTokens, completionTokens: r.completionTokens }),
    (err) => {
      if (!abort.signal.aborted) failure = chatError(deps, err);
    },
  ).finally(() => {
    finished = true;
    wake?.();
  });
  const iterator: AsyncIterableIterator<ChatEvent> = {
    async next(): Promise<IteratorResult<ChatEvent>> {
      for (;;) {
        if (queue.length) return { value: queue.shift()!, done: false };
        if (finished || abort.signal.aborted) {
          if (failure) {
            const err = failure;
            failure = null;
            throw err;
          }
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
    async return(): Promise<IteratorResult<ChatEvent>> {
      // The consumer stopped (client gone, unsubscribed): stop the model call now.
      abort.abort();
      queue.length = 0;
      wake?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

function chatError(deps: ServiceDeps, err: unknown): AppError {
  if (err instanceof ModelRequestError) return new AppError('agent_error', 500, `The model provider refused the request: ${err.message.replace(/^The model endpoint /, '')}`);
  if (err instanceof ModelUnavailableError) return new ServiceUnavailableError('The model provider is not reachable right now. Retry shortly.');
  deps.logger.warn({ err }, 'chat model call failed');
  return new ServiceUnavailableError('The model did not answer in time. Retry shortly.');
}
