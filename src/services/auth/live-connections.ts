/**
 * Connections that outlive a request (graphql-ws sockets, the REST task WebSocket, SSE event
 * streams) hold a credential for minutes or hours, longer than one check at the start covers.
 * Each registers here: on every revocation broadcast that names its credential or user (from this
 * process or another replica) its credential is verified again, fresh from the database, and the
 * connection is ended if it no longer holds; it is ended when its access token expires; and the
 * connections open per credential and per client address are capped, in each process.
 */
import { AppError, AuthenticationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Principal } from '../deps.js';
import type { Authenticator } from './authenticate.js';

/** The longest delay setTimeout keeps (about 24.8 days); a later expiry is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A WebSocket close reason is at most 123 bytes. */
const MAX_CLOSE_REASON_BYTES = 123;

export class TooManyConnectionsError extends AppError {
  constructor(holder: 'credential' | 'address', limit: number) {
    super(
      'rate_limit_exceeded',
      429,
      `This ${holder === 'credential' ? 'credential' : 'client address'} already has ${limit} open WebSockets and event streams on this server: close one before opening another.`,
      { limit },
      { 'Retry-After': '5' },
    );
  }
}

export class TooManyOperationsError extends AppError {
  constructor(limit: number) {
    super('rate_limit_exceeded', 429, `This socket already runs ${limit} operations: complete one before starting another, or open another socket.`, { limit });
  }
}

/**
 * The WebSocket close code for the error that ends a connection: 4000 + its HTTP status for 401,
 * 403 and 429 (graphql-ws's Unauthorized, Forbidden and TooManyRequests-style codes), else 1013 (try again later).
 */
export function closeCodeOf(err: AppError): number {
  return err.status === 401 || err.status === 403 || err.status === 429 ? 4000 + err.status : 1013;
}

/** The error's message cut to what a close frame can carry. */
export function closeReasonOf(err: AppError): string {
  let reason = err.message;
  while (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -2) + '…';
  return reason;
}

export interface ConnectionLimits {
  perCredential: number;
  perAddress: number;
}

/** Every live connection of one gateway process. */
export class LiveConnections {
  private readonly open = new Set<LiveConnection>();
  private readonly perAddress = new Map<string, number>();
  private readonly perCredential = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(
    readonly auth: Authenticator,
    private readonly limits: ConnectionLimits,
    readonly logger: Logger,
  ) {
    this.unsubscribe = auth.onRevoked((ids) => {
      for (const connection of this.open) {
        const p = connection.principal;
        if (p && (ids.has(p.credentialId) || ids.has(p.userId))) connection.recheck();
      }
    });
  }

  /**
   * Takes a place for a connection from `ip` (429 once that address has its limit open); the
   * transport says with `onEnd` how to close it, and calls `release` when it closed.
   */
  connect(ip: string | null): LiveConnection {
    const address = ip ?? 'unknown';
    if (!take(this.perAddress, address, this.limits.perAddress)) throw new TooManyConnectionsError('address', this.limits.perAddress);
    const connection = new LiveConnection(this, ip, () => {
      this.open.delete(connection);
      give(this.perAddress, address);
    });
    this.open.add(connection);
    return connection;
  }

  /** Counts the connection toward its credential's limit; false when the credential has its limit open. */
  holdCredential(credentialId: string): boolean {
    return take(this.perCredential, credentialId, this.limits.perCredential);
  }

  releaseCredential(credentialId: string): void {
    give(this.perCredential, credentialId);
  }

  get credentialLimit(): number {
    return this.limits.perCredential;
  }

  close(): void {
    this.unsubscribe();
  }
}

/** One live connection: its principal, kept current, and the way to end it. */
export class LiveConnection {
  principal: Principal | null = null;
  /** Why it was ended, once it was. */
  ended: AppError | null = null;
  private credential: string | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private checking = false;
  private checkAgain = false;
  private released = false;
  private endTransport: ((err: AppError) => void) | null = null;

  constructor(
    private readonly registry: LiveConnections,
    readonly ip: string | null,
    private readonly onRelease: () => void,
  ) {}

  /** How the transport closes the connection when its credential stops holding (at once if it already stopped). */
  onEnd(handler: (err: AppError) => void): void {
    this.endTransport = handler;
    if (this.ended) handler(this.ended);
  }

  /** Authenticates the connection's credential as a request's (401, 403), then holds it (429: see `hold`). */
  async authenticate(credential: string): Promise<Principal> {
    const principal = await this.registry.auth.authenticate(credential, this.ip);
    this.hold(credential, principal);
    return principal;
  }

  /** Ties the connection to a credential authenticated already, counting it toward that credential's limit (429 past it). */
  hold(credential: string, principal: Principal): void {
    if (this.released) throw new AuthenticationError('The connection closed while it was being authenticated.');
    if (!this.registry.holdCredential(principal.credentialId)) throw new TooManyConnectionsError('credential', this.registry.credentialLimit);
    this.credential = credential;
    this.principal = principal;
    this.armExpiry();
  }

  /**
   * Authenticates one operation on the connection as HTTP authenticates a request (the same cache,
   * the CIDR allow-list, a publishable key's quota). A credential that no longer holds (401, 403)
   * ends the connection; any error is thrown for the operation to answer.
   */
  async reauthenticate(): Promise<Principal> {
    if (this.ended) throw this.ended;
    try {
      return this.update(await this.registry.auth.authenticate(this.credential!, this.ip));
    } catch (err) {
      if (err instanceof AppError && (err.status === 401 || err.status === 403)) this.end(err as AppError);
      throw err;
    }
  }

  /** Verifies the credential fresh from the database (after a revocation broadcast); ends the connection if it no longer holds. */
  recheck(): void {
    if (this.ended || !this.credential) return;
    if (this.checking) {
      this.checkAgain = true; // a later revocation may have committed after the check in flight read
      return;
    }
    this.checking = true;
    void (async () => {
      do {
        this.checkAgain = false;
        try {
          const principal = await this.registry.auth.principalOf(this.credential!, { fresh: true });
          this.registry.auth.checkAddress(principal, this.ip);
          this.update(principal);
        } catch (err) {
          // Whatever the cause (a database outage too), a connection whose credential may be revoked does not stay open.
          if (!(err instanceof AppError)) this.registry.logger.warn({ err }, 'live connection: re-checking its credential failed; closing it');
          this.end(err instanceof AppError ? (err as AppError) : new AuthenticationError('The credential could not be verified again: reconnect.'));
        }
      } while (this.checkAgain && !this.ended);
      this.checking = false;
    })();
  }

  /** Gives back its places; idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.expiry) clearTimeout(this.expiry);
    if (this.principal) this.registry.releaseCredential(this.principal.credentialId);
    this.onRelease();
  }

  private update(principal: Principal): Principal {
    // The credential id never changes; a user's tier or a key's allow-list may have.
    this.principal = principal;
    return principal;
  }

  private end(err: AppError): void {
    if (this.ended) return;
    this.ended = err;
    if (this.expiry) clearTimeout(this.expiry);
    this.endTransport?.(err);
  }

  private armExpiry(): void {
    const at = this.principal?.expiresAt;
    if (at === undefined) return;
    const wait = at - Date.now();
    if (wait <= 0) {
      this.end(new AuthenticationError('The access token expired: get a new one and reconnect.'));
      return;
    }
    this.expiry = setTimeout(() => this.armExpiry(), Math.min(wait, MAX_TIMER_MS));
    this.expiry.unref();
  }
}

function take(counts: Map<string, number>, key: string, limit: number): boolean {
  const n = counts.get(key) ?? 0;
  if (n >= limit) return false;
  counts.set(key, n + 1);
  return true;
}

function give(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
