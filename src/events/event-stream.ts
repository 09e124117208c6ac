/** A resumable live stream: the stored backlog after `since`, then new events as they arrive. */
import type { Db } from '../db/client.js';
import type { EventBus } from './event-bus.js';
import { readEvents, type StoredEvent } from './event-store.js';

export interface StreamOptions {
  db: Db;
  bus: EventBus;
  streamId: string;
  /** Resume after this sequence number (0: from the beginning). */
  since: number;
  /** The stream ends after yielding an event for which this returns true. */
  isTerminal: (event: StoredEvent) => boolean;
  /** Safety net when a notification is lost: read the table at least this often. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Yields each event exactly once, in sequence order, until a terminal event or the signal aborts. */
export async function* streamEvents(options: StreamOptions): AsyncGenerator<StoredEvent> {
  const { db, bus, streamId, isTerminal, signal, pollMs = 1000 } = options;
  let last = options.since;
  let notified = false;
  let wake: (() => void) | null = null;
  const onWake = () => {
    notified = true;
    wake?.();
  };
  const unsubscribe = bus.subscribe(streamId, onWake);
  signal?.addEventListener('abort', onWake);
  try {
    while (!signal?.aborted) {
      notified = false;
      const batch = await readEvents(db, streamId, last);
      for (const event of batch) {
        last = event.seq;
        yield event;
        if (isTerminal(event)) return;
      }
      if (batch.length > 0 || notified || signal?.aborted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', onWake);
  }
}
