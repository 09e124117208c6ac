/**
 * The first connection to an external PostgreSQL or Temporal, retried with exponential backoff: a
 * gateway or worker started before its services are up (containers after a reboot, a database
 * still running its init scripts) waits for them instead of exiting.
 */

/** How long and how often to retry, and what to say meanwhile. */
export interface StartupRetryOptions {
  /** What is being reached, for the log lines and the final message (no credentials in it). */
  what: string;
  /** Give up once this long has passed since the first attempt; the last wait is shortened so an attempt falls at the end (0: one attempt). */
  totalSeconds: number;
  /** Receives one line per failed attempt that will be retried. */
  log: (line: string) => void;
  /** Failures that waiting cannot fix (a wrong password, a missing database): no retry. */
  isPermanent?: (err: unknown) => boolean;
  /** Wait after the first failure; it doubles after each further one, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The retries are spent (or the failure is permanent); the message is one line for the operator. */
export class StartupError extends Error {
  override name = 'StartupError';
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `connect` until it succeeds, retrying with backoff; throws a StartupError when it gives up. */
export async function retryStartup<T>(connect: () => Promise<T>, options: StartupRetryOptions): Promise<T> {
  const { what, totalSeconds, log, isPermanent, initialDelayMs = 500, maxDelayMs = 10_000, sleep = wait, now = Date.now } = options;
  const started = now();
  let delay = initialDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      const reason = describeError(err);
      if (isPermanent?.(err)) throw new StartupError(`${what}: ${reason}`, { cause: err });
      const elapsed = now() - started;
      const remaining = totalSeconds * 1000 - elapsed;
      if (remaining <= 0) {
        const waited = totalSeconds > 0 ? ` after ${attempt} attempts in ${Math.round(elapsed / 1000)} s (STARTUP_RETRY_SECONDS=${totalSeconds})` : '';
        throw new StartupError(`${what} is unreachable${waited}: ${reason}`, { cause: err });
      }
      const pause = Math.min(delay, remaining);
      log(`${what} is not reachable yet (attempt ${attempt}: ${reason}); retrying in ${formatSeconds(pause)}`);
      await sleep(pause);
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}

/**
 * One line saying why an attempt failed: the error's message, or its code when the message is empty
 * (Node reports a refused dual-stack connection as an AggregateError without one), with any
 * credentials in a URL blanked out.
 */
export function describeError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown[]; cause?: unknown };
  let text = typeof e?.message === 'string' && e.message.trim() ? e.message : '';
  if (!text && Array.isArray(e?.errors) && e.errors.length) text = describeError(e.errors[0]);
  if (!text && typeof e?.code === 'string') text = e.code;
  if (!text) text = String(err);
  // A wrapper's message alone hides the reason ("Failed to connect to Temporal server").
  if (e?.cause instanceof Error && e.cause.message && !text.includes(e.cause.message)) text += `: ${describeError(e.cause)}`;
  const line = text.split('\n').find((l) => l.trim())?.trim() ?? text;
  const redacted = line.replace(/\/\/[^\s/@]+@/g, '//[redacted]@');
  return redacted.length > 300 ? `${redacted.slice(0, 297)}...` : redacted;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
