/**
 * GraphQL operation spans on /graphql, over HTTP (Apollo) and over graphql-ws. Each is the active
 * span while the operation's resolvers run, so the services, the Temporal client and the calls they
 * make are its children. Only wired when tracing is on (src/server.ts).
 *
 * Over HTTP the span wraps Apollo's handler (inside the request's server span) and is named once
 * Apollo has resolved the operation: Apollo's plugins can observe execution but not run it in a
 * context of their own.
 *
 * Over graphql-ws the socket has no request span: each operation's span continues the caller's
 * trace, taken from the first of its subscribe message's `extensions.traceparent`, the
 * connection_init payload's `traceparent` (a browser cannot set headers on a WebSocket) and the
 * upgrade request's `traceparent` header (each with its `tracestate`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { execute, getOperationAST, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { PromiseOrValue } from 'graphql/jsutils/PromiseOrValue.js';
import type { GraphQLContext } from '../context.js';
import { contextFromCarriers, inOperationSpan, operationSpanAttributes, operationSpanName } from '../tracing.js';
import { sharedSubscribe } from './shared-subscriptions.js';

/** The spans of Apollo requests still waiting for their operation's name. */
const apolloSpans = new WeakSet<Span>();

/** Runs Apollo's route handler in a GraphQL operation span (named by `apolloOperationSpans`). */
export function traceApolloHandler<This, Args extends unknown[], Result>(handler: (this: This, ...args: Args) => Result) {
  return function (this: This, ...args: Args): Promise<Awaited<Result>> {
    return inOperationSpan(null, async (): Promise<Awaited<Result>> => {
      apolloSpans.add(trace.getActiveSpan()!);
      return await handler.apply(this, args);
    });
  };
}

/** Names the request's span after its operation and marks it failed when the answer has errors. */
export function apolloOperationSpans(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      const span = trace.getActiveSpan();
      if (!span || !apolloSpans.has(span)) return;
      apolloSpans.delete(span);
      return {
        async didResolveOperation({ operation }) {
          if (operation) span.updateName(operationSpanName(operation)).setAttributes(operationSpanAttributes(operation));
        },
        async didEncounterErrors({ errors }) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]?.message });
        },
      };
    },
  };
}

/** The request a graphql-ws operation arrives on, as graphql-ws hands it over. */
interface WsOperation {
  upgradeHeaders: IncomingHttpHeaders;
  connectionParams: Readonly<Record<string, unknown>> | undefined;
  extensions: Readonly<Record<string, unknown>> | null | undefined;
}

/**
 * graphql-ws's `execute` and `subscribe`, each in the operation's span: `remember` records the
 * trace an operation continues (from its subscribe message), keyed by the operation's context.
 */
export function wsOperationSpans() {
  const parents = new WeakMap<GraphQLContext, Context>();
  const traced = (run: (args: ExecutionArgs) => PromiseOrValue<ExecutionResult | AsyncGenerator<ExecutionResult>>) => (args: ExecutionArgs) =>
    inOperationSpan(
      getOperationAST(args.document, args.operationName),
      async () => {
        const result = await run(args);
        if (!(Symbol.asyncIterator in result) && result.errors?.length) trace.getActiveSpan()?.setStatus({ code: SpanStatusCode.ERROR, message: result.errors[0].message });
        return result;
      },
      parents.get(args.contextValue as GraphQLContext),
    );
  return {
    remember(operationContext: GraphQLContext, op: WsOperation): void {
      parents.set(operationContext, contextFromCarriers(op.extensions, op.connectionParams, op.upgradeHeaders));
    },
    execute: traced(execute),
    subscribe: traced(sharedSubscribe),
  };
}
