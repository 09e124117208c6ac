/**
 * Limits for GraphQL over HTTP: once the operation is parsed and validated (and before any
 * resolver runs) its cost is computed from the query, checked against the plan's depth and cost
 * ceilings and admitted by the same Limiter as REST. The response carries X-RateLimit-*,
 * `extensions.cost` { requested, actual, depth } and `extensions.rateLimit` (the headers' values);
 * a refusal carries its status and headers.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  Kind,
  parse,
  validate,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { GraphQLContext } from '../context.js';
import { asAppError } from '../rest/envelope.js';
import type { Admission } from '../services/limits/limiter.js';
import type { Principal, ServiceDeps } from '../services/deps.js';
import { operationCost, type OperationCost } from './cost.js';

/**
 * Whether the variables fit their declared types. A bad one (a number past what Int holds) is
 * refused by execution before any resolver runs, so it costs nothing; its size must not be
 * priced either (`first: 99999999999` is a validation error, not a query too expensive to run).
 */
function variablesFit(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown> | null | undefined): boolean {
  return !('errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 1 }));
}

export function limitsPlugin(schema: GraphQLSchema, deps: ServiceDeps): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      let admission: Admission | null = null;
      let cost: OperationCost | null = null;
      return {
        async didResolveOperation({ contextValue, operation, document, request }) {
          const principal = contextValue.principal;
          if (!principal || !operation) return; // no credential: the auth scopes answer (sign-in operations are free)
          if (!variablesFit(schema, operation, request.variables)) return; // execution refuses them, naming the field, and nothing runs
          const fragments: Record<string, FragmentDefinitionNode> = {};
          for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
          cost = operationCost(schema, operation, fragments, request.variables ?? {});
          try {
            await deps.limiter.checkQuery(principal, cost);
            admission = await deps.limiter.admit(principal, cost.cost, `graphql ${operation.name?.value ?? operation.operation}`);
            contextValue.admitted = { rate: admission.rate, cost: cost.cost };
          } catch (err) {
            const e = asAppError(err);
            cost = null;
            throw new GraphQLError(e.message, { originalError: e, extensions: { http: { status: e.status, headers: new Map(Object.entries(e.headers)) } } });
          }
        },
        async willSendResponse({ response }) {
          if (admission) {
            for (const [name, value] of Object.entries(admission.headers)) response.http.headers.set(name, value);
            await admission.release();
          }
          if (cost && response.body.kind === 'single') {
            const result = response.body.singleResult;
            const rateLimit = admission?.rate ?? undefined;
            // Charged when admitted, before running: what ran is what was asked for.
            result.extensions = { ...result.extensions, cost: { requested: cost.cost, actual: cost.cost, depth: cost.depth }, ...(rateLimit ? { rateLimit } : {}) };
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
  schema: GraphQLSchema,
  deps: ServiceDeps,
  principal: Principal | null,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
): Promise<GraphQLError[] | undefined> {
  if (!principal) return undefined;
  let document;
  try {
    document = parse(payload.query);
  } catch {
    return undefined; // graphql-ws answers the syntax error itself
  }
  if (validate(schema, document).length) return undefined; // and the validation errors
  const operation = getOperationAST(document, payload.operationName ?? undefined);
  if (!operation || !variablesFit(schema, operation, payload.variables)) return undefined; // and the variable errors
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  const cost = operationCost(schema, operation, fragments, payload.variables ?? {});
  try {
    await deps.limiter.checkQuery(principal, cost);
    const admission = await deps.limiter.admit(principal, cost.cost, `graphql-ws ${operation.name?.value ?? operation.operation}`);
    await admission.release();
    return undefined;
  } catch (err) {
    const e = asAppError(err);
    return [new GraphQLError(e.message, { originalError: e })];
  }
}
