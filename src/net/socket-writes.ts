/**
 * WebSocket writes of one turn of the event loop sent to the kernel together. graphql-ws sends a
 * subscription's messages one at a time and waits for each write's callback before it takes the
 * next event (the REST task stream does the same); ws writes each message at once, its frame
 * header and data in one `writev` system call. A gateway that fell behind a burst of events
 * catches up a few events per read, so each socket was sent several messages in a row: as many
 * system calls, and as many TCP segments for its client to read, as messages.
 *
 * A `CoalescingSocket` writes the first message of a turn at once (a lone event goes out without
 * delay) and, from the second on, corks its socket until the turn ends (`setImmediate`), so the
 * rest of what it was sent in that turn leaves in one write. For graphql-ws to send the next
 * event within the turn, a message's callback is called as soon as ws has taken it, while the
 * socket holds under `WRITE_AHEAD_BYTES` not yet written; past that, once its data reaches the
 * kernel, as before. A subscriber that reads slowly thus holds at most that much plus one message
 * in the gateway's memory, and its later events wait in the table.
 */
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/** How much a socket may hold unwritten while its messages' callbacks are still called at once. */
export const WRITE_AHEAD_BYTES = 16 * 1024;

type Callback = (err?: Error) => void;
type SendOptions = Exclude<Parameters<WebSocket['send']>[1], Callback | undefined>;

/** The TCP sockets written to in this turn: corked (true) from their second message on, uncorked when it ends. */
const writtenThisTurn = new Map<Socket, boolean>();

function uncorkAll(): void {
  for (const [socket, corked] of writtenThisTurn) if (corked) socket.uncork();
  writtenThisTurn.clear();
}

/** A ws server-side socket whose messages of one turn after the first go out in one write (see above). */
export class CoalescingSocket extends WebSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    const options = (typeof rest[0] === 'object' && rest[0] !== null ? rest[0] : {}) as SendOptions;
    const last = rest.at(-1); // ws takes the callback last
    const done = typeof last === 'function' ? (last as Callback) : undefined;
    const message = data as string;
    // ws's own socket: the only way to cork it (ws has no cork of its own).
    const socket = (this as unknown as { _socket?: Socket })._socket;
    if (!done || !socket || this.readyState !== WebSocket.OPEN) {
      super.send(message, options, done);
      return;
    }
    const corked = writtenThisTurn.get(socket);
    if (corked === undefined) {
      if (writtenThisTurn.size === 0) setImmediate(uncorkAll);
      writtenThisTurn.set(socket, false);
    } else if (!corked) {
      socket.cork();
      writtenThisTurn.set(socket, true);
    }
    if (this.bufferedAmount >= WRITE_AHEAD_BYTES) {
      super.send(message, options, done);
      return;
    }
    // Queued, and the socket is not backed up: the sender may go on. A failed write closes the socket.
    super.send(message, options);
    done();
  }
}
