/** A Server-Sent Events client for tests (eventsource-parser reads the stream), over real HTTP. */
import { EventSourceParserStream } from 'eventsource-parser/stream';

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Opens an event stream; read events with `next()`, stop early with `close()`. */
export async function openSse(url: string, init: { method?: string; apiKey: string; body?: unknown; headers?: Record<string, string> }) {
  const controller = new AbortController();
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    signal: controller.signal,
    headers: {
      authorization: `Bearer ${init.apiKey}`,
      accept: 'text/event-stream',
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream')) {
    return { res, error: await res.json(), next: async () => null, close: () => controller.abort(), all: async () => [] as SseEvent[] };
  }
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  const next = async (): Promise<SseEvent | null> => {
    const { value, done } = await reader.read();
    if (done) return null;
    return { id: value.id, event: value.event ?? 'message', data: JSON.parse(value.data) };
  };
  return {
    res,
    error: null,
    next,
    close: () => controller.abort(),
    /** Every remaining event until the server ends the stream. */
    async all() {
      const out: SseEvent[] = [];
      for (let e = await next(); e; e = await next()) out.push(e);
      return out;
    },
  };
}
