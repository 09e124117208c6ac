/** The Prisma client over the pg driver adapter (no engine binary at run time). */
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { watchPool } from '../metrics.js';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client.js';

/** How long a connection, a statement and a lock wait may take before the caller gets an error (then a 503). */
export interface DbTimeouts {
  connectMs: number;
  statementMs: number;
  lockMs: number;
}

export const DEFAULT_DB_TIMEOUTS: DbTimeouts = { connectMs: 5000, statementMs: 15_000, lockMs: 10_000 };

/** The settings of config that bound waits on the database. */
export function dbTimeouts(config: { DATABASE_CONNECT_TIMEOUT_MS: number; DATABASE_STATEMENT_TIMEOUT_MS: number; DATABASE_LOCK_TIMEOUT_MS: number }): DbTimeouts {
  return { connectMs: config.DATABASE_CONNECT_TIMEOUT_MS, statementMs: config.DATABASE_STATEMENT_TIMEOUT_MS, lockMs: config.DATABASE_LOCK_TIMEOUT_MS };
}

/**
 * Options for every pg pool of the process. The server enforces the statement and lock timeouts;
 * the client gives up a little later on its own (`query_timeout`), which is what ends a wait on a
 * server that is frozen and cannot enforce anything; `connectionTimeoutMillis` also bounds the wait
 * for a free connection from the pool.
 */
export function poolOptions(connectionString: string, max: number, t: DbTimeouts = DEFAULT_DB_TIMEOUTS): pg.PoolConfig {
  return {
    connectionString,
    max,
    connectionTimeoutMillis: t.connectMs,
    statement_timeout: t.statementMs,
    lock_timeout: t.lockMs,
    idle_in_transaction_session_timeout: t.statementMs * 2,
    query_timeout: t.statementMs + 2000,
  };
}

/**
 * Opens a pooled client; `poolSize` bounds the connections this process holds. A transaction waits
 * for a pooled connection as long as a plain query does (Prisma's own default of 2 s made
 * transactions alone fail when the pool was busy under load).
 */
export function createDb(connectionString: string, poolSize: number, timeouts: DbTimeouts = DEFAULT_DB_TIMEOUTS): Db {
  // The pool is ours so that its connections are reported on /metrics; $disconnect ends it.
  const pool = new pg.Pool(poolOptions(connectionString, poolSize, timeouts));
  watchPool(pool, 'main');
  const db = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    transactionOptions: { maxWait: timeouts.connectMs + 1000 },
  });
  pools.set(db, pool);
  return db;
}

const pools = new WeakMap<object, pg.Pool>();

/**
 * The pg pool under a client made by `createDb`, for the few hot reads that run one statement
 * straight on it instead of through Prisma's client (its query plan and result mapping cost more
 * than the statement); undefined for any other client (a transaction's), which then reads
 * through Prisma.
 */
export function poolOf(db: object): pg.Pool | undefined {
  return pools.get(db);
}

/**
 * The rows of one statement ($1, $2, … placeholders): straight on the pool when `db` has one
 * (`poolRows`), else through the client it is (a transaction's), so the same code serves both.
 */
export function rawRows<T extends pg.QueryResultRow>(db: { $queryRawUnsafe<R>(sql: string, ...params: unknown[]): PromiseLike<R> }, sql: string, params: unknown[]): Promise<T[]> {
  const pool = poolOf(db);
  return pool ? poolRows<T>(pool, sql, params) : Promise.resolve(db.$queryRawUnsafe<T[]>(sql, ...params));
}

/** Socket errors as Prisma's pg driver adapter names them (what `databaseUnavailable` recognises as the database being down). */
const SOCKET_ERROR_KINDS: Record<string, string> = { ENOTFOUND: 'DatabaseNotReachable', ECONNREFUSED: 'DatabaseNotReachable', ECONNRESET: 'ConnectionClosed', ETIMEDOUT: 'SocketTimeout' };

/**
 * The rows of one statement run straight on `pool`, failing as a statement through Prisma's client
 * would: a socket error (the server is down or went away) carries the adapter's error kind, so it
 * answers 503 like any other read; PostgreSQL's own errors keep their SQLSTATE.
 */
export async function poolRows<T extends pg.QueryResultRow>(pool: pg.Pool, sql: string, params: unknown[]): Promise<T[]> {
  try {
    return (await pool.query<T>(sql, params)).rows;
  } catch (err) {
    const { code, syscall } = err as { code?: unknown; syscall?: unknown };
    const kind = typeof code === 'string' && typeof syscall === 'string' ? SOCKET_ERROR_KINDS[code] : undefined;
    throw kind ? Object.assign(new Error((err as Error).message, { cause: err }), { kind }) : err;
  }
}
