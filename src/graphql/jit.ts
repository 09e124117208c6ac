/**
 * GraphQL over HTTP executes queries and mutations with graphql-jit: each document is compiled
 * once into a function (kept as long as Apollo keeps the parsed and validated document in its
 * document cache) instead of being walked field by field on every request. Apollo hands its
 * execution over through the gateway interface; parsing, validation, every plugin (limits,
 * cost, metrics, traces) and error formatting stay Apollo's.
 *
 * What graphql-js answers differently is left to graphql-js: variables that do not fit their
 * types (its messages are the API's), subscriptions, an operation name the document lacks, and a
 * document graphql-jit cannot compile.
 */
import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import { execute, getVariableValues, GraphQLError, OperationTypeNode, printSchema, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

type Gateway = ApolloServerOptionsWithGateway<Record<string, unknown>>['gateway'];
type GatewayExecutor = NonNullable<Awaited<ReturnType<Gateway['load']>>['executor']>;

/** A document's compiled operations by operation name ('' for the only one); null when graphql-jit could not compile it. */
type Compiled = Map<string, CompiledQuery | null>;

/**
 * graphql-jit's errors look like graphql-js's but leave `extensions` undefined when the cause has
 * none (Apollo reads it): the same error as graphql-js would have made, at the same place.
 */
function asGraphqlJsError(error: GraphQLError): GraphQLError {
  const original = error.originalError;
  const made = new GraphQLError(error.message, { path: error.path, originalError: original ?? undefined, ...(original ? {} : { extensions: error.extensions }) });
  (made as { locations?: GraphQLError['locations'] }).locations = error.locations;
  return made;
}

export function jitGateway(schema: GraphQLSchema): Gateway {
  const compiledByDocument = new WeakMap<DocumentNode, Compiled>();

  function compiled(document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
    let byName = compiledByDocument.get(document);
    if (!byName) compiledByDocument.set(document, (byName = new Map<string, CompiledQuery | null>()));
    const key = operationName ?? '';
    if (!byName.has(key)) {
      const result = compileQuery(schema, document, operationName);
      byName.set(key, isCompiledQuery(result) ? result : null);
    }
    return byName.get(key)!;
  }

  const executor: GatewayExecutor = async (request) => {
    const { document, operation, operationName, context } = request;
    const variables = request.request.variables ?? {};
    // No operation: the document has none of the name the client sent (Apollo hands it over anyway,
    // with no name of its own); graphql-js, given the client's name, says so.
    if (!operation) return (await execute({ schema, document, contextValue: context, variableValues: variables, operationName: request.request.operationName })) as Awaited<ReturnType<GatewayExecutor>>;
    const plan = operation.operation === OperationTypeNode.SUBSCRIPTION ? null : compiled(document, operationName ?? undefined);
    const fits = plan && !('errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 1 }));
    if (!fits) return (await execute({ schema, document, contextValue: context, variableValues: variables, operationName })) as Awaited<ReturnType<GatewayExecutor>>;
    const result = (await plan.query(undefined, context, variables)) as ExecutionResult;
    return (result.errors ? { ...result, errors: result.errors.map(asGraphqlJsError) } : result) as Awaited<ReturnType<GatewayExecutor>>;
  };

  return {
    async load() {
      return { executor };
    },
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return () => {};
    },
    async stop() {},
  };
}
