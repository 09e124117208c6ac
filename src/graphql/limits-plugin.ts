/**
 * Limits for GraphQL over HTTP and over graphql-ws, through the operation runner's one admission
 * (src/edge/run-operation.ts): once the operation is parsed and validated (and before any
 * resolver runs) its cost is computed from the query and admitted, per credential or per client
 * address. Over HTTP the response carries X-RateLimit-*, `extensions.cost` { requested, actual,
 * depth, rate } and `extensions.rateLimit` (the headers' values); a refusal carries its status
 * and headers.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { getOperationAST, OperationTypeNode, type ExecutionArgs, type GraphQLError } from 'graphql';
import type { PromiseOrValue } from 'graphql/jsutils/PromiseOrValue.js';
import type { GraphQLContext } from '../context.js';
import { graphqlErrorOf } from '../edge/errors.js';
import type { Admitted, OperationRunner } from '../edge/run-operation.js';
import type { AppError } from '../errors.js';
import { observeOperation } from '../metrics.js';
import { asAppError } from '../rest/envelope.js';
import { limitHeaders, rateLimitExtension, type LimitState } from '../services/limits/headers.js';
import type { DocumentCache } from './document-cache.js';
import { appErrorOf } from './format-error.js';

/**
 * The error an operation that produced no data was refused with, when every error it got is the
 * same refusal before any work (so the runner may refund it: see isCharged); else null.
 */
function refusalOf(result: { data?: unknown; errors?: readonly unknown[] }): AppError | null {
  if (result.data || !result.errors?.length) return null;
  const errors = result.errors.map((e) => appErrorOf(e));
  return errors.every((e) => e && e.code === errors[0]!.code) ? errors[0] : null;
}

/** Where the caller's limits stand for the answer: what the runner recorded, else read without charging. */
async function limitsFor(runner: OperationRunner, context: GraphQLContext) {
  if (context.limits === undefined && context.principal) context.limits = await runner.deps.limiter.peek(context.principal);
  return context.limits ?? null;
}

export function limitsPlugin(runner: OperationRunner): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      let admitted: Admitted | null = null;
      let refusal: unknown = null;
      return {
        async didResolveOperation({ contextValue, operation, document, request }) {
          if (!operation) return;
          const endpoint = `graphql ${operation.name?.value ?? operation.operation}`;
          try {
            admitted = await runner.admit(contextValue, { document, operation, variables: request.variables ?? {} }, endpoint);
          } catch (err) {
            throw graphqlErrorOf(asAppError(err));
          }
          if (admitted) contextValue.admitted = { rate: admitted.admission.rate, cost: admitted.cost.cost };
        },
        async didEncounterErrors({ errors }) {
          refusal = refusalOf({ errors });
        },
        async willSendResponse({ response, contextValue }) {
          if (admitted) {
            await admitted.admission.release();
            if (response.body.kind === 'single' && !response.body.singleResult.data) await runner.settle(contextValue, admitted, refusal);
          }
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const limits = await limitsFor(runner, contextValue).catch(() => null);
          // Charged when admitted, before running: what ran is what was asked for.
          const cost = admitted ? { cost: { requested: admitted.cost.cost, actual: admitted.cost.cost, depth: admitted.cost.depth, rate: admitted.cost.rateCost } } : {};
          result.extensions = { ...result.extensions, ...cost, ...(limits ? { rateLimit: rateLimitExtension(limits) } : {}) };
          // Apollo runs the operation on a copy of the request's context: the answer's headers are written here.
          if (limits) for (const [name, value] of Object.entries(limitHeaders(limits))) response.http.headers.set(name, value);
        },
      };
    },
  };
}

/**
 * The same limits for operations sent over graphql-ws (the `onSubscribe` hook): the operation's
 * cost is checked and admitted before it runs; errors answer in the subscription's error message.
 * A subscription is charged once, when it starts, and holds no concurrency slot while it is open
 * (a dashboard keeps several open); queries and mutations over the socket cost what they cost over
 * HTTP, and are refunded like them when refused before doing any work (`socketRateLimit`).
 * Admitted, it answers the operation's arguments with the document from `documents`, so
 * graphql-ws neither parses nor validates it again; a document that does not parse or validate
 * is answered with its errors (a syntax error too, which graphql-ws would take for its own
 * failure and close the socket with 4500).
 */
export async function admitOverWebSocket(
  runner: OperationRunner,
  caller: GraphQLContext,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
  documents: DocumentCache,
): Promise<GraphQLError[] | ExecutionArgs | undefined> {
  const document = documents.check(payload.query);
  if (!('kind' in document)) return [...document];
  const operation = getOperationAST(document, payload.operationName ?? undefined);
  if (!operation) return undefined; // graphql-ws answers a missing operation
  const started = performance.now();
  try {
    const admitted = await runner.admit(caller, { document, operation, variables: payload.variables ?? {} }, `graphql-ws ${operation.name?.value ?? operation.operation}`);
    await admitted?.admission.release();
    if (admitted && operation.operation !== OperationTypeNode.SUBSCRIPTION) refundable.set(caller, admitted);
    return { schema: runner.schema, document, operationName: payload.operationName, variableValues: payload.variables };
  } catch (err) {
    const refusal = asAppError(err);
    // Refused before it runs: counted here, as graphql-ws will not execute it.
    observeOperation('graphql-ws', runner.schema, operation, started, refusal);
    return [graphqlErrorOf(refusal)];
  }
}

/** Queries and mutations admitted over graphql-ws, until their result is sent. */
const refundable = new WeakMap<GraphQLContext, Admitted>();

/**
 * `extensions.rateLimit` for a graphql-ws message of an operation (the closest window and every
 * limit, as the HTTP headers say), after refunding a query or mutation refused before doing any
 * work. Null for a caller the socket could not identify, or with limits off.
 */
export function socketRateLimit(runner: OperationRunner, context: GraphQLContext | undefined, result: { data?: unknown; errors?: readonly unknown[] }): PromiseOrValue<RateLimitExtension | null> {
  if (!context) return null;
  // A subscription's next event: its limits are known already, answered without waiting.
  if (!refundable.has(context) && (context.limits !== undefined || !context.principal)) return extensionOf(context.limits ?? null);
  return settledRateLimit(runner, context, result);
}

async function settledRateLimit(runner: OperationRunner, context: GraphQLContext, result: { data?: unknown; errors?: readonly unknown[] }) {
  const admitted = refundable.get(context);
  if (admitted) {
    refundable.delete(context);
    await runner.settle(context, admitted, refusalOf(result));
  }
  return extensionOf(await limitsFor(runner, context).catch(() => null));
}

/** A subscription's limits stand where its admission left them: rendered once, not per event. */
function extensionOf(limits: LimitState | null): RateLimitExtension | null {
  if (!limits) return null;
  let extension = extensions.get(limits);
  if (!extension) extensions.set(limits, (extension = rateLimitExtension(limits)));
  return extension;
}

type RateLimitExtension = ReturnType<typeof rateLimitExtension>;
const extensions = new WeakMap<LimitState, RateLimitExtension>();
