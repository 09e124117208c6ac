/**
 * POST /v1/chat: runs the `chat` subscription and sends it as server-sent events: `delta` events
 * ({"text"}) as the model writes, then one `done` ({"text", "usage"}), or one `error` (the API's
 * error object) if the model fails mid-stream. Errors found before the stream opens (bad input,
 * no model configured, limits) are ordinary JSON error responses. A client that disconnects
 * ends the subscription, which aborts the model call.
 */
import type { FastifyInstance } from 'fastify';
import { parse, subscribe, validate, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { z } from 'zod';
import { intForService } from '../../bounded-int.js';
import { buildContext } from '../../context.js';
import { AppError, AuthenticationError, ValidationError } from '../../errors.js';
import { appErrorOf } from '../../graphql/format-error.js';
import { CHAT_MAX_TOKENS } from '../../services/chat.js';
import type { LiveConnection, LiveConnections } from '../../services/auth/live-connections.js';
import type { ServiceDeps } from '../../services/deps.js';
import { asAppError, errorBody } from '../envelope.js';
import { restFieldErrors } from '../register.js';
import { holdLiveStream } from '../sse.js';
import { operation } from './operations.js';

const ENDPOINT = 'POST /v1/chat';

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

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Registers POST /v1/chat. */
export function registerChatEndpoint(app: FastifyInstance, schema: GraphQLSchema, deps: ServiceDeps, live: LiveConnections): void {
  const document = parse(operation('chat'));
  const errors = validate(schema, document);
  if (errors.length) throw new Error(`POST /v1/chat: invalid GraphQL document: ${errors[0]!.message}`);

  app.post('/v1/chat', async (request, reply) => {
    const context = await buildContext(deps, { requestId: request.id, headers: request.headers, ip: request.ip });
    if (!context.principal) throw new AuthenticationError();
    const parsed = ChatBody.safeParse(request.body, { reportInput: true });
    if (!parsed.success) throw new ValidationError(restFieldErrors(parsed.error, 'body'));
    const body = parsed.data;
    const admission = await deps.limiter.admit(context.principal, 1, ENDPOINT);
    let released = false;
    const release = async () => {
      if (!released) {
        released = true;
        await admission.release();
      }
    };
    let stream: AsyncGenerator<ExecutionResult>;
    let connection: LiveConnection | null = null;
    try {
      connection = holdLiveStream(live, request, context);
      const result = await subscribe({
        schema,
        document,
        contextValue: context,
        variableValues: {
          input: { messages: body.messages, projectId: body.project_id ?? null, maxTokens: body.max_tokens ?? null, temperature: body.temperature ?? null },
        },
      });
      if (!(Symbol.asyncIterator in result)) {
        const err = result.errors?.[0];
        throw appErrorOf(err) ?? (err && !err.originalError ? new ValidationError([{ field: '(request)', message: err.message }]) : (err?.originalError ?? err));
      }
      stream = result as AsyncGenerator<ExecutionResult>;
    } catch (err) {
      connection?.release();
      await release();
      throw err;
    }

    // From here the answer is a stream; Fastify no longer writes it.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
      ...admission.headers,
    });
    res.flushHeaders();
    const stop = () => void stream.return(undefined);
    res.on('close', stop); // the client went away: ends the subscription, which aborts the model call
    // Its credential revoked (or expired): one error event, and the model call is aborted.
    let cut = false;
    connection.onEnd((err) => {
      if (cut || res.writableEnded) return;
      cut = true;
      res.write(sse('error', errorBody(err, request.id)));
      stop();
    });
    try {
      for await (const result of stream) {
        if (cut) break;
        if (result.errors?.length) {
          const app = appErrorOf(result.errors[0]);
          if (!app) deps.logger.error({ err: result.errors[0], requestId: request.id }, 'chat stream failed');
          res.write(sse('error', errorBody(app ?? asAppError(result.errors[0]), request.id)));
          break;
        }
        const e = (result.data as any).chat;
        if (e.type === 'DELTA') res.write(sse('delta', { text: e.text }));
        else {
          const usage = { prompt_tokens: e.promptTokens, completion_tokens: e.completionTokens, total_tokens: e.promptTokens + e.completionTokens };
          res.write(sse('done', { text: e.text, usage }));
        }
      }
    } catch (err) {
      if (!(err instanceof AppError)) deps.logger.error({ err, requestId: request.id }, 'chat stream failed');
      if (!res.writableEnded && !cut) res.write(sse('error', errorBody(asAppError(err), request.id)));
    } finally {
      res.off('close', stop);
      connection.release();
      if (!res.writableEnded) res.end();
      await release();
    }
  });
}
