/**
 * A real gateway for a test file: its own database cloned from the migrated template, its own
 * task queues on the shared Temporal dev server, an in-process worker and an HTTP server on a
 * free port. Nothing is mocked.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pg from 'pg';
import { inject } from 'vitest';
import { schema } from '../../schema/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/embedded/postgres.js';
import { connectWorkerTo, createServices, type Services } from '../../src/runtime.js';
import { createServer, type GatewayServer } from '../../src/server.js';
import { createUserWithKey } from '../../src/services/auth/api-keys.js';
import { hashPassword } from '../../src/services/auth/passwords.js';
import { startWorkers, type RunningWorkers } from '../../src/temporal/workers.js';
import { withDatabase } from '../setup/global.js';

export interface TestSystem {
  url: string;
  wsUrl: string;
  config: Config;
  services: Services;
  server: GatewayServer;
  /** Everything the gateway and worker logged, for tests that check what logs contain. */
  logs: string[];
  /** A user with a secret key; with `email` and `password`, one that can also sign in. */
  createUser(name?: string, account?: { email?: string; password?: string; tier?: string }): Promise<{ userId: string; apiKey: string }>;
  /** The database this system runs on (another system can share it: `database` option). */
  database: { url: string; name: string };
  /** Starts (another) in-process worker on this system's queues (WORKER_QUEUES, or the ones given). */
  startWorker(queues?: Array<'cpu' | 'gpu'>): Promise<RunningWorkers & { close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Creates a fresh database from the template and returns its URL. */
export async function createTestDatabase(): Promise<{ url: string; name: string }> {
  const adminUrl = inject('databaseUrl');
  const name = `${inject('dbPrefix')}f${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE ${inject('templateDb')}`);
        break;
      } catch (err) {
        if (attempt >= 20) throw err; // another file is cloning the template at this instant
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  return { url: withDatabase(adminUrl, name), name };
}

/** Drops a database made by `createTestDatabase` (for tests that manage one themselves). */
export async function dropDatabase(name: string) {
  const admin = new pg.Client({ connectionString: inject('databaseUrl') });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}

export interface TestSystemOptions {
  env?: Record<string, string>;
  /** Run an in-process worker (default true). */
  worker?: boolean;
  /** Share another system's database (a second gateway replica); it is dropped by its owner only. */
  database?: { url: string; name: string };
}

/** Starts a gateway (and worker) against real PostgreSQL and Temporal. */
export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const database = options.database ?? (await createTestDatabase());
  const ownsDatabase = !options.database;
  const prefix = `t${randomBytes(5).toString('hex')}`;
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    LOG_LEVEL: 'info',
    DATABASE_URL: database.url,
    DATABASE_POOL_SIZE: '5',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TASK_QUEUE_PREFIX: prefix,
    ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '2',
    SHUTDOWN_TIMEOUT_SECONDS: '2',
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, sink);
  const services = await createServices(config, logger, { databaseUrl: database.url, temporalAddress: config.TEMPORAL_ADDRESS! });
  const workers: Array<{ close(): Promise<void> }> = [];
  const startWorker = async (queues?: Array<'cpu' | 'gpu'>) => {
    const connection = await connectWorkerTo(config, config.TEMPORAL_ADDRESS!);
    const running = await startWorkers(services, connection, config, queues);
    const handle = {
      ...running,
      async close() {
        await running.shutdown();
        await connection.close();
      },
    };
    workers.push(handle);
    return handle;
  };
  if (options.worker !== false) await startWorker();
  const server = await createServer(services, schema);
  await server.app.listen({ host: '127.0.0.1', port });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    config,
    services,
    server,
    logs,
    startWorker,
    database,
    async createUser(name = 'Test user', account = {}) {
      const created = await createUserWithKey(services.db, { name, tier: account.tier ?? 'team', email: account.email });
      if (account.password) await services.db.user.update({ where: { id: created.userId }, data: { passwordHash: await hashPassword(account.password) } });
      return { userId: created.userId, apiKey: created.secret };
    },
    async close() {
      await server.close();
      for (const w of workers) await w.close().catch(() => {});
      await services.close();
      if (ownsDatabase) await dropDatabase(database.name);
    },
  };
}
