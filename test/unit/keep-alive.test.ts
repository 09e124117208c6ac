/** The gateway-wide keep-alive over real sockets: a peer that answers pings stays, one that does not is terminated. */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { keepAlive } from '../../src/graphql/keep-alive.js';

/** Long enough that a loaded machine still answers a ping within one interval. */
const INTERVAL_MS = 250;

describe('keepAlive', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const undo of cleanup.splice(0)) undo();
  });

  async function serve() {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const pings = keepAlive(wss, INTERVAL_MS);
    cleanup.push(() => {
      pings.stop();
      for (const socket of wss.clients) socket.terminate();
      wss.close();
    });
    return { wss, pings, url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}` };
  }

  async function connect(url: string, autoPong: boolean) {
    const client = new WebSocket(url, { autoPong });
    cleanup.push(() => client.terminate());
    let pings = 0;
    client.on('ping', () => pings++);
    await once(client, 'open');
    return { client, pings: () => pings };
  }

  /** Resolves once `client` has been pinged `n` times (vitest's timeout fails the test otherwise). */
  const pinged = async (client: WebSocket, n: number) => {
    for (let seen = 0; seen < n; seen++) await once(client, 'ping');
  };

  it('keeps a socket that answers every ping open, ping after ping', async () => {
    const { wss, url } = await serve();
    const { client } = await connect(url, true);
    await pinged(client, 3);
    expect(client.readyState).toBe(WebSocket.OPEN);
    expect(wss.clients.size).toBe(1);
  });

  it('terminates a socket that leaves a ping unanswered, and keeps the one that answers', async () => {
    const { wss, url } = await serve();
    const silent = await connect(url, false);
    const alive = await connect(url, true);
    const [code] = (await once(silent.client, 'close')) as [number];
    // Terminated, not closed with a close frame: the peer is presumed gone.
    expect(code).toBe(1006);
    expect(silent.pings()).toBeGreaterThanOrEqual(1);
    await pinged(alive.client, 2);
    expect(alive.client.readyState).toBe(WebSocket.OPEN);
    expect(wss.clients.size).toBe(1);
  });

  it('pings no more once stopped', async () => {
    const { pings, url } = await serve();
    pings.stop();
    const silent = await connect(url, false);
    // Several intervals later the socket that answers nothing is still open and was never pinged.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 4));
    expect(silent.client.readyState).toBe(WebSocket.OPEN);
    expect(silent.pings()).toBe(0);
  });
});
