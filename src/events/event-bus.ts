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
  close(): Promise<void>;
}

const CHANNEL = 'codex_events';

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
      const [streamId, seq] = (msg.payload ?? '').split(' ');
      if (streamId && seq) void this.local.publish(streamId, Number(seq));
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'event bus listener lost its connection; reconnecting');
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
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

  async close() {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.listener?.end().catch(() => {});
    await this.pool.end();
    await this.local.close();
  }
}
