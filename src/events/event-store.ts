/**
 * Progress events with a per-stream sequence number. An event is stored first, then published,
 * so a subscriber that reconnects reads what it missed from the table. A deduplication key makes
 * an event emitted twice (an activity retried after a worker crash) stored once.
 */
import type { Db } from '../db/client.js';
import type { EventBus } from './event-bus.js';

/** An event as stored and as every transport reads it. */
export interface StoredEvent<T = Record<string, unknown>> {
  streamId: string;
  seq: number;
  type: string;
  data: T;
  createdAt: Date;
}

export interface NewEvent {
  streamId: string;
  type: string;
  /** Same key, same event: a second append with it returns the first. */
  key: string;
  data: Record<string, unknown>;
}

interface Row {
  stream_id: string;
  seq: number;
  type: string;
  data: Record<string, unknown>;
  created_at: Date;
}

const toEvent = (r: Row): StoredEvent => ({
  streamId: r.stream_id,
  seq: Number(r.seq),
  type: r.type,
  data: r.data,
  createdAt: r.created_at,
});

async function findByKey(db: Db, streamId: string, key: string): Promise<StoredEvent | null> {
  const rows = await db.$queryRaw<Row[]>`
    SELECT stream_id, seq, type, data, created_at FROM events WHERE stream_id = ${streamId} AND key = ${key}`;
  return rows[0] ? toEvent(rows[0]) : null;
}

/** Appends an event (or returns the one already stored under its key) and publishes it. */
export async function appendEvent(db: Db, bus: EventBus, event: NewEvent): Promise<StoredEvent> {
  let rows: Row[];
  try {
    // One statement, one round trip: nothing is written when the key is already stored, and the
    // counter row's lock orders concurrent writers, so seq N+1 never commits before N.
    rows = await db.$queryRaw<Row[]>`
      WITH s AS (
        INSERT INTO event_streams (id, last_seq)
        SELECT ${event.streamId}, 1 WHERE NOT EXISTS (SELECT 1 FROM events WHERE stream_id = ${event.streamId} AND key = ${event.key})
        ON CONFLICT (id) DO UPDATE SET last_seq = event_streams.last_seq + 1
        RETURNING last_seq
      )
      INSERT INTO events (stream_id, seq, type, key, data)
      SELECT ${event.streamId}, s.last_seq, ${event.type}, ${event.key}, ${JSON.stringify(event.data)}::jsonb FROM s
      RETURNING stream_id, seq, type, data, created_at`;
  } catch (err) {
    // A concurrent append with the same key won; the failed statement left the counter as it was.
    const raced = await findByKey(db, event.streamId, event.key);
    if (raced) return raced;
    throw err;
  }
  // No row: the key was stored before (a retried activity emitting again); return that event.
  if (rows.length === 0) return (await findByKey(db, event.streamId, event.key))!;
  const stored = toEvent(rows[0]);
  await bus.publish(stored.streamId, stored.seq);
  return stored;
}

/** The last event of a stream with a sequence number up to `seq`, or null. */
export async function lastEventUpTo(db: Db, streamId: string, seq: number): Promise<StoredEvent | null> {
  const rows = await db.$queryRaw<Row[]>`
    SELECT stream_id, seq, type, data, created_at FROM events
    WHERE stream_id = ${streamId} AND seq <= ${seq}
    ORDER BY seq DESC LIMIT 1`;
  return rows[0] ? toEvent(rows[0]) : null;
}

/** Events of a stream after `afterSeq`, in order. */
export async function readEvents(db: Db, streamId: string, afterSeq: number, limit = 500): Promise<StoredEvent[]> {
  const rows = await db.$queryRaw<Row[]>`
    SELECT stream_id, seq, type, data, created_at FROM events
    WHERE stream_id = ${streamId} AND seq > ${afterSeq}
    ORDER BY seq LIMIT ${limit}`;
  return rows.map(toEvent);
}

/**
 * Appends several events of one stream in order, in one statement (events whose key is already
 * stored are skipped: they were appended before), and publishes the last. Returns the events now
 * stored for the new keys. Falls back to one append at a time if a concurrent writer raced it.
 */
export async function appendEvents(db: Db, bus: EventBus, streamId: string, events: Array<Omit<NewEvent, 'streamId'>>): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const keys = events.map((e) => e.key);
  const existing = new Set(
    (await db.$queryRaw<Array<{ key: string }>>`SELECT key FROM events WHERE stream_id = ${streamId} AND key = ANY(${keys}::text[])`).map((r) => r.key),
  );
  const fresh = events.filter((e, i) => !existing.has(e.key) && keys.indexOf(e.key) === i);
  if (fresh.length === 0) return [];
  const payload = JSON.stringify(fresh.map((e) => ({ type: e.type, key: e.key, data: e.data })));
  let rows: Row[];
  try {
    rows = await db.$queryRaw<Row[]>`
      WITH s AS (
        INSERT INTO event_streams (id, last_seq) VALUES (${streamId}, ${fresh.length})
        ON CONFLICT (id) DO UPDATE SET last_seq = event_streams.last_seq + ${fresh.length}
        RETURNING last_seq
      )
      INSERT INTO events (stream_id, seq, type, key, data)
      SELECT ${streamId}, s.last_seq - ${fresh.length} + e.ord::int, e.type, e.key, e.data
      FROM s, ROWS FROM (jsonb_to_recordset(${payload}::jsonb) AS (type text, key text, data jsonb)) WITH ORDINALITY AS e(type, key, data, ord)
      RETURNING stream_id, seq, type, data, created_at`;
  } catch {
    // A concurrent append of one of these keys won; the failed statement changed nothing.
    const stored: StoredEvent[] = [];
    for (const e of fresh) stored.push(await appendEvent(db, bus, { ...e, streamId }));
    return stored;
  }
  const stored = rows.map(toEvent).sort((a, b) => a.seq - b.seq);
  await bus.publish(streamId, stored.at(-1)!.seq);
  return stored;
}

interface Waiting {
  event: Omit<NewEvent, 'streamId'>;
  resolve(): void;
  reject(err: unknown): void;
}

/** Per stream, the appends waiting for the statement in flight (this process's own). */
const coalescing = new Map<string, Waiting[]>();

/**
 * Appends an event to a stream that many writers share (an orchestration's, an account's task
 * feed): appends that arrive while one for the same stream is in flight wait and go together in
 * the next statement (`appendEvents`), in arrival order. One statement at a time per stream and
 * process, instead of one per event each queued on the stream's counter row (50 agents of one
 * orchestration held 50 pooled connections waiting for that lock). Same keys, same deduplication.
 */
export function appendEventCoalesced(db: Db, bus: EventBus, event: NewEvent): Promise<void> {
  const { streamId, ...rest } = event;
  return new Promise<void>((resolve, reject) => {
    const queue = coalescing.get(streamId);
    if (queue) return void queue.push({ event: rest, resolve, reject });
    const mine: Waiting[] = [{ event: rest, resolve, reject }];
    coalescing.set(streamId, mine);
    void drain(db, bus, streamId, mine);
  });
}

async function drain(db: Db, bus: EventBus, streamId: string, first: Waiting[]): Promise<void> {
  let batch = first;
  for (;;) {
    const next: Waiting[] = [];
    coalescing.set(streamId, next); // appends from now on wait for this statement
    try {
      await appendEvents(db, bus, streamId, batch.map((w) => w.event));
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
    if (next.length === 0) {
      coalescing.delete(streamId);
      return;
    }
    batch = next;
  }
}
