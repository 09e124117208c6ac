/** A resumable live stream: the stored backlog after `since`, then new events as they arrive. */
import type { Db } from '../db/client.js';
import { databaseUnavailable } from '../db/unavailable.js';
import type { EventBus } from './event-bus.js';
import { lastEventUpTo, readEvents, type StoredEvent } from './event-store.js';

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

/**
 * Yields each event exactly once, in sequence order, until a terminal event or the signal aborts.
 * A stream resumed at or after its terminal event ends at once. `return()` (a subscriber leaving)
 * ends it at once too, also while it waits for the next event.
 */
export function streamEvents(options: StreamOptions): AsyncGenerator<StoredEvent> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const inner = events({ ...options, signal });
  const outer: AsyncGenerator<StoredEvent> = {
    next: () => inner.next(),
    return: (value) => {
      stop.abort();
      return inner.return(value);
    },
    throw: (err) => {
      stop.abort();
      return inner.throw(err);
    },
    [Symbol.asyncIterator]: () => outer,
  };
  return outer;
}

async function* events(options: StreamOptions & { signal: AbortSignal }): AsyncGenerator<StoredEvent> {
  const { db, bus, streamId, isTerminal, signal, pollMs = 1000 } = options;
  let last = options.since;
  let notified: boolean; // cleared before each read of the stream, set by a wake-up meanwhile
  let wake: (() => void) | null = null;
  const onWake = () => {
    notified = true;
    wake?.();
  };
  const hub = StreamHub.of(db, bus, streamId, pollMs);
  const leave = hub.join(onWake);
  signal.addEventListener('abort', onWake);
  try {
    let first = true;
    while (!signal.aborted) {
      notified = false;
      const batch = await untilReachable(() => hub.read(last), signal);
      for (const event of batch) {
        last = event.seq;
        yield event;
        if (isTerminal(event)) return;
      }
      if (first && batch.length === 0 && last > 0) {
        // Resumed with nothing after `since`: if the stream already ended there, there is nothing to wait for.
        const ended = await untilReachable(() => lastEventUpTo(db, streamId, last), signal);
        if (ended && isTerminal(ended)) return;
      }
      first = false;
      if (batch.length > 0 || notified || signal.aborted) continue;
      // The hub wakes every subscriber on a notification, and at least every `pollMs`.
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    leave();
    signal.removeEventListener('abort', onWake);
  }
}

/**
 * Hands events this process has just stored (and committed) to its subscribers of their streams,
 * who take them from memory, at once, instead of reading them back from the table (the bus's
 * notification still comes, and finds nothing new). Call it before publishing them.
 */
export function offerStored(db: Db, bus: EventBus, events: StoredEvent[]): void {
  const hubs = StreamHub.hubsOf(db, bus);
  if (!hubs?.size) return;
  const byStream = new Map<string, StoredEvent[]>();
  for (const event of events) {
    if (!hubs.has(event.streamId)) continue;
    const list = byStream.get(event.streamId);
    if (list) list.push(event);
    else byStream.set(event.streamId, [event]);
  }
  for (const [streamId, stored] of byStream) {
    stored.sort((a, b) => a.seq - b.seq);
    for (const hub of hubs.get(streamId)!.values()) hub.offer(stored);
  }
}

/** The most recent events of a stream a hub keeps to answer reads from memory. */
const RECENT_EVENTS = 256;
/** The most events one read of the table returns. */
const READ_BATCH = 500;

/**
 * What the subscribers of one stream share in this process: one bus subscription, one poll timer,
 * and one read of the table per position and wake-up, so an event delivered to a thousand
 * subscribers costs one query rather than a thousand. A read is shared only within the wake-up it
 * started in (`reads` is emptied on each notification and poll tick): whoever was woken by an
 * event's notification gets a read that started after that event was stored.
 *
 * The hub also keeps the stream's latest events, without gaps (`recent`: what this process
 * stored, `offer`, and what its reads found), and the highest sequence number it has heard of
 * (`newest`: offers, reads and notifications). A read after a position within `recent` is answered
 * from memory when `recent` reaches `newest`; otherwise, and on every poll tick (which catches a lost
 * notification), from the table.
 */
class StreamHub {
  private static readonly hubs = new WeakMap<Db, WeakMap<EventBus, Map<string, Map<number, StreamHub>>>>();
  private readonly listeners = new Set<() => void>();
  private reads = new Map<number, Promise<StoredEvent[]>>();
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private recent: StoredEvent[] = [];
  private newest = 0;
  /** Set by a poll tick (or a wake-up without a sequence number): this wake-up's reads go to the table. */
  private polled = false;

  private constructor(
    private readonly db: Db,
    bus: EventBus,
    private readonly streamId: string,
    pollMs: number,
    private readonly forget: () => void,
  ) {
    this.unsubscribe = bus.subscribe(streamId, (seq) => {
      this.newest = Math.max(this.newest, seq);
      this.wakeAll(seq < 0);
    });
    this.timer = setInterval(() => this.wakeAll(true), pollMs);
  }

  /** This process's hubs of `db` and `bus`, by stream and poll interval. */
  static hubsOf(db: Db, bus: EventBus): Map<string, Map<number, StreamHub>> | undefined {
    return StreamHub.hubs.get(db)?.get(bus);
  }

  static of(db: Db, bus: EventBus, streamId: string, pollMs: number): StreamHub {
    let byBus = StreamHub.hubs.get(db);
    if (!byBus) StreamHub.hubs.set(db, (byBus = new WeakMap<EventBus, Map<string, Map<number, StreamHub>>>()));
    let streams = byBus.get(bus);
    if (!streams) byBus.set(bus, (streams = new Map<string, Map<number, StreamHub>>()));
    let hubs = streams.get(streamId);
    if (!hubs) streams.set(streamId, (hubs = new Map<number, StreamHub>()));
    let hub = hubs.get(pollMs);
    if (!hub) {
      const own = hubs;
      own.set(
        pollMs,
        (hub = new StreamHub(db, bus, streamId, pollMs, () => {
          own.delete(pollMs);
          if (own.size === 0 && streams.get(streamId) === own) streams.delete(streamId);
        })),
      );
    }
    return hub;
  }

  /** Calls `listener` on every wake-up until the returned function is called. */
  join(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0) return;
      this.unsubscribe();
      clearInterval(this.timer);
      this.forget();
    };
  }

  /** The stream's events after `afterSeq`: from memory when it has them all, else read once per wake-up for all who ask. */
  read(afterSeq: number): Promise<StoredEvent[]> {
    const known = this.fromMemory(afterSeq);
    if (known) return Promise.resolve(known);
    let read = this.reads.get(afterSeq);
    if (!read) {
      const reads = this.reads;
      read = readEvents(this.db, this.streamId, afterSeq, READ_BATCH);
      reads.set(afterSeq, read);
      read.then(
        // A short read reached the end of the stream: memory may answer the next one.
        (events) => {
          if (events.length < READ_BATCH) this.remember(events);
        },
        () => reads.get(afterSeq) === read && reads.delete(afterSeq), // a failed read is retried afresh
      );
    }
    return read;
  }

  /** Events this process has just stored: remembered, and every subscriber woken to take them. */
  offer(events: StoredEvent[]): void {
    this.remember(events);
    this.wakeAll(false);
  }

  /** The events after `afterSeq` up to the newest heard of, when memory holds every one of them. */
  private fromMemory(afterSeq: number): StoredEvent[] | null {
    if (this.polled || this.recent.length === 0) return null;
    const first = this.recent[0].seq;
    const last = this.recent[this.recent.length - 1].seq;
    if (afterSeq < first - 1 || afterSeq > last || last < this.newest) return null;
    return this.recent.slice(afterSeq - first + 1);
  }

  /** Adds stored events (in sequence order) to `recent`, which stays without gaps: one past a gap starts it afresh. */
  private remember(events: StoredEvent[]): void {
    for (const event of events) {
      this.newest = Math.max(this.newest, event.seq);
      const last = this.recent.at(-1)?.seq;
      if (last !== undefined && event.seq <= last) continue;
      if (last !== undefined && event.seq !== last + 1) this.recent = [];
      this.recent.push(event);
    }
    if (this.recent.length > RECENT_EVENTS) this.recent = this.recent.slice(-RECENT_EVENTS);
  }

  private wakeAll(fromTable: boolean) {
    this.polled = fromTable;
    this.reads = new Map();
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * Runs a read, retrying while the database is unavailable (a restart, a cut connection) for up to
 * `patienceMs`, so an open stream rides out a short outage and then catches up from the table
 * instead of closing. Other errors, or an outage longer than that, are thrown.
 */
function untilReachable<T>(read: () => Promise<T>, signal: AbortSignal, patienceMs = 60_000): Promise<T> {
  const giveUpAt = Date.now() + patienceMs;
  // The first try without an async function of its own: each subscriber reads once per event.
  return read().catch((err: unknown) => retried(read, err, signal, giveUpAt));
}

async function retried<T>(read: () => Promise<T>, failure: unknown, signal: AbortSignal, giveUpAt: number): Promise<T> {
  let err = failure;
  for (let attempt = 0; ; attempt++) {
    if (!databaseUnavailable(err) || Date.now() > giveUpAt || signal.aborted) throw err;
    await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 200 * 2 ** attempt)));
    try {
      return await read();
    } catch (next) {
      err = next;
    }
  }
}

/**
 * `first`, then each item of `source` through `map` (null: skipped). Unlike an async generator
 * wrapped around it, `return()` reaches the source at once, so a subscriber that leaves stops it.
 */
export function mapStream<T, U>(source: AsyncGenerator<T>, map: (item: T) => Promise<U | null>, first: U[] = []): AsyncGenerator<U> {
  const queued = [...first];
  const done = (): IteratorReturnResult<undefined> => ({ done: true, value: undefined });
  const out: AsyncGenerator<U> = {
    async next() {
      if (queued.length) return { done: false, value: queued.shift()! };
      for (;;) {
        const r = await source.next();
        if (r.done) return done();
        const value = await map(r.value);
        if (value !== null) return { done: false, value };
      }
    },
    async return() {
      queued.length = 0;
      await source.return(undefined);
      return done();
    },
    async throw(err) {
      queued.length = 0;
      await source.return(undefined);
      throw err;
    },
    [Symbol.asyncIterator]: () => out,
  };
  return out;
}
