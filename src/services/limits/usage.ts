/**
 * The usage ledger: requests and credits per account, UTC day and endpoint. Counted in memory
 * and written to PostgreSQL every couple of seconds (one upsert per row, adding), so the request
 * path never waits for it; `flush` runs at shutdown too.
 */
import type { Db } from '../../db/client.js';
import type { Logger } from '../../logger.js';

const FLUSH_MS = 2000;

interface Pending {
  userId: string;
  day: string;
  endpoint: string;
  requests: number;
  credits: number;
}

export const utcDay = (at: Date) => at.toISOString().slice(0, 10);

export class UsageRecorder {
  private pending = new Map<string, Pending>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS).unref();
  }

  /** Counts a request; a refund records it again with -1 request and its credits negative. */
  record(userId: string, endpoint: string, credits: number, at = new Date(), requests = 1): void {
    this.add({ userId, day: utcDay(at), endpoint, requests, credits });
  }

  private add(r: Pending): void {
    const id = `${r.userId}|${r.day}|${r.endpoint}`;
    const row = this.pending.get(id);
    if (row) {
      row.requests += r.requests;
      row.credits += r.credits;
      if (row.requests === 0 && row.credits === 0) this.pending.delete(id); // a refund of what was not written yet
    } else this.pending.set(id, { ...r });
  }

  /** Credits recorded but not yet written, for one account since `since` (a UTC day). */
  pendingCredits(userId: string, sinceDay: string): number {
    let sum = 0;
    for (const row of this.pending.values()) if (row.userId === userId && row.day >= sinceDay) sum += row.credits;
    return sum;
  }

  /** Writes what is pending (serialised: one flush at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const rows = [...this.pending.values()];
      this.pending = new Map();
      try {
        // One statement: all of it is written, or none of it and it is kept for the next flush.
        await this.db.$executeRaw`
          INSERT INTO usage_daily (user_id, day, endpoint, requests, credits)
          SELECT * FROM unnest(${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.day)}::text[]::date[],
                               ${rows.map((r) => r.endpoint)}::text[], ${rows.map((r) => r.requests)}::int[], ${rows.map((r) => r.credits)}::int[])
          ON CONFLICT (user_id, day, endpoint) DO UPDATE
          SET requests = usage_daily.requests + EXCLUDED.requests, credits = usage_daily.credits + EXCLUDED.credits`;
      } catch (err) {
        // Keep the counts for the next flush rather than lose them.
        for (const r of rows) this.add(r);
        this.logger.warn({ err }, 'usage flush failed; will retry');
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
