import { GraphQLError, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { NextMessageSocket, nextPayload, replaceNextMessage } from '../../src/graphql/next-messages.js';

/** A server whose sockets are NextMessageSockets, and a client that receives what they send. */
let server: WebSocketServer;
let serverSide: NextMessageSocket;
let client: WebSocket;
const received: string[] = [];

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, WebSocket: NextMessageSocket });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const connected = new Promise<NextMessageSocket>((resolve) => server.once('connection', resolve));
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
  client.on('message', (data: Buffer) => received.push(data.toString()));
  serverSide = await connected;
});

afterAll(async () => {
  client.close();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends a message as graphql-ws does (serialised with its replacer, handed to the socket), and returns the text that arrived. */
async function sent(message: object): Promise<string> {
  const before = received.length;
  serverSide.send(JSON.stringify(message, replaceNextMessage), () => {});
  while (received.length === before) await new Promise((r) => setTimeout(r, 5));
  return received[before];
}

describe('next messages built from shared JSON', () => {
  const rateLimit = { limit: 100, remaining: 99, reset: 60, policies: [{ name: 'minute', limit: 100, remaining: 99, reset: 60, windowSeconds: 60 }] };
  const result: ExecutionResult = { data: { taskEvents: { seq: 1, message: 'quote " and \u2028 line' } } };

  it('sends exactly the text graphql-ws would have written, with and without a rate-limit extension', async () => {
    const withLimits = { id: 'op-1', type: 'next', payload: nextPayload('op-1', result, rateLimit) };
    expect(await sent(withLimits)).toBe(JSON.stringify({ id: 'op-1', type: 'next', payload: { ...result, extensions: { rateLimit } } }));
    const without = { id: 'a"b', type: 'next', payload: nextPayload('a"b', result, null) };
    expect(await sent(without)).toBe(JSON.stringify({ id: 'a"b', type: 'next', payload: result }));
  });

  it('shares one result between subscribers, each message with its own id and limits', async () => {
    const other = { ...rateLimit, remaining: 12 };
    const first = await sent({ id: '1', type: 'next', payload: nextPayload('1', result, rateLimit) });
    const second = await sent({ id: '2', type: 'next', payload: nextPayload('2', result, other) });
    expect(JSON.parse(first)).toEqual({ id: '1', type: 'next', payload: { ...result, extensions: { rateLimit } } });
    expect(JSON.parse(second)).toEqual({ id: '2', type: 'next', payload: { ...result, extensions: { rateLimit: other } } });
  });

  it('leaves results with errors or extensions of their own, and every other message, to be serialised as they are', async () => {
    expect(nextPayload('1', { data: null, errors: [new GraphQLError('no')] }, rateLimit)).toBeNull();
    expect(nextPayload('1', { data: { a: 1 }, extensions: { cost: 1 } }, rateLimit)).toBeNull();
    expect(nextPayload('1', {}, rateLimit)).toBeNull();
    const complete = { id: '1', type: 'complete' };
    expect(await sent(complete)).toBe(JSON.stringify(complete));
    const formatted = { id: '1', type: 'next', payload: { data: null, errors: [{ message: 'no' }] } };
    expect(await sent(formatted)).toBe(JSON.stringify(formatted));
  });
});
