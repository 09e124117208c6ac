/**
 * Operations over graphql-ws counted as those over HTTP are (codex_graphql_operations_total and
 * its duration histogram, transport `graphql-ws`): graphql-ws's own `execute` and `subscribe`
 * are wrapped. A query or mutation is timed to its result and its outcome is its first error's
 * code; a subscription is timed to its stream being set up (not while it stays open) and fails
 * only when it answers errors instead of a stream. Refusals before it runs (limits) are counted
 * where they happen (admitOverWebSocket); the cost charged is counted by the admission itself.
 */
import { execute, getOperationAST, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { PromiseOrValue } from 'graphql/jsutils/PromiseOrValue.js';
import { observeOperation } from '../metrics.js';
import { appErrorOf } from './format-error.js';
import { sharedSubscribe } from './shared-subscriptions.js';

type Run = (args: ExecutionArgs) => PromiseOrValue<ExecutionResult | AsyncGenerator<ExecutionResult>>;

/** The failure of a result (its first error's API code, `error` when it has none), or undefined when it succeeded. */
function failureOf(result: ExecutionResult | AsyncGenerator<ExecutionResult>): { code?: unknown } | undefined {
  if (Symbol.asyncIterator in result || !result.errors?.length) return undefined;
  return { code: appErrorOf(result.errors[0])?.code };
}

/** graphql-ws's `execute` and `subscribe` (subscribers share each event's execution: ./shared-subscriptions.ts; `inner`: the traced ones when tracing is on), each operation counted. */
export function countedWsOperations(schema: GraphQLSchema, inner: { execute: Run; subscribe: Run } = { execute, subscribe: sharedSubscribe }) {
  const counted =
    (run: Run) =>
    async (args: ExecutionArgs): Promise<ExecutionResult | AsyncGenerator<ExecutionResult>> => {
      const started = performance.now();
      const operation = getOperationAST(args.document, args.operationName);
      try {
        const result = await run(args);
        if (operation) observeOperation('graphql-ws', schema, operation, started, failureOf(result));
        return result;
      } catch (err) {
        if (operation) observeOperation('graphql-ws', schema, operation, started, { code: appErrorOf(err)?.code });
        throw err;
      }
    };
  return { execute: counted(inner.execute), subscribe: counted(inner.subscribe) };
}
