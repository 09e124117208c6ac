/**
 * The OpenAI-compatible chat completions API (OpenAI, vLLM, Ollama and llama.cpp servers speak
 * it), streamed: each content delta reaches `onDelta` as it arrives; the token counts come from
 * the provider's `usage` (requested with `stream_options.include_usage`). A 429 or 5xx answer is
 * a ModelUnavailableError (worth retrying); any other 4xx a ModelRequestError (not). `signal`
 * aborts the HTTP call.
 */
import { toStorableText } from '../services/text.js';
import { httpClientSpan } from '../tracing.js';

export class ModelUnavailableError extends Error {
  override name = 'ModelUnavailableError';
}
export class ModelRequestError extends Error {
  override name = 'ModelRequestError';
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatResult {
  text: string;
  promptTokens: number;
  completionTokens: number;
}

export async function streamChat(options: {
  baseUrl: string;
  apiKey?: string;
  model: string;
  messages: ChatMessage[];
  maxTokens?: number | null;
  temperature?: number | null;
  signal: AbortSignal;
  onDelta: (text: string) => void | Promise<void>;
}): Promise<ChatResult> {
  let res: Response;
  try {
    const url = `${options.baseUrl.replace(/\/$/, '')}/chat/completions`;
    res = await httpClientSpan('model chat.completions', url, (traceHeaders) => fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...traceHeaders, ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
      body: JSON.stringify({
        model: options.model,
        messages: options.messages,
        stream: true,
        stream_options: { include_usage: true },
        ...(options.maxTokens != null ? { max_tokens: options.maxTokens } : {}),
        ...(options.temperature != null ? { temperature: options.temperature } : {}),
      }),
      signal: options.signal,
    }), (r) => r.status);
  } catch (err) {
    if (options.signal.aborted) throw err;
    throw new ModelUnavailableError(`The model endpoint could not be reached: ${(err as Error).message}`);
  }
  if (!res.ok) {
    const body = (await res.text().catch(() => '')).slice(0, 300);
    // The provider's words help with a bad request (400, 413, 422); for 401/403/404 they describe the
    // operator's account or setup, which the users who read task errors and webhooks must not see.
    const operatorProblem = res.status === 401 || res.status === 403 || res.status === 404;
    const detail = operatorProblem ? 'the provider refused this server\'s credentials or model (the operator checks MODEL_API_KEY, MODEL_NAME and MODEL_BASE_URL)' : body;
    const message = `The model endpoint answered ${res.status}${detail ? `: ${detail}` : ''}`;
    throw res.status === 429 || res.status >= 500 ? new ModelUnavailableError(message) : new ModelRequestError(message);
  }
  let text = '';
  let promptTokens = 0;
  let completionTokens = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') continue;
      let event: { choices?: Array<{ delta?: { content?: string } }>; usage?: { prompt_tokens?: number; completion_tokens?: number } };
      try {
        event = JSON.parse(data) as typeof event;
      } catch {
        throw new ModelUnavailableError('The model endpoint sent a malformed stream event.');
      }
      const delta = event.choices?.[0]?.delta?.content;
      if (delta) {
        text += delta;
        await options.onDelta(delta);
      }
      if (event.usage) {
        promptTokens = event.usage.prompt_tokens ?? promptTokens;
        completionTokens = event.usage.completion_tokens ?? completionTokens;
      }
    }
  }
  // What we store must be storable: a model may emit NUL characters or broken surrogate pairs.
  return { text: toStorableText(text), promptTokens, completionTokens };
}
