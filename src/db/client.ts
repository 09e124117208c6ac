/** The Prisma client over the pg driver adapter (no engine binary at run time). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client.js';

/**
 * How long a transaction waits for a pooled connection. Plain queries wait in the pool's queue
 * for as long as it takes; Prisma's default of 2 s made transactions alone fail (500) when the
 * pool was busy under load. Bounded, so a dead pool still answers with an error.
 */
const TRANSACTION_MAX_WAIT_MS = 30_000;

/** Opens a pooled client; `poolSize` bounds the connections this process holds. */
export function createDb(connectionString: string, poolSize: number): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, max: poolSize }), transactionOptions: { maxWait: TRANSACTION_MAX_WAIT_MS } });
}
