/**
 * One keep-alive timer for all of a WebSocket server's sockets. graphql-ws's own keeps an interval
 * per socket and adds a pong listener per ping; with thousands of idle subscribers per gateway that
 * is memory per subscriber for nothing. The semantics stay graphql-ws's: every interval each open
 * socket is pinged, and one that has not answered the previous ping by then (one interval later)
 * is terminated, so a dead peer is found and its subscriptions end.
 */
import type { WebSocket, WebSocketServer } from 'ws';

/** graphql-ws's default keep-alive interval. */
export const KEEP_ALIVE_MS = 12_000;

/** Pings `wss`'s sockets every `intervalMs` and terminates those that missed the last ping; `stop` ends it. */
export function keepAlive(wss: WebSocketServer, intervalMs = KEEP_ALIVE_MS): { stop(): void } {
  const awaitingPong = new WeakSet<WebSocket>();
  // One listener function for every socket (ws calls it with the socket as `this`).
  function answered(this: WebSocket) {
    awaitingPong.delete(this);
  }
  wss.on('connection', (socket: WebSocket) => socket.on('pong', answered));
  const timer = setInterval(() => {
    for (const socket of wss.clients) {
      if (socket.readyState !== socket.OPEN) continue;
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
