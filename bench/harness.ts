/** What every benchmark starts: PostgreSQL (a scratch database), a Temporal dev server, gateways on it. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { schema } from '../schema/index.js';
import { childEnv, loadConfig, type Config } from '../src/config.js';
import { applyMigrations } from '../src/db/migrate.js';
import { freePort } from '../src/embedded/postgres.js';
import { findTemporalCli, startTemporalDevServer } from '../src/embedded/temporal.js';
import { createLogger } from '../src/logger.js';
import { createServices, type Services } from '../src/runtime.js';
import { createServer, type GatewayServer } from '../src/server.js';
import { ensurePostgres } from '../test/setup/local-postgres.js';
import { median, type Stats } from './stats.js';

export const env = childEnv({});
export const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
export const SECONDS = Number(env.BENCH_SECONDS ?? 5);
export const log = (line: string) => console.log(line);

export interface BenchInfra {
  dbUrl: string;
  temporalAddress: string;
  close(): Promise<void>;
}

export async function startBenchInfra(): Promise<BenchInfra> {
  const postgres = await ensurePostgres(env.BENCH_DATABASE_URL ?? env.TEST_DATABASE_URL, log);
  const dbName = `codex_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = Object.assign(new URL(postgres.url), { pathname: `/${dbName}` }).toString();
  await applyMigrations(dbUrl);
  const base = loadConfig({});
  const temporal = await startTemporalDevServer({
    cli: await findTemporalCli({ cacheDir: base.cacheDir, explicitPath: base.TEMPORAL_CLI_PATH, log }),
    port: await freePort(),
    uiPort: null,
    dbFile: null,
    namespace: 'default',
  });
  return {
    dbUrl,
    temporalAddress: temporal.address,
    async close() {
      await temporal.stop();
      await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
      await admin.end();
      await postgres.stop();
    },
  };
}

export interface BenchGateway {
  url: string;
  config: Config;
  services: Services;
  server: GatewayServer;
  close(): Promise<void>;
}

/** A gateway (no worker) on the infrastructure, with extra configuration. */
export async function startGateway(infra: BenchInfra, extra: Record<string, string> = {}): Promise<BenchGateway> {
  const port = await freePort();
  const config = loadConfig({
    DATABASE_URL: infra.dbUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    TASK_QUEUE_PREFIX: 'bench',
    DATABASE_POOL_SIZE: '20',
    ...extra,
  });
  const services = await createServices(config, createLogger('warn'), { databaseUrl: infra.dbUrl, temporalAddress: infra.temporalAddress });
  const server = await createServer(services, schema);
  await server.app.listen({ host: '127.0.0.1', port });
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    services,
    server,
    async close() {
      await server.close();
      await services.close();
    },
  };
}

/** Rounds of one measurement merged: mean rate, median of the per-round percentiles. */
export function merge(parts: Stats[]): Stats {
  const count = parts.reduce((s, p) => s + p.count, 0);
  return { count, perSecond: parts.reduce((s, p) => s + p.perSecond, 0) / parts.length, p50: median(parts.map((p) => p.p50)), p99: median(parts.map((p) => p.p99)) };
}

/** POSTs a GraphQL operation; throws on errors so a broken benchmark cannot report a rate. */
export async function gql<T = unknown>(target: string, body: unknown, auth?: string): Promise<T> {
  const res = await fetch(`${target}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { data: T; errors?: unknown[] };
  if (json.errors) throw new Error(JSON.stringify(json.errors));
  return json.data;
}

/** Raises an account's limits out of the way, for benchmarks that measure something else. */
export async function unlimited(db: Services['db'], userId: string): Promise<void> {
  const big = 1_000_000_000;
  await db.user.update({ where: { id: userId }, data: { tier: 'enterprise' } });
  await db.accountLimits.upsert({
    where: { userId },
    create: { userId, requestsPerMonth: big, requestsPerHour: big, requestsPerMinute: big, concurrent: 100_000, parallelAgents: 100_000 },
    update: { requestsPerMonth: big, requestsPerHour: big, requestsPerMinute: big, concurrent: 100_000, parallelAgents: 100_000 },
  });
}
