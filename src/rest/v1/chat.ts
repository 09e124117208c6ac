/**
 * POST /v1/chat: runs the `chat` subscription and sends it as server-sent events: `delta` events
 * ({"text"}) as the model writes, then one `done` ({"text", "usage"}), or one `error` (the API's
 * error object) if the model fails mid-stream. Errors found before the stream opens (bad input,
 * no model configured, limits) are ordinary JSON error responses. A client that disconnects
 * ends the subscription, which aborts the model call.
 */
import { z } from 'zod';
import { intForService } from '../../bounded-int.js';
import type { SseRoute } from '../../edge/routes.js';
import { CHAT_MAX_TOKENS } from '../../services/chat.js';
import { operation } from './operations.js';

const ChatBody = z
  .object({
    messages: z.array(z.object({ role: z.string(), content: z.string() }).strict()).describe('The conversation so far, ending with the user\'s message'),
    project_id: z.string().optional(),
    max_tokens: intForService(1, CHAT_MAX_TOKENS).optional(),
    temperature: z.number().optional(),
    stream: z.literal(true).optional().describe('Always streamed; accepted for OpenAI-style clients'),
  })
  .strict();

/** The endpoint's entry in /v1/openapi.json. */
export const chatOpenApi = {
  post: {
    operationId: 'chat',
    summary: 'Conversational assistance over the configured model, streamed as server-sent events (delta…, then done)',
    tags: ['Generations'],
    requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(ChatBody, { io: 'input' }) } } },
    responses: {
      200: {
        description: 'event: delta, data: {"text"} (repeated); then event: done, data: {"text", "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}; or event: error, data: {"error": {…}}',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      },
      401: { description: 'authentication_required', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      422: { description: 'validation_error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      503: { description: 'model_not_configured', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    },
  },
};

/** One `chat` subscription event, as the `chat` document selects it (the DONE event carries the token counts). */
type ChatEvent = { type: 'DELTA'; text: string } | { type: 'DONE'; text: string; promptTokens: number; completionTokens: number };

/** The route: the `chat` subscription's DELTA events as `delta`, its last as `done`. */
export const chatRoute: SseRoute<z.output<typeof ChatBody>, ChatEvent> = {
  transport: 'sse',
  method: 'POST',
  path: '/v1/chat',
  body: ChatBody,
  document: operation('chat'),
  variables: (body) => ({
    input: { messages: body.messages, projectId: body.project_id ?? null, maxTokens: body.max_tokens ?? null, temperature: body.temperature ?? null },
  }),
  event: (e) =>
    e.type === 'DELTA'
      ? { event: 'delta', data: { text: e.text } }
      : { event: 'done', data: { text: e.text, usage: { prompt_tokens: e.promptTokens, completion_tokens: e.completionTokens, total_tokens: e.promptTokens + e.completionTokens } } },
  holdsSlot: true, // the model call works all along
};
