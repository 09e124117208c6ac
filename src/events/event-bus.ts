/**
 * Wake-up notifications for event streams. Events themselves live in the database; the bus only
 * says "stream X has a new event", so a lost notification costs latency (streams also poll),
 * never an event. In-memory for the single-process embedded default; PostgreSQL LISTEN/NOTIFY
 * when gateways and workers run as separate processes.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { DEFAULT_DB_TIMEOUTS, poolOptions, type DbTimeouts } from '../db/client.js';
import type { Logger } from '../logger.js';
import { metrics, watchPool } from '../metrics.js';

export interface EventBus {
  publish(streamId: string, seq: number): Promise<void>;
  /** Several streams' notifications in one go (one statement where the bus is PostgreSQL); `publish` each where absent. */
  publishMany?(events: Array<{ streamId: string; seq: number }>): Promise<void>;
  /** Calls `listener` for each notification of the stream; returns the unsubscribe function. */
  subscribe(streamId: string, listener: (seq: number) => void): () => void;
  /** Tells every process (this one first, synchronously) something on `topic`, e.g. a revoked credential. */
  broadcast(topic: string, message: string): Promise<void>;
  onBroadcast(topic: string, listener: (message: string) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'codex_events';
/** Notifications timed at once at most (a lost one is forgotten when this many wait). */
const MAX_TIMED_NOTIFICATIONS = 10_000;
const CONTROL_CHANNEL = 'codex_control';

/** Delivers within this process only. */
export class MemoryEventBus implements EventBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  async publish(streamId: string, seq: number) {
    this.emitter.emit(streamId, seq);
  }
  subscribe(streamId: string, listener: (seq: number) => void) {
    this.emitter.on(streamId, listener);
    return () => void this.emitter.off(streamId, listener);
  }
  async broadcast(topic: string, message: string) {
    this.emitter.emit(`\0${topic}`, message);
  }
  onBroadcast(topic: string, listener: (message: string) => void) {
    this.emitter.on(`\0${topic}`, listener);
    return () => void this.emitter.off(`\0${topic}`, listener);
  }
  /** Wakes every stream subscriber of this process (each re-reads its stream from the table). */
  wakeAll() {
    for (const name of this.emitter.eventNames()) {
      if (typeof name === 'string' && !name.startsWith('\0')) this.emitter.emit(name, -1);
    }
  }
  async close() {
    this.emitter.removeAllListeners();
  }
}

/**
 * Delivers across processes through PostgreSQL NOTIFY. Survives a database restart: pool errors on
 * idle connections are logged, not thrown; the LISTEN connection reconnects with backoff (1 s
 * doubling to 30 s) and, once back, wakes every local subscriber so each stream re-reads the table
 * and catches up on what was written while no notification could arrive.
 */
export class PostgresEventBus implements EventBus {
  private readonly local = new MemoryEventBus();
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** When this process published each notification it has not received back yet. */
  private readonly published = new Map<string, number>();

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly timeouts: DbTimeouts,
  ) {
    watchPool(pool, 'event_bus');
    pool.on('error', (err) => logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'event bus: an idle database connection failed'));
  }

  static async connect(url: string, logger: Logger, timeouts: DbTimeouts = DEFAULT_DB_TIMEOUTS): Promise<PostgresEventBus> {
    const bus = new PostgresEventBus(url, new pg.Pool(poolOptions(url, 2, timeouts)), logger, timeouts);
    await bus.listen();
    return bus;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: this.timeouts.connectMs, keepAlive: true });
    client.on('notification', (msg) => {
      const payload = msg.payload ?? '';
      const space = payload.indexOf(' ');
      if (space < 0) return;
      if (msg.channel === CONTROL_CHANNEL) void this.local.broadcast(payload.slice(0, space), payload.slice(space + 1));
      else {
        const sentAt = this.published.get(payload);
        if (sentAt !== undefined) {
          // Our own notification back: its subscribers here were woken when it was published.
          this.published.delete(payload);
          metrics.notifyLag.observe((performance.now() - sentAt) / 1000);
          return;
        }
        void this.local.publish(payload.slice(0, space), Number(payload.slice(space + 1)));
      }
    });
    const lost = (err?: Error) => {
      if (this.closed || this.listener !== client) return;
      this.logger.warn({ err: err && { message: err.message, code: (err as { code?: string }).code } }, 'event bus listener lost its connection; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}; LISTEN ${CONTROL_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      throw err;
    }
    this.listener = client;
    if (this.failures > 0) {
      this.logger.info({ afterAttempts: this.failures }, 'event bus listener reconnected; streams catch up from the table');
      this.local.wakeAll();
    }
    this.failures = 0;
  }

  private scheduleReconnect() {
    if (this.closed || this.reconnectTimer) return;
    const old = this.listener;
    this.listener = null;
    void old?.end().catch(() => {});
    const wait = Math.min(30_000, 1000 * 2 ** Math.min(this.failures, 5));
    this.failures++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().catch((err: Error) => {
        this.logger.warn({ err: { message: err.message }, attempt: this.failures }, 'event bus reconnect failed; retrying');
        this.scheduleReconnect();
      });
    }, wait);
  }

  /** Whether the LISTEN connection is up (health reports it). */
  get listening(): boolean {
    return this.listener !== null;
  }

  async publish(streamId: string, seq: number) {
    const payload = `${streamId} ${seq}`;
    // NOTIFY lag: this process receives its own notifications too; the time until then is measured.
    if (this.published.size >= MAX_TIMED_NOTIFICATIONS) this.published.clear();
    this.published.set(payload, performance.now());
    // Subscribers of this process are woken at once (the event is committed; each re-reads its
    // stream), not after the notification's round trip through PostgreSQL, which is for the others.
    void this.local.publish(streamId, seq);
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
  }

  async publishMany(events: Array<{ streamId: string; seq: number }>) {
    const payloads = events.map((e) => `${e.streamId} ${e.seq}`);
    if (this.published.size + payloads.length > MAX_TIMED_NOTIFICATIONS) this.published.clear();
    const now = performance.now();
    for (const payload of payloads) this.published.set(payload, now);
    // As publish: this process's subscribers now, the others through PostgreSQL (our echo is skipped).
    for (const e of events) void this.local.publish(e.streamId, e.seq);
    // One round trip for a batch of appends (50 at once queued on this pool's two connections).
    await this.pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [CHANNEL, payloads]);
  }

  subscribe(streamId: string, listener: (seq: number) => void) {
    return this.local.subscribe(streamId, listener);
  }

  async broadcast(topic: string, message: string) {
    // Here at once; other processes when NOTIFY reaches them (this one ignores its own echo twice: harmless).
    await this.local.broadcast(topic, message);
    await this.pool.query('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, `${topic} ${message}`]);
  }

  onBroadcast(topic: string, listener: (message: string) => void) {
    return this.local.onBroadcast(topic, listener);
  }

  async close() {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => {});
    await this.pool.end().catch(() => {});
    await this.local.close();
  }
}
