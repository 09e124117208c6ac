/**
 * Progress events with a per-stream sequence number. An event is stored first, then published,
 * so a subscriber that reconnects reads what it missed from the table. A deduplication key makes
 * an event emitted twice (an activity retried after a worker crash) stored once.
 */
import { rawRows, type Db } from '../db/client.js';
import { coalescing, perClient } from '../db/coalesce.js';
import type { EventBus } from './event-bus.js';
import { offerStored } from './event-stream.js';

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

const READ_EVENTS = 'SELECT stream_id, seq, type, data, created_at FROM events WHERE stream_id = $1 AND seq > $2 ORDER BY seq LIMIT $3';

/**
 * Events of a stream after `afterSeq`, in order. Every subscriber re-reads its stream after each
 * event: the statement runs straight on the pool when there is one (Prisma's client costs more per
 * call than the statement itself).
 */
export async function readEvents(db: Db, streamId: string, afterSeq: number, limit = 500): Promise<StoredEvent[]> {
  return (await rawRows<Row>(db, READ_EVENTS, [streamId, afterSeq, limit])).map(toEvent);
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

/** What runs a statement: the client, or a transaction's. */
type Queryable = Pick<Db, '$queryRaw' | '$queryRawUnsafe'>;

/** The statement of `insertEvents` ($1: the events as a JSON array). */
const INSERT_EVENTS = `
    WITH input AS (
      SELECT DISTINCT ON (i.stream_id, i.key) i.stream_id, i.type, i.key, i.data, i.ord
      FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (stream_id text, type text, key text, data jsonb)) WITH ORDINALITY AS i(stream_id, type, key, data, ord)
      WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = i.stream_id AND e.key = i.key)
      ORDER BY i.stream_id, i.key, i.ord
    ),
    numbered AS (
      SELECT input.*, row_number() OVER (PARTITION BY stream_id ORDER BY ord) AS n, count(*) OVER (PARTITION BY stream_id) AS c FROM input
    ),
    s AS (
      INSERT INTO event_streams (id, last_seq)
      SELECT stream_id, count(*)::int FROM input GROUP BY stream_id ORDER BY stream_id
      ON CONFLICT (id) DO UPDATE SET last_seq = event_streams.last_seq + EXCLUDED.last_seq
      RETURNING id, last_seq
    ),
    inserted AS (
      INSERT INTO events (stream_id, seq, type, key, data)
      SELECT n.stream_id, (s.last_seq - n.c + n.n)::int, n.type, n.key, n.data FROM numbered n JOIN s ON s.id = n.stream_id
      RETURNING stream_id, seq, type, key, data, created_at
    )
    SELECT stream_id, seq, type, key, data, created_at FROM inserted
    UNION ALL
    SELECT e.stream_id, e.seq, e.type, e.key, e.data, e.created_at
    FROM events e JOIN ROWS FROM (jsonb_to_recordset($1::jsonb) AS (stream_id text, key text)) AS i(stream_id, key) ON e.stream_id = i.stream_id AND e.key = i.key`;

/**
 * Inserts events of any number of streams in one statement, each stream's in the order given, and
 * returns, for each event, the event now stored under its key (an event whose key its stream
 * already holds is not written again: that one is returned). Each stream's counter row is taken in
 * one order (by stream id), so two such statements never wait on each other crosswise. Does not
 * publish (`publishStored` does, once committed). Throws on a unique violation: a concurrent writer
 * stored one of these keys first.
 */
export async function insertEvents(db: Queryable, events: NewEvent[]): Promise<StoredEvent[]> {
  if (events.length === 0) return [];
  const payload = JSON.stringify(events.map((e) => ({ stream_id: e.streamId, type: e.type, key: e.key, data: e.data })));
  // Straight on the pool when not in a transaction (see readEvents).
  const rows = await rawRows<Row & { key: string }>(db, INSERT_EVENTS, [payload]);
  const byKey = new Map(rows.map((r) => [`${r.stream_id}\u0000${r.key}`, toEvent(r)]));
  return events.map((e) => byKey.get(`${e.streamId}\u0000${e.key}`)!);
}

/** Publishes the last of each stream's events (a subscriber reads every event up to it from the table). */
export async function publishStored(bus: EventBus, stored: StoredEvent[]): Promise<void> {
  const last = new Map<string, number>();
  for (const e of stored) last.set(e.streamId, Math.max(last.get(e.streamId) ?? 0, e.seq));
  const events = [...last].map(([streamId, seq]) => ({ streamId, seq }));
  if (bus.publishMany) await bus.publishMany(events);
  else await Promise.all(events.map((e) => bus.publish(e.streamId, e.seq)));
}

interface Batched {
  event: NewEvent;
  bus: EventBus;
}

/** Per database client, the loader that gathers this process's appends (see appendEventsBatched). */
const batcherOf = perClient((db: Db) =>
  coalescing<Batched, StoredEvent>(async (items) => {
    let stored: StoredEvent[];
    try {
      stored = await insertEvents(db, items.map((i) => i.event));
    } catch {
      // A concurrent writer (another process) stored one of these keys first: one at a time, each its own answer.
      return Promise.all(items.map((i) => appendEvent(db, i.bus, i.event).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))));
    }
    const buses = new Map<EventBus, StoredEvent[]>();
    items.forEach((i, n) => buses.set(i.bus, [...(buses.get(i.bus) ?? []), stored[n]]));
    // This process's subscribers take the events from here; other processes' read them on the bus's word.
    for (const [bus, s] of buses) offerStored(db, bus, s);
    await Promise.all([...buses].map(([bus, s]) => publishStored(bus, s)));
    return stored;
  }),
);

/**
 * Appends events (of one stream or several) and publishes them; returns what is stored for each.
 * Appends of this process that arrive while one statement is in flight go together in the next
 * one (`insertEvents`), in arrival order: one statement at a time instead of one per event, each
 * holding a pooled connection and queuing on a shared stream's counter row (the orchestration's,
 * the account's feed). A caller's events normally go in the same statement, so they are stored together.
 */
export async function appendEventsBatched(db: Db, bus: EventBus, events: NewEvent[]): Promise<StoredEvent[]> {
  const results = await batcherOf(db).loadMany(events.map((event) => ({ event, bus })));
  return results.map((r) => {
    if (r instanceof Error) throw r;
    return r;
  });
}
