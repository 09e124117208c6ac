/**
 * Limits for GraphQL over HTTP and over graphql-ws, through the operation runner's one admission
 * (src/edge/run-operation.ts): once the operation is parsed and validated (and before any
 * resolver runs) its cost is computed from the query and admitted, per credential or per client
 * address. Over HTTP the response carries X-RateLimit-*, `extensions.cost` { requested, actual,
 * depth, rate } and `extensions.rateLimit` (the headers' values); a refusal carries its status
 * and headers.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { getOperationAST, parse, validate, type GraphQLError } from 'graphql';
import type { GraphQLContext } from '../context.js';
import { graphqlErrorOf } from '../edge/errors.js';
import type { Admitted, OperationRunner } from '../edge/run-operation.js';
import { asAppError } from '../rest/envelope.js';

export function limitsPlugin(runner: OperationRunner): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      let admitted: Admitted | null = null;
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
        async willSendResponse({ response }) {
          if (!admitted) return;
          const { admission, cost } = admitted;
          for (const [name, value] of Object.entries(admission.headers)) response.http.headers.set(name, value);
          await admission.release();
          if (response.body.kind === 'single') {
            const result = response.body.singleResult;
            const rateLimit = admission.rate ?? undefined;
            // Charged when admitted, before running: what ran is what was asked for.
            const reported = { requested: cost.cost, actual: cost.cost, depth: cost.depth, rate: cost.rateCost };
            result.extensions = { ...result.extensions, cost: reported, ...(rateLimit ? { rateLimit } : {}) };
          }
        },
      };
    },
  };
}

/**
 * The same limits for operations sent over graphql-ws (the `onSubscribe` hook): the operation's
 * cost is checked and admitted before it runs; errors answer in the subscription's error message.
 * A subscription is charged once, when it starts, and holds no concurrency slot while it is open
 * (a dashboard keeps several open); queries and mutations over the socket cost what they cost over HTTP.
 */
export async function admitOverWebSocket(
  runner: OperationRunner,
  caller: Pick<GraphQLContext, 'principal' | 'ip'>,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
): Promise<GraphQLError[] | undefined> {
  let document;
  try {
    document = parse(payload.query);
  } catch {
    return undefined; // graphql-ws answers the syntax error itself
  }
  if (validate(runner.schema, document).length) return undefined; // and the validation errors
  const operation = getOperationAST(document, payload.operationName ?? undefined);
  if (!operation) return undefined; // and a missing operation
  try {
    const admitted = await runner.admit(caller, { document, operation, variables: payload.variables ?? {} }, `graphql-ws ${operation.name?.value ?? operation.operation}`);
    await admitted?.admission.release();
    return undefined;
  } catch (err) {
    return [graphqlErrorOf(asAppError(err))];
  }
}
