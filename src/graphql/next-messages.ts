/**
 * graphql-ws `next` messages written from JSON made once. graphql-ws serialises every message it
 * sends ({id, type, payload}) for its socket, though subscribers that share an event's execution
 * (./shared-subscriptions.ts) share its result: a thousand sockets meant a thousand serialisations
 * of the same data. Here a `next` payload of only data (and `extensions.rateLimit`) carries the
 * message's text instead, put together from the result's JSON (made once per result) and the
 * subscriber's rate-limit JSON (made once per limits state); graphql-ws's message replacer
 * (`replaceNextMessage`, its `jsonMessageReplacer`) turns such a message into a placeholder, and
 * the sockets (`NextMessageSocket`, the WebSocketServer's `WebSocket` class) send the text in its
 * place. The text is byte for byte what graphql-ws would have written.
 */
import type { ExecutionResult, FormattedExecutionResult } from 'graphql';
import { CoalescingSocket } from '../net/socket-writes.js';

const TEXT = Symbol('next message text');
const PLACEHOLDER = '\u0000next message';
const PLACEHOLDER_JSON = JSON.stringify(PLACEHOLDER);
/**
 * The text of the message the replacer last turned into the placeholder. graphql-ws serialises a
 * message and hands it to the socket in one synchronous step, so the next placeholder sent is it.
 */
let pending: string | null = null;

/** The JSON of a result that holds only data (null for any other result), by result object. */
const dataJson = new WeakMap<ExecutionResult, string | null>();
/** The JSON of a rendered `extensions.rateLimit`, by its object (one per limits state). */
const extensionJson = new WeakMap<object, string>();

/**
 * The `next` payload for operation `id`: `result` with `rateLimit` (if any) as its
 * `extensions.rateLimit`, carrying its message's text when the result is plain data; null when
 * it is not (errors, extensions of its own), for the caller to format.
 */
export function nextPayload(id: string, result: ExecutionResult, rateLimit: object | null): FormattedExecutionResult | null {
  let data = dataJson.get(result);
  if (data === undefined) {
    const plain = result.data !== undefined && Object.keys(result).every((key) => key === 'data');
    dataJson.set(result, (data = plain ? JSON.stringify({ data: result.data }).slice(0, -1) : null));
  }
  if (data === null) return null;
  let extension = '';
  if (rateLimit) {
    let json = extensionJson.get(rateLimit);
    if (json === undefined) extensionJson.set(rateLimit, (json = JSON.stringify(rateLimit)));
    extension = `,"extensions":{"rateLimit":${json}}`;
  }
  // Only the replacer below reads it (the payload otherwise serialises as {}).
  return { [TEXT]: `{"id":${JSON.stringify(id)},"type":"next","payload":${data}${extension}}}` } as FormattedExecutionResult;
}

/** graphql-ws's `jsonMessageReplacer`: a message whose payload carries its text becomes the placeholder. */
export function replaceNextMessage(key: string, value: unknown): unknown {
  if (key !== '' || typeof value !== 'object' || value === null) return value;
  const text = (value as { payload?: { [TEXT]?: string } }).payload?.[TEXT];
  if (text === undefined) return value;
  pending = text;
  return PLACEHOLDER;
}

/** A graphql-ws socket: sends the text of a message the replacer made a placeholder of, a turn's messages in one write. */
export class NextMessageSocket extends CoalescingSocket {
  override send(data: unknown, ...rest: unknown[]): void {
    if (data === PLACEHOLDER_JSON && pending !== null) {
      data = pending;
      pending = null;
    }
    super.send(data, ...rest);
  }
}
