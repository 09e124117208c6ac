/**
 * Wake-up notifications for event streams. Events themselves live in the database; the bus only
 * says "stream X has a new event", so a lost notification costs latency (streams also poll),
 * never an event. In-memory for the single-process embedded default; PostgreSQL LISTEN/NOTIFY
 * when gateways and workers run as separate processes.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';

export interface EventBus {
  publish(streamId: string, seq: number): Promise<void>;
  /** Calls `listener` for each notification of the stream; returns the unsubscribe function. */
  subscribe(streamId: string, listener: (seq: number) => void): () => void;
  /** Tells every process (this one first, synchronously) something on `topic`, e.g. a revoked credential. */
  broadcast(topic: string, message: string): Promise<void>;
  onBroadcast(topic: string, listener: (message: string) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'codex_events';
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
  async close() {
    this.emitter.removeAllListeners();
  }
}

/** Delivers across processes through PostgreSQL NOTIFY; reconnects its listener after a failure. */
export class PostgresEventBus implements EventBus {
  private readonly local = new MemoryEventBus();
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly url: string,
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  static async connect(url: string, logger: Logger): Promise<PostgresEventBus> {
    const bus = new PostgresEventBus(url, new pg.Pool({ connectionString: url, max: 2 }), logger);
    await bus.listen();
    return bus;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      const payload = msg.payload ?? '';
      const space = payload.indexOf(' ');
      if (space < 0) return;
      if (msg.channel === CONTROL_CHANNEL) void this.local.broadcast(payload.slice(0, space), payload.slice(space + 1));
      else void this.local.publish(payload.slice(0, space), Number(payload.slice(space + 1)));
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'event bus listener lost its connection; reconnecting');
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}; LISTEN ${CONTROL_CHANNEL}`);
    this.listener = client;
  }

  private scheduleReconnect() {
    if (this.closed || this.reconnectTimer) return;
    const old = this.listener;
    this.listener = null;
    void old?.end().catch(() => {});
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listen().catch((err) => {
        this.logger.warn({ err }, 'event bus reconnect failed; retrying');
        this.scheduleReconnect();
      });
    }, 1000);
  }

  async publish(streamId: string, seq: number) {
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, `${streamId} ${seq}`]);
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
    await this.pool.end();
    await this.local.close();
  }
}
