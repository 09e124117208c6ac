/**
 * graphql-ws subscriptions whose subscribers share the execution of each event. graphql-js
 * executes the selection set once per subscriber and event; when a thousand sockets follow one
 * task that is a thousand identical executions. Here each subscriber still subscribes on its own
 * (its `subscribe` resolver checks that it may see the stream, with its own context), but the
 * result of one source event is computed once per group of subscriptions that would compute the
 * same thing: the same document, operation and variables, asked by the same principal (the same
 * authenticated object, so the same scopes and tier) in the same language. Each subscriber's
 * message (its limits, its errors' request id) is still made per subscriber by graphql-ws's hooks.
 */
import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { PromiseOrValue } from 'graphql/jsutils/PromiseOrValue.js';
import type { GraphQLContext } from '../context.js';

/** The results computed for one source event, by group. Kept as long as the event object is. */
const resultsByEvent = new WeakMap<object, Map<string, PromiseOrValue<ExecutionResult>>>();
/** A number per document, principal or context object, for the group key. */
const ids = new WeakMap<object, number>();
let lastId = 0;
const idOf = (o: object) => {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = ++lastId));
  return id;
};

/** What a subscription's results may depend on besides the event: subscriptions with equal keys share them. */
function groupOf(args: ExecutionArgs): string {
  const context = args.contextValue as Partial<GraphQLContext> | undefined;
  // A known principal is shared; anything else (no principal, a foreign context) is its subscription's alone.
  const who = context?.principal ? `p${idOf(context.principal)}` : `c${typeof context === 'object' && context ? idOf(context) : ++lastId}`;
  return [idOf(args.document), who, context?.locale ?? '', args.operationName ?? '', JSON.stringify(args.variableValues ?? {})].join('\u0000');
}

/** graphql-js's `subscribe`, each event executed once per group of subscriptions (see above). */
export async function sharedSubscribe(args: ExecutionArgs): Promise<ExecutionResult | AsyncGenerator<ExecutionResult>> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source;
  const group = groupOf(args);
  const resultOf = (event: unknown): PromiseOrValue<ExecutionResult> => {
    if (typeof event !== 'object' || event === null) return execute({ ...args, rootValue: event });
    let results = resultsByEvent.get(event);
    if (!results) resultsByEvent.set(event, (results = new Map<string, PromiseOrValue<ExecutionResult>>()));
    let result = results.get(group);
    if (!result) results.set(group, (result = execute({ ...args, rootValue: event })));
    return result;
  };
  return mapSource(source, resultOf);
}

/** `source` mapped through `map`, with `return()` and `throw()` passed on (as graphql-js's own mapping does). */
function mapSource<T, U>(source: AsyncIterable<T>, map: (item: T) => PromiseOrValue<U>): AsyncGenerator<U> {
  const iterator = source[Symbol.asyncIterator]();
  const closeQuietly = async () => {
    try {
      await iterator.return?.();
    } catch {
      // the error that made us close is the one to report
    }
  };
  const failed = async (err: unknown): Promise<never> => {
    await closeQuietly();
    throw err;
  };
  // Without async functions: a shared result is there already, and each promise counts a
  // thousand times over when a thousand subscribers receive an event.
  const mapped = (r: IteratorResult<T>): PromiseOrValue<IteratorResult<U>> => {
    if (r.done) return r;
    let value: PromiseOrValue<U>;
    try {
      value = map(r.value);
    } catch (err) {
      return failed(err);
    }
    return value instanceof Promise ? value.then((v: U) => ({ value: v, done: false }), failed) : { value, done: false };
  };
  const out: AsyncGenerator<U> = {
    next: () => iterator.next().then(mapped),
    return: async () => (iterator.return ? mapped(await iterator.return()) : { value: undefined, done: true }),
    throw: async (err) => {
      if (iterator.throw) return mapped(await iterator.throw(err));
      await closeQuietly();
      throw err;
    },
    [Symbol.asyncIterator]: () => out,
  };
  return out;
}
