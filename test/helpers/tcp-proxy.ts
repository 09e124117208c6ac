/**
 * A TCP proxy in front of a real server, so a test can make the database (or any dependency)
 * vanish, refuse or freeze for one gateway without touching the server other test files share.
 */
import { createServer, Socket, type Server } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Drops every open connection (what clients see when the server restarts). */
  cut(): void;
  /** Refuses new connections and drops open ones, until `restore()` (a stopped server). */
  down(): Promise<void>;
  /** Holds every byte in both directions, connections open (a frozen server), until `restore()`. */
  freeze(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  let port = 0;
  let server: Server;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = new Socket();
        const pair: [Socket, Socket] = [client, upstream];
        pairs.add(pair);
        const drop = () => {
          pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        upstream.connect(targetPort, targetHost, () => {
          client.pipe(upstream);
          upstream.pipe(client);
          if (frozen) {
            client.pause();
            upstream.pause();
          }
        });
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const cut = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    get port() {
      return port;
    },
    cut,
    async down() {
      // close() stops accepting at once but calls back only when open connections are gone: cut them.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cut();
      await closed;
    },
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    async restore() {
      if (frozen) {
        frozen = false;
        for (const [a, b] of pairs) {
          a.pipe(b);
          b.pipe(a);
          a.resume();
          b.resume();
        }
      }
      if (!server.listening) await listen();
    },
    async close() {
      const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      cut();
      await closed;
    },
  };
}
