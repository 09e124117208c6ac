/**
 * Whether the Temporal server answers, kept current by a probe each second, and a client
 * interceptor that uses it: while Temporal is known to be down, calls that need it (starting,
 * signalling, cancelling, describing a workflow) fail at once with a 503 instead of waiting through
 * the client's retries; otherwise each gets a deadline. The gRPC channel reconnects within a second
 * of the server's return (see `channelArgs` in connection.ts), and the next probe marks it up.
 */
import { isGrpcServiceError, type Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';

/** gRPC status codes that mean "the server is not there", not "the call was wrong". */
const UNAVAILABLE = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

export class TemporalUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('The task engine is not reachable right now; nothing was started. Retry shortly.');
  }
}

function isOutage(err: unknown): boolean {
  if (isGrpcServiceError(err)) return UNAVAILABLE.has(err.code);
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== err && isOutage(cause);
}

/** Tracks Temporal's availability; `interceptor` guards the client's calls with it. */
export class TemporalAvailability {
  private up = true;
  private timer: NodeJS.Timeout | null = null;
  private connection: Connection | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly options: { rpcTimeoutMs: number; probeIntervalMs: number },
  ) {}

  /** Starts probing through `connection` (the client's). */
  watch(connection: Connection): void {
    this.connection = connection;
    const probe = async () => {
      try {
        await connection.withDeadline(Date.now() + Math.min(this.options.probeIntervalMs, 2000), () => connection.workflowService.getSystemInfo({}));
        this.mark(true);
      } catch {
        this.mark(false);
      } finally {
        if (this.timer) this.timer = setTimeout(() => void probe(), this.options.probeIntervalMs).unref();
      }
    };
    this.timer = setTimeout(() => void probe(), this.options.probeIntervalMs).unref();
  }

  get available(): boolean {
    return this.up;
  }

  private mark(up: boolean) {
    if (up === this.up) return;
    this.up = up;
    if (up) this.logger.info('Temporal is reachable again');
    else this.logger.warn('Temporal is not reachable: calls that need it answer 503 until it returns');
  }

  /** Runs a call that needs Temporal: at once 503 while it is down, else with a deadline. */
  async guard<T>(call: () => Promise<T>): Promise<T> {
    if (!this.up) throw new TemporalUnavailableError();
    try {
      return this.connection ? await this.connection.withDeadline(Date.now() + this.options.rpcTimeoutMs, call) : await call();
    } catch (err) {
      if (!isOutage(err)) throw err;
      this.mark(false);
      throw new TemporalUnavailableError();
    }
  }

  /** The workflow client interceptor that puts `guard` around each outbound call. */
  interceptor(): WorkflowClientInterceptor {
    return {
      startWithDetails: (input, next) => this.guard(() => next(input)),
      signal: (input, next) => this.guard(() => next(input)),
      signalWithStart: (input, next) => this.guard(() => next(input)),
      cancel: (input, next) => this.guard(() => next(input)),
      terminate: (input, next) => this.guard(() => next(input)),
      describe: (input, next) => this.guard(() => next(input)),
    };
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
