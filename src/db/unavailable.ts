/**
 * Recognises "the database cannot answer right now" (down, restarting, frozen past the timeouts,
 * out of connections) in whatever wrapping it arrives (Prisma, its pg driver adapter, pg itself), so
 * callers get a fast 503 `service_unavailable` with Retry-After instead of an internal error.
 */
import { ServiceUnavailableError } from '../errors.js';

/** Driver adapter error kinds that mean the server is unreachable or overloaded, not that the query is wrong. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionAlreadyClosed']);
/** Prisma codes for the same: can't reach, timed out, connection pool timeout, server closed the connection. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
/**
 * PostgreSQL SQLSTATEs: statement/lock timeouts (57014, 55P03), shutdown and crash (57P01-57P03),
 * too many connections (53300), connection exceptions (class 08), idle-in-transaction timeout (25P03).
 */
const SQLSTATES = /^(57014|55P03|57P0[123]|53300|08...|25P03)$/;
/**
 * pg's own messages for a connection that died or timed out. (Generic socket errors such as
 * ECONNREFUSED are left out: a model or webhook call fails with those too, and the database's own
 * refusals arrive as the Prisma and driver codes above.)
 */
const MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i;

function matches(err: Record<string, unknown>): boolean {
  const cause = err.cause as Record<string, unknown> | undefined;
  if (typeof err.code === 'string' && (PRISMA_CODES.has(err.code) || SQLSTATES.test(err.code))) return true;
  if (typeof err.kind === 'string' && ADAPTER_KINDS.has(err.kind)) return true;
  if (cause && typeof cause.kind === 'string') {
    if (ADAPTER_KINDS.has(cause.kind)) return true;
    if (cause.kind === 'postgres' && typeof cause.code === 'string' && SQLSTATES.test(cause.code)) return true;
  }
  return typeof err.message === 'string' && MESSAGES.test(err.message);
}

/** The 503 to answer when `err` (or anything it wraps) says the database is unavailable; null otherwise. */
export function databaseUnavailable(err: unknown): ServiceUnavailableError | null {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const e = current as Record<string, unknown>;
    if (matches(e)) return new ServiceUnavailableError('The database is not reachable right now. Retry shortly.');
    const meta = e.meta as Record<string, unknown> | undefined;
    queue.push(e.cause, e.originalError, meta?.driverAdapterError, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : []));
  }
  return null;
}
