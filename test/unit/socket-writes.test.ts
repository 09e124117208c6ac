/**
 * CoalescingSocket: a turn's first message is written at once and the rest in one write at the
 * turn's end, their callbacks are called at once while the socket holds under WRITE_AHEAD_BYTES
 * unwritten, and a client that does not read holds the sender back (graphql-ws waits on those
 * callbacks) instead of the gateway buffering without bound.
 */
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { CoalescingSocket, WRITE_AHEAD_BYTES } from '../../src/net/socket-writes.js';
import { waitFor } from '../helpers/client.js';

let server: WebSocketServer;
let serverSide: CoalescingSocket;
let client: WebSocket;
let received: string[];

const tcpOf = (ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket;
const turnEnd = () => new Promise((resolve) => setImmediate(resolve));
/** Polls `ok` every 5 ms (for up to 5 s). */
const until = (ok: () => boolean) => waitFor(async () => (ok() ? true : undefined), 5000, 5);
/** Sends as graphql-ws does: a promise settled by the write's callback. */
const sendAwaited = (data: string) => new Promise<void>((resolve, reject) => serverSide.send(data, (err?: Error) => (err ? reject(err) : resolve())));

beforeEach(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, WebSocket: CoalescingSocket });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const connected = new Promise<CoalescingSocket>((resolve) => server.once('connection', resolve));
  client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
  received = [];
  client.on('message', (data: Buffer) => received.push(data.toString()));
  serverSide = await connected;
  await new Promise((resolve) => client.once('open', resolve));
});

afterEach(async () => {
  client.terminate();
  await new Promise((resolve) => server.close(resolve));
});

describe('coalesced socket writes', () => {
  it('writes a turn’s first message at once and the rest in one go when the turn ends, each callback called at once', async () => {
    const tcp = tcpOf(serverSide);
    let writes = 0;
    const writev = tcp._writev!.bind(tcp);
    const write = tcp._write.bind(tcp);
    tcp._writev = (chunks, cb) => (writes++, writev(chunks, cb));
    tcp._write = (chunk, encoding, cb) => (writes++, write(chunk, encoding, cb));
    const acknowledged: number[] = [];
    for (let i = 0; i < 5; i++) serverSide.send(`message ${i}`, () => acknowledged.push(i));
    expect(acknowledged).toEqual([0, 1, 2, 3, 4]);
    expect(writes).toBe(1);
    expect(tcp.writableLength).toBeGreaterThan(4 * 'message 0'.length);
    await turnEnd();
    expect(writes).toBe(2);
    expect(tcp.writableLength).toBe(0);
    await until(() => received.length === 5);
    expect(received).toEqual(['message 0', 'message 1', 'message 2', 'message 3', 'message 4']);
  });

  it(`calls a message's callback only once it is written when ${WRITE_AHEAD_BYTES} bytes are already waiting`, async () => {
    const big = 'x'.repeat(WRITE_AHEAD_BYTES / 4);
    const acknowledged: number[] = [];
    for (let i = 0; i < 7; i++) serverSide.send(big, () => acknowledged.push(i));
    // The first went to the kernel; four quarters were waiting before the sixth: it and the seventh wait for the write.
    expect(acknowledged).toEqual([0, 1, 2, 3, 4]);
    await until(() => acknowledged.length === 7);
    expect(acknowledged).toEqual([0, 1, 2, 3, 4, 5, 6]);
    await until(() => received.length === 7);
  });

  it('holds back a sender whose client stops reading, then delivers everything in order once it reads again', async () => {
    tcpOf(client).pause();
    const message = (i: number) => `${i} `.padEnd(8 * 1024, '.');
    let sent = 0;
    const sending = (async () => {
      for (; sent < 2000; sent++) await sendAwaited(message(sent));
    })();
    // 16 MB do not fit in the kernel's socket buffers: the sender stalls with little held in the gateway.
    let last = -1;
    await until(() => {
      const stalled = sent === last;
      last = sent;
      return stalled && sent < 2000;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toBeLessThan(2000);
    // Under the limit before the last message acknowledged at once, then one more sent (each with its frame header).
    expect(serverSide.bufferedAmount).toBeLessThanOrEqual(WRITE_AHEAD_BYTES + 2 * (message(0).length + 14));
    tcpOf(client).resume();
    await sending;
    await until(() => received.length === 2000);
    expect(received.every((text, i) => text === message(i))).toBe(true);
  });

  it('sends without a callback, or on a closing socket, as ws does', async () => {
    serverSide.send('no callback');
    await until(() => received.length === 1);
    expect(received).toEqual(['no callback']);
    serverSide.close();
    const err = await new Promise<Error | undefined>((resolve) => serverSide.send('too late', resolve));
    expect(err?.message).toMatch(/CLOSING|CLOSED/);
  });
});
