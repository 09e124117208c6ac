import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString, type DocumentNode, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DocumentCache } from '../../src/graphql/document-cache.js';
import { sharedSubscribe } from '../../src/graphql/shared-subscriptions.js';

interface Tick {
  n: number;
}

/** A schema whose `ticks` subscription streams the events of a channel, with a field that counts its executions and one that reads the context. */
function tickSchema() {
  const channels = new Map<string, Array<(tick: Tick) => void>>();
  const executions = { count: 0 };
  const TickType = new GraphQLObjectType<Tick, { principal: { name: string } | null; locale: string }>({
    name: 'Tick',
    fields: {
      n: { type: new GraphQLNonNull(GraphQLInt), resolve: (t) => (executions.count++, t.n) },
      seenBy: { type: GraphQLString, resolve: (_t, _a, ctx) => ctx.principal?.name ?? null },
      shifted: { type: GraphQLInt, args: { by: { type: GraphQLInt } }, resolve: (t, args: { by?: number }) => t.n + (args.by ?? 0) },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        ticks: {
          type: new GraphQLNonNull(TickType),
          args: { channel: { type: new GraphQLNonNull(GraphQLString) } },
          subscribe: (_root, args: { channel: string }) => {
            const queue: Tick[] = [];
            let wake: (() => void) | null = null;
            const listeners = channels.get(args.channel) ?? [];
            channels.set(args.channel, listeners);
            listeners.push((tick) => {
              queue.push(tick);
              wake?.();
            });
            return (async function* () {
              for (;;) {
                while (queue.length) yield queue.shift()!;
                await new Promise<void>((resolve) => (wake = resolve));
              }
            })();
          },
          resolve: (tick: Tick) => tick,
        },
      },
    }),
  });
  /** One event object to every subscriber of the channel, as a stream hub hands out one read. */
  const publish = (channel: string, tick: Tick) => channels.get(channel)?.forEach((send) => send(tick));
  return { schema, executions, publish };
}

describe('graphql-ws subscriptions sharing the execution of each event', () => {
  it('executes an event once for subscribers of one document, variables, principal and language; apart otherwise, each with its own answer', async () => {
    const { schema, executions, publish } = tickSchema();
    const documents = new DocumentCache(schema);
    const alice = { name: 'alice' };
    const bob = { name: 'bob' };
    const open = async (query: string, variables: Record<string, unknown>, context: object) => {
      const document = documents.check(query) as DocumentNode;
      const stream = await sharedSubscribe({ schema, document, variableValues: variables, contextValue: context });
      if (!(Symbol.asyncIterator in stream)) throw new Error(JSON.stringify(stream.errors));
      return stream;
    };
    const query = 'subscription($channel: String!) { ticks(channel: $channel) { n seenBy } }';
    const same = await Promise.all([1, 2, 3].map(() => open(query, { channel: 'a' }, { principal: alice, locale: 'en' })));
    const otherPrincipal = await open(query, { channel: 'a' }, { principal: bob, locale: 'en' });
    const otherLocale = await open(query, { channel: 'a' }, { principal: alice, locale: 'de' });
    const anonymous = await Promise.all([1, 2].map(() => open(query, { channel: 'a' }, { principal: null, locale: 'en' })));
    const otherVariables = await open('subscription($channel: String!, $by: Int) { ticks(channel: $channel) { n shifted(by: $by) } }', { channel: 'a', by: 10 }, { principal: alice, locale: 'en' });
    const all = [...same, otherPrincipal, otherLocale, ...anonymous, otherVariables];

    const pending = all.map((s) => s.next());
    publish('a', { n: 7 });
    const results = (await Promise.all(pending)).map((r) => r.value as ExecutionResult);

    // 3 alike share one execution; bob, German, each anonymous context and the other document run their own.
    expect(executions.count).toBe(1 + 1 + 1 + 2 + 1);
    expect(results.slice(0, 3).map((r) => r.data)).toEqual(Array(3).fill({ ticks: { n: 7, seenBy: 'alice' } }));
    expect(results[3].data).toEqual({ ticks: { n: 7, seenBy: 'bob' } });
    expect(results[4].data).toEqual({ ticks: { n: 7, seenBy: 'alice' } });
    expect(results[5].data).toEqual({ ticks: { n: 7, seenBy: null } });
    expect(results[7].data).toEqual({ ticks: { n: 7, shifted: 17 } });

    // A new event object is executed afresh.
    const again = all.map((s) => s.next());
    publish('a', { n: 8 });
    expect((await Promise.all(again)).map((r) => (r.value as ExecutionResult<{ ticks: { n: number } }>).data!.ticks.n)).toEqual(Array(all.length).fill(8));
    expect(executions.count).toBe(12);

    // A subscriber that leaves stops its source; the others carry on.
    await same[0].return(undefined);
    expect(await same[0].next()).toEqual({ done: true, value: undefined });
    const last = same.slice(1).map((s) => s.next());
    publish('a', { n: 9 });
    expect((await Promise.all(last)).map((r) => (r.value as ExecutionResult<{ ticks: { n: number } }>).data!.ticks.n)).toEqual([9, 9]);
    for (const s of all) await s.return(undefined);
  });

  it('answers a subscription that fails to start with its errors, as graphql-js does', async () => {
    const { schema } = tickSchema();
    const document = new DocumentCache(schema).check('subscription($channel: String!) { ticks(channel: $channel) { n } }') as DocumentNode;
    const result = await sharedSubscribe({ schema, document, variableValues: {}, contextValue: { principal: null, locale: 'en' } });
    expect(Symbol.asyncIterator in result).toBe(false);
    expect((result as ExecutionResult).errors?.[0].message).toMatch(/channel/);
  });

  it('keeps one document per valid text, and answers text that does not parse or validate with its errors', () => {
    const { schema } = tickSchema();
    const documents = new DocumentCache(schema);
    const text = 'subscription { ticks(channel: "a") { n } }';
    expect(documents.check(text)).toBe(documents.check(text));
    expect(documents.check('subscription { ticks(')).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Syntax Error/) })]);
    const invalid = 'subscription { ticks(channel: "a") { nope } }';
    expect(documents.check(invalid)).toEqual([expect.objectContaining({ message: expect.stringMatching(/Cannot query field "nope"/) })]);
    expect(documents.check(invalid)).not.toBe(documents.check(invalid)); // not kept
  });
});
