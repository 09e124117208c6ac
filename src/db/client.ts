/** The Prisma client over the pg driver adapter (no engine binary at run time). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client.js';

/** Opens a pooled client; `poolSize` bounds the connections this process holds. */
export function createDb(connectionString: string, poolSize: number): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, max: poolSize }) });
}
