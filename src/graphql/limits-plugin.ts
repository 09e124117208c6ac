/**
 * Limits for GraphQL over HTTP: once the operation is parsed and validated (and before any
 * resolver runs) its cost and shape are computed from the query, checked against the caller's
 * depth and cost ceilings and the caps every operation keeps, and admitted by the same Limiter as
 * REST: per credential, or per client address for a caller without one. The response carries
 * X-RateLimit-*, `extensions.cost` { requested, actual, depth, rate } and `extensions.rateLimit`
 * (the headers' values); a refusal carries its status and headers.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  Kind,
  parse,
  validate,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { GraphQLContext } from '../context.js';
import { asAppError } from '../rest/envelope.js';
import type { Admission } from '../services/limits/limiter.js';
import type { ServiceDeps } from '../services/deps.js';
import { operationCost, type OperationCost } from './cost.js';

/**
 * Whether the variables fit their declared types. A bad one (a number past what Int holds) is
 * refused by execution before any resolver runs, so it costs nothing; its size must not be
 * priced either (`first: 99999999999` is a validation error, not a query too expensive to run).
 */
function variablesFit(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown> | null | undefined): boolean {
  return !('errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 1 }));
}

/**
 * Costs an operation and admits it for its caller, or throws the refusal as a GraphQLError with
 * its HTTP status and headers. Null when execution refuses it anyway (variables that do not fit
 * their types): nothing runs, so nothing is charged.
 */
async function admitOperation(
  schema: GraphQLSchema,
  deps: ServiceDeps,
  caller: Pick<GraphQLContext, 'principal' | 'ip'>,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | null | undefined,
  endpoint: string,
): Promise<{ admission: Admission; cost: OperationCost } | null> {
  if (!variablesFit(schema, operation, variables)) return null;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  const cost = operationCost(schema, operation, fragments, variables ?? {});
  try {
    await deps.limiter.checkQuery(caller.principal, cost);
    const admission = caller.principal
      ? await deps.limiter.admit(caller.principal, cost.cost, `${endpoint} ${operation.name?.value ?? operation.operation}`, cost.rateCost)
      : await deps.limiter.admitAddress(caller.ip, cost.rateCost);
    return { admission, cost };
  } catch (err) {
    const e = asAppError(err);
    throw new GraphQLError(e.message, { originalError: e, extensions: { http: { status: e.status, headers: new Map(Object.entries(e.headers)) } } });
  }
}

export function limitsPlugin(schema: GraphQLSchema, deps: ServiceDeps): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      let admitted: { admission: Admission; cost: OperationCost } | null = null;
      return {
        async didResolveOperation({ contextValue, operation, document, request }) {
          if (!operation) return;
          admitted = await admitOperation(schema, deps, contextValue, document, operation, request.variables, 'graphql');
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
  schema: GraphQLSchema,
  deps: ServiceDeps,
  caller: Pick<GraphQLContext, 'principal' | 'ip'>,
  payload: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
): Promise<GraphQLError[] | undefined> {
  let document;
  try {
    document = parse(payload.query);
  } catch {
    return undefined; // graphql-ws answers the syntax error itself
  }
  if (validate(schema, document).length) return undefined; // and the validation errors
  const operation = getOperationAST(document, payload.operationName ?? undefined);
  if (!operation) return undefined; // and a missing operation
  try {
    const admitted = await admitOperation(schema, deps, caller, document, operation, payload.variables, 'graphql-ws');
    await admitted?.admission.release();
    return undefined;
  } catch (err) {
    const e = err as GraphQLError;
    return [new GraphQLError(e.message, { originalError: e.originalError ?? e })];
  }
}
