/**
 * Assembles a running system from configuration: the embedded PostgreSQL and Temporal dev server
 * when no external ones are configured, migrations, the service dependencies, and the worker.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDb, dbTimeouts } from './db/client.js';
import { applyMigrationsWaitingForLock } from './db/migrate.js';
import { describePostgresTarget, isPermanentPostgresError, probePostgres } from './db/probe.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded/postgres.js';
import { findTemporalCli, startTemporalDevServer } from './embedded/temporal.js';
import { MemoryEventBus, PostgresEventBus, type EventBus } from './events/event-bus.js';
import { createLogger, type Logger } from './logger.js';
import { listenForMetrics, metrics, watchDatabase } from './metrics.js';
import type { ServiceDeps } from './services/deps.js';
import { retryStartup, StartupError, type StartupRetryOptions } from './startup-retry.js';
import { TemporalAvailability } from './temporal/availability.js';
import { connectClient, connectWorker, isPermanentTemporalError } from './temporal/connection.js';
import { startWorkerHeartbeat, WORKER_HEARTBEAT_FILE } from './temporal/worker-heartbeat.js';
import { installTemporalRuntime, startWorkers } from './temporal/workers.js';
import type { WorkerReadyMessage } from './temporal/worker-child.js';
import { Authenticator } from './services/auth/authenticate.js';
import { SigningKeys } from './services/auth/signing-keys.js';
import { LedgerBillingProvider } from './services/billing/provider.js';
import { planChanged, settlePaidPlan } from './services/billing/plans.js';
import { Limiter } from './services/limits/limiter.js';
import { MemoryLimitStore, RedisLimitStore, ResilientLimitStore, type LimitStore } from './services/limits/store.js';
import { UsageRecorder } from './services/limits/usage.js';
import { startTracing } from './tracing.js';

export { StartupError };

export interface Infrastructure {
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  /** Stops what this process started (embedded servers); external services are left alone. */
  stop(): Promise<void>;
}

/** Where the embedded default keeps its database: the cluster, its password, and an earlier version's PGlite folder. */
export function embeddedDatabasePaths(config: Config): { clusterDir: string; passwordFile: string; pgliteDir: string } {
  const clusterDir = join(config.dataDir, 'postgres');
  return { clusterDir, passwordFile: `${clusterDir}.password`, pgliteDir: join(config.dataDir, 'pglite') };
}

/**
 * The embedded default's PostgreSQL server (data in <DATA_DIR>/postgres, database `codex`). Refuses
 * to start over a PGlite folder left by an earlier version until it has been imported.
 */
export async function startEmbeddedDatabase(config: Config, log: (line: string) => void): Promise<EmbeddedPostgres> {
  const { passwordFile, pgliteDir } = embeddedDatabasePaths(config);
  if (existsSync(pgliteDir) && !existsSync(passwordFile)) {
    throw new StartupError(
      `${pgliteDir} holds the database of an earlier version (PGlite). Run \`npm run db:import-pglite\` once to copy it into the embedded PostgreSQL server, or move the folder away to start with an empty database.`,
    );
  }
  return startEmbeddedCluster(config, log);
}

/** The same server without the PGlite check: only `npm run db:import-pglite` starts it this way. */
export function startEmbeddedCluster(config: Config, log: (line: string) => void): Promise<EmbeddedPostgres> {
  return startEmbeddedPostgres({ dataDir: embeddedDatabasePaths(config).clusterDir, database: 'codex', port: config.EMBEDDED_POSTGRES_PORT, log });
}

/** Starts (or points at) PostgreSQL and Temporal, and applies pending migrations. */
export async function startInfrastructure(config: Config, logger: Logger): Promise<Infrastructure> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => logger.warn({ err }, 'error while stopping'));
  };
  try {
    if (config.DATABASE_URL) await waitForPostgres(config, logger, config.DATABASE_URL);
    await mkdir(config.dataDir, { recursive: true });
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      const pg = await startEmbeddedDatabase(config, (line) => logger.info(line));
      stops.push(pg.stop);
      databaseUrl = pg.url;
      // Operator commands (npm run admin) reach the running embedded database through this file.
      const urlFile = join(config.dataDir, 'postgres.url');
      await writeFile(urlFile, pg.url, { mode: 0o600 });
      stops.push(() => rm(urlFile, { force: true }));
      logger.info({ clusterDir: pg.clusterDir, port: new URL(pg.url).port }, 'embedded PostgreSQL started');
    }
    const applied = await applyMigrationsWaitingForLock(databaseUrl, config.STARTUP_RETRY_SECONDS, (line) => logger.warn(line));
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');

    let temporalAddress = config.TEMPORAL_ADDRESS;
    let temporalUiUrl: string | null = null;
    if (!temporalAddress) {
      const cli = await findTemporalCli({ explicitPath: config.TEMPORAL_CLI_PATH, cacheDir: config.cacheDir, log: (line) => logger.info(line) });
      const server = await startTemporalDevServer({
        cli,
        port: config.EMBEDDED_TEMPORAL_PORT,
        uiPort: config.EMBEDDED_TEMPORAL_UI_PORT || null,
        dbFile: join(config.dataDir, 'temporal.db'),
        namespace: config.TEMPORAL_NAMESPACE,
        pidFile: join(config.dataDir, 'temporal.pid'),
      });
      stops.push(server.stop);
      temporalAddress = server.address;
      temporalUiUrl = server.uiUrl;
      logger.info({ address: server.address }, 'embedded Temporal dev server started');
    }
    return { databaseUrl, temporalAddress, temporalUiUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface Services extends ServiceDeps {
  close(): Promise<void>;
}

/** Opens the database, the event bus and the Temporal client. */
export async function createServices(config: Config, logger: Logger, infra: Pick<Infrastructure, 'databaseUrl' | 'temporalAddress'>): Promise<Services> {
  installTemporalRuntime();
  // Before the Temporal client: it gets the tracing interceptor only when tracing is installed.
  const tracing = startTracing(config);
  const db = createDb(infra.databaseUrl, config.DATABASE_POOL_SIZE, dbTimeouts(config));
  const bus: EventBus = config.eventBus === 'postgres' ? await PostgresEventBus.connect(infra.databaseUrl, logger, dbTimeouts(config)) : new MemoryEventBus();
  const temporalAvailability = new TemporalAvailability(logger, { rpcTimeoutMs: config.TEMPORAL_RPC_TIMEOUT_MS, probeIntervalMs: 1000 });
  const temporal = await retryStartup(() => connectClient(config, infra.temporalAddress, temporalAvailability), temporalRetry(config, logger, infra.temporalAddress));
  const signingKeys = new SigningKeys(db, config.JWT_ALGORITHM);
  await signingKeys.init();
  const auth = new Authenticator(db, bus, signingKeys, config, logger);
  const limitStore: LimitStore = config.REDIS_URL
    ? new ResilientLimitStore(await RedisLimitStore.connect(config.REDIS_URL), config.LIMITS_ON_REDIS_FAILURE, logger)
    : new MemoryLimitStore();
  const usage = new UsageRecorder(db, logger);
  const billing = new LedgerBillingProvider(db, { selfService: config.SELF_SERVICE_PLANS });
  const limiter: Limiter = new Limiter(db, limitStore, usage, bus, {
    enabled: config.RATE_LIMITS,
    upgradeUrl: config.UPGRADE_URL,
    anonymous: { perMinute: config.ANON_RATE_LIMIT_PER_MINUTE, maxCost: config.ANON_MAX_COST },
    shape: { maxAliases: config.GRAPHQL_MAX_ALIASES, maxIds: config.GRAPHQL_MAX_NODE_IDS },
    paidPlanOf: (userId) =>
      settlePaidPlan(db, billing, userId, new Date(), (id) => planChanged({ limiter, auth }, id)),
  });
  return {
    db,
    bus,
    temporal,
    temporalAvailability,
    config,
    logger,
    signingKeys,
    auth,
    limiter,
    usage,
    billing,
    async close() {
      auth.close();
      limiter.close();
      await usage.close();
      await limitStore.close();
      await bus.close();
      temporalAvailability.close();
      await temporal.connection.close();
      await db.$disconnect();
      await tracing?.shutdown();
    },
  };
}

/** Connects a worker to Temporal (retrying an external one for STARTUP_RETRY_SECONDS). */
export function connectWorkerTo(config: Config, address: string, logger: Logger = createLogger(config.LOG_LEVEL, undefined, config.LOG_FORMAT)): Promise<NativeConnection> {
  installTemporalRuntime();
  return retryStartup(() => connectWorker(config, address), temporalRetry(config, logger, address));
}

/** Waits until an external PostgreSQL accepts a connection, for STARTUP_RETRY_SECONDS at most. */
export function waitForPostgres(config: Config, logger: Logger, databaseUrl: string): Promise<void> {
  return retryStartup(() => probePostgres(databaseUrl), {
    what: `PostgreSQL at ${describePostgresTarget(databaseUrl)}`,
    totalSeconds: config.STARTUP_RETRY_SECONDS,
    log: (line) => logger.warn(line),
    isPermanent: isPermanentPostgresError,
  });
}

/** An external Temporal may still be starting: retry it; the embedded one is already up. */
function temporalRetry(config: Config, logger: Logger, address: string): StartupRetryOptions {
  return {
    what: `Temporal at ${address}`,
    totalSeconds: config.TEMPORAL_ADDRESS ? config.STARTUP_RETRY_SECONDS : 0,
    log: (line) => logger.warn(line),
    isPermanent: isPermanentTemporalError,
  };
}

/** Ends the process with a StartupError's one line (its retries are spent); rethrows any other error. */
export function exitOnStartupError(err: unknown): never {
  if (err instanceof StartupError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

/** Loads config or exits with its one-line message. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

/** One step of a process's shutdown, run in order; its name is logged when it ends or overstays. */
export type ShutdownStep = readonly [name: string, run: () => unknown];

/**
 * The process's one shutdown path: on the first SIGINT or SIGTERM, runs `steps` in order and exits
 * 0 (1 if a step failed). `deadlineMs` is a hard limit that holds even when a dependency hangs: past
 * it the process exits 1, naming the step it was stuck in (embedded servers are stopped by their exit
 * hooks). A second signal at least 3 s after the first exits at once; an echo of the first (Ctrl-C
 * reaches every process of the group, and wrappers relay it) is ignored.
 */
export function onShutdownSignal(logger: Logger, steps: readonly ShutdownStep[], deadlineMs: number): void {
  let firstAt = 0;
  let current = '';
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt) {
      if (Date.now() - firstAt < 3000) return;
      logger.warn({ signal, step: current }, 'second signal: exiting now');
      process.exit(1);
    }
    firstAt = Date.now();
    logger.info({ signal, deadlineSeconds: deadlineMs / 1000 }, 'shutting down');
    setTimeout(() => {
      logger.error({ deadlineSeconds: deadlineMs / 1000, step: current }, 'shutdown did not finish before its deadline (SHUTDOWN_TIMEOUT_SECONDS); exiting');
      process.exit(1);
    }, deadlineMs).unref();
    const run = async () => {
      for (const [name, step] of steps) {
        current = name;
        const started = Date.now();
        await step();
        logger.debug({ step: name, ms: Date.now() - started }, 'shutdown step done');
      }
    };
    run().then(
      () => {
        logger.info({ ms: Date.now() - firstAt }, 'shut down cleanly');
        process.exit(0);
      },
      (err) => {
        logger.error({ err, step: current }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** `npm run worker`: a worker process alone, for scaling out (needs DATABASE_URL and TEMPORAL_ADDRESS). */
export async function runWorkerProcess(queuesArg?: string): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, undefined, config.LOG_FORMAT).child({ component: 'worker' });
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    console.error('A separate worker needs DATABASE_URL and TEMPORAL_ADDRESS (the embedded defaults live inside `npm start`).');
    process.exit(1);
  }
  let queues = config.WORKER_QUEUES;
  if (queuesArg) {
    try {
      queues = loadConfig({ WORKER_QUEUES: queuesArg }).WORKER_QUEUES;
    } catch (err) {
      console.error(`--queues: ${(err as Error).message.replace(/^.*WORKER_QUEUES /, '')}`);
      process.exit(1);
    }
  }
  if (!queues.includes('cpu') && !config.MODEL_BASE_URL) {
    // Without a model the gpu queue is not polled: a worker for it alone would do nothing.
    console.error('A gpu worker needs MODEL_BASE_URL: the OpenAI-compatible API its model agents call (e.g. http://vllm:8000/v1).');
    process.exit(1);
  }
  // The SDK's Prometheus endpoint, and ours: activities (tasks, model calls, webhook deliveries) are counted here.
  installTemporalRuntime(config.TEMPORAL_METRICS_LISTEN);
  const metricsServer = config.workerMetricsListen ? await listenForMetrics(metrics.registry, config.workerMetricsListen).catch(exitOnStartupError) : null;
  if (metricsServer) logger.info({ listen: config.WORKER_METRICS_LISTEN }, 'worker metrics served at /metrics');
  await waitForPostgres(config, logger, config.DATABASE_URL).catch(exitOnStartupError);
  // A worker started with the gateways on a new database must not query tables that are not there yet.
  const applied = await applyMigrationsWaitingForLock(config.DATABASE_URL, config.STARTUP_RETRY_SECONDS, (line) => logger.warn(line)).catch(exitOnStartupError);
  if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  const services = await createServices(config, logger, { databaseUrl: config.DATABASE_URL, temporalAddress: config.TEMPORAL_ADDRESS }).catch(exitOnStartupError);
  const connection = await connectWorkerTo(config, config.TEMPORAL_ADDRESS, logger).catch(exitOnStartupError);
  const workers = await startWorkers(services, connection, config, queues);
  watchDatabase(services.db);
  await mkdir(config.dataDir, { recursive: true });
  const heartbeat = startWorkerHeartbeat(join(config.dataDir, WORKER_HEARTBEAT_FILE), () => workers.healthy(), logger);
  logger.info({ queues: workers.queues }, 'worker polling');
  if (process.send) {
    // Started by `npm start` (src/temporal/worker-child.ts): say so once polling, and stop with the gateway.
    process.send({ type: 'worker-ready', queues: workers.queues } satisfies WorkerReadyMessage);
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  onShutdownSignal(
    logger,
    [
      ['heartbeat file', () => heartbeat.stop()],
      ['worker', () => workers.shutdown()],
      ['Temporal connection', () => connection.close()],
      ['services', () => services.close()],
      ['metrics listener', () => metricsServer && new Promise((resolve) => metricsServer.close(resolve))],
    ],
    config.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  );
}
