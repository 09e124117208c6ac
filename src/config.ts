/**
 * The one place that reads the environment. Every variable has a working default, is checked
 * once at start-up, and a bad value stops start-up with one line that names the variable.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535);
const positiveInt = z.coerce.number({ message: 'must be a whole number' }).int().positive();
/** An optional host:port setting (port 0: any free port). */
const hostPortSetting = (example: string) =>
  z
    .string()
    .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):\d{1,5}$/, `must be host:port, e.g. ${example}`)
    .optional();
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** Every environment variable the gateway and worker read, with its default. */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: port.default(8080),
  PUBLIC_URL: url(['http:', 'https:']).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** json: one JSON object per line (for collectors); pretty: coloured lines for people (pino-pretty). */
  LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be json or pretty' }).default('json'),
  DATA_DIR: z.string().min(1).default('.data'),
  CACHE_DIR: z.string().min(1).optional(),

  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_POOL_SIZE: positiveInt.max(200).default(10),
  /** A stuck or unreachable database turns into a fast 503 instead of a request that waits. */
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.max(600_000).default(5000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.max(3_600_000).default(15_000),
  DATABASE_LOCK_TIMEOUT_MS: positiveInt.max(3_600_000).default(10_000),
  EMBEDDED_POSTGRES_PORT: port.default(0),

  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d+$/, 'must be host:port, e.g. temporal:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  /** Longest wait for one call to Temporal (start, signal, cancel, describe) before it answers 503. */
  TEMPORAL_RPC_TIMEOUT_MS: positiveInt.max(600_000).default(5000),
  EMBEDDED_TEMPORAL_PORT: port.default(7233),
  EMBEDDED_TEMPORAL_UI_PORT: port.default(8233),
  /** How long a gateway or worker keeps retrying its first connection to an external PostgreSQL or Temporal. */
  STARTUP_RETRY_SECONDS: z.coerce.number({ message: 'must be a number of seconds' }).int().min(0).max(3600).default(120),

  TASK_QUEUE_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be lower-case letters, digits and dashes')
    .default('codex'),
  RUN_WORKER: bool.default(true),
  WORKER_QUEUES: z
    .string()
    .transform((v) => v.split(',').map((q) => q.trim()).filter(Boolean))
    .pipe(z.array(z.enum(['cpu', 'gpu'], { message: 'must list cpu and/or gpu' })).min(1))
    .default(['cpu', 'gpu']),
  WORKER_MAX_CONCURRENT_ACTIVITIES: positiveInt.max(1000).default(20),
  /**
   * Model calls one gpu worker makes at once. Unset, it follows MODEL_MAX_CONCURRENCY (one gpu
   * worker); with several, set it to MODEL_MAX_CONCURRENCY divided by their number.
   */
  WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: positiveInt.max(1000).optional(),
  EVENT_BUS: z.enum(['auto', 'memory', 'postgres']).default('auto'),

  TASK_TIMEOUT_SECONDS: positiveInt.default(600),
  TASK_MAX_TIMEOUT_SECONDS: positiveInt.default(3600),
  /** The most tasks one bulk operation (cancel or rerun by filter) may cover. */
  BULK_MAX_TASKS: positiveInt.default(10_000),
  ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: positiveInt.max(600).default(10),
  AGENT_STEP_DELAY_MS: z.coerce.number({ message: 'must be a number' }).int().min(0).max(60_000).default(0),

  CODEX_BOOTSTRAP_API_KEY: z
    .string()
    .regex(/^cdx_sk_[A-Za-z0-9_-]{20,}$/, 'must look like cdx_sk_ followed by at least 20 letters or digits')
    .optional(),
  AUTH_CACHE_SECONDS: z.coerce.number({ message: 'must be a number' }).int().min(0).max(300).default(5),
  ALLOW_SIGNUP: bool.default(false),
  JWT_ISSUER: url(['http:', 'https:']).optional(),
  /** The algorithm new signing keys use; a key of the other one keeps verifying until it is retired. */
  JWT_ALGORITHM: z.enum(['ES256', 'RS256'], { message: 'must be ES256 or RS256' }).default('ES256'),
  /** The `azp` (authorized party) of tokens from e-mail and password sign-in; client-credentials tokens name their client. */
  JWT_AUTHORIZED_PARTY: z.string().trim().min(1).max(200).default('codex'),
  ACCESS_TOKEN_TTL_SECONDS: positiveInt.max(7 * 86400).default(86400),
  SESSION_TTL_DAYS: positiveInt.max(365).default(30),
  /** How long a team invitation can be accepted. */
  INVITATION_TTL_DAYS: positiveInt.max(90).default(7),
  OAUTH_TOKEN_TTL_SECONDS: positiveInt.max(86400).default(3600),
  OIDC_ISSUER: url(['http:', 'https:']).optional(),
  OIDC_AUDIENCE: z.string().min(1).optional(),
  OIDC_JWKS_URL: url(['http:', 'https:']).optional(),
  OIDC_JWKS_COOLDOWN_SECONDS: z.coerce.number({ message: 'must be a number' }).int().min(0).max(3600).default(30),
  PUBLISHABLE_KEY_DAILY_QUOTA: positiveInt.default(1000),
  TRUST_PROXY: z.string().min(1).optional(),
  /** With it, GET /metrics on the main port answers callers that send it as a bearer token; without it, 404 there. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (openssl rand -hex 32)').optional(),
  /** host:port of a separate listener that serves /metrics only, without a token (e.g. 127.0.0.1:9464). */
  METRICS_LISTEN: hostPortSetting('127.0.0.1:9464'),
  /** The same listener in a worker process (`npm run worker`, or the one `npm start` runs). */
  WORKER_METRICS_LISTEN: hostPortSetting('127.0.0.1:9465'),
  /** host:port where the Temporal SDK's own Prometheus metrics are served (worker slots, polls, activity latencies). */
  TEMPORAL_METRICS_LISTEN: hostPortSetting('127.0.0.1:9466'),
  MODEL_BASE_URL: url(['http:', 'https:']).optional(),
  MODEL_API_KEY: z.string().min(1).optional(),
  MODEL_NAME: z.string().min(1).default('gpt-4o-mini'),
  MODEL_PROMPT_PRICE_PER_MTOK: z.coerce.number({ message: 'must be a number' }).min(0).default(0),
  MODEL_COMPLETION_PRICE_PER_MTOK: z.coerce.number({ message: 'must be a number' }).min(0).default(0),
  MODEL_TIMEOUT_SECONDS: positiveInt.max(3600).default(300),
  /**
   * Requests the model server serves well at once: model agents run in parallel up to it. The
   * default suits a hosted API; a single self-hosted GPU serves a few (vLLM: its max_num_seqs).
   */
  MODEL_MAX_CONCURRENCY: positiveInt.max(1000).default(64),
  GENERATION_RETENTION_DAYS: positiveInt.max(3650).default(90),
  GENERATION_SYNC_WAIT_SECONDS: positiveInt.max(600).default(60),
  RATE_LIMITS: bool.default(true),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /** When Redis cannot be reached: `open` limits in each process's memory meanwhile; `closed` answers 503. */
  LIMITS_ON_REDIS_FAILURE: z.enum(['open', 'closed']).default('open'),
  /** Per client address, for callers without a credential: what their operations may cost per minute (in the limiter's store). */
  ANON_RATE_LIMIT_PER_MINUTE: positiveInt.max(1_000_000).default(60),
  /** The most one operation without a credential may cost (a share link's visualization, sign-in, introspection). */
  ANON_MAX_COST: positiveInt.max(100_000).default(20),
  /** Fields selected under an alias in one GraphQL operation, for every caller. */
  GRAPHQL_MAX_ALIASES: positiveInt.max(10_000).default(50),
  /** Ids in one `nodes(ids:)` list. */
  GRAPHQL_MAX_NODE_IDS: positiveInt.max(10_000).default(100),
  UPGRADE_URL: url(['http:', 'https:']).default('https://codex.ai/pricing'),
  /** Base of the error documentation links (`{code}` in it is replaced by the code, else `#<code>` is appended); default this gateway's /docs/errors. */
  DOCS_URL: url(['http:', 'https:']).optional(),
  /** Accounts may start and raise paid plans themselves; the built-in billing collects no payment, so off by default. */
  SELF_SERVICE_PLANS: bool.default(false),
  BODY_LIMIT_BYTES: positiveInt.default(10 * 1024 * 1024),
  /** The largest WebSocket message read (graphql-ws, the task stream); a larger one closes the socket with 1009 unread. */
  WS_MAX_PAYLOAD_BYTES: positiveInt.max(100 * 1024 * 1024).default(1024 * 1024),
  /** Operations one graphql-ws socket may run at once. */
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: positiveInt.max(10_000).default(100),
  /** Open WebSockets and event streams per credential, and per client address, in each gateway process. */
  WS_MAX_SOCKETS_PER_CREDENTIAL: positiveInt.max(100_000).default(50),
  WS_MAX_SOCKETS_PER_ADDRESS: positiveInt.max(100_000).default(100),
  SHUTDOWN_TIMEOUT_SECONDS: positiveInt.default(30),
  PROJECT_SNAPSHOT_MAX_BYTES: positiveInt.default(5 * 1024 * 1024),
  PROJECT_FILE_MAX_BYTES: positiveInt.default(512 * 1024),
  PROJECT_MAX_FILES: positiveInt.max(100_000).default(5000),
  REPOSITORY_ROOT: z.string().min(1).optional(),
  REPOSITORY_ALLOW_PRIVATE_HOSTS: bool.default(false),
  REPOSITORY_CLONE_TIMEOUT_SECONDS: positiveInt.max(3600).default(120),
  /** The most bytes of text an agent task reads from a cloned repository (files past it are skipped). */
  AGENT_REPOSITORY_MAX_BYTES: positiveInt.default(64 * 1024 * 1024),
  REVIEW_MAX_FILES: positiveInt.max(100_000).default(5000),
  REVIEW_MAX_INPUT_BYTES: positiveInt.default(8 * 1024 * 1024),
  REVIEW_WAIT_SECONDS: z.coerce.number({ message: 'must be a number' }).int().min(0).max(300).default(30),
  REVIEW_FILE_DELAY_MS: z.coerce.number({ message: 'must be a number' }).int().min(0).max(60_000).default(0),

  WEBHOOK_SECRET_KEY: z.string().min(16, 'must be at least 16 characters (32 random bytes in base64 recommended)').optional(),
  WEBHOOK_ALLOW_HTTP: bool.default(false),
  WEBHOOK_ALLOWED_PRIVATE_CIDRS: z
    .string()
    .transform((v) => v.split(',').map((c) => c.trim()).filter(Boolean))
    .refine((cidrs) => cidrs.every((c) => ipaddr.isValidCIDR(c)), 'must be CIDR ranges separated by commas, e.g. 127.0.0.0/8,::1/128')
    .default([]),
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .transform((v) => v.split(',').map((s) => Number(s.trim())))
    .pipe(z.array(z.number().finite().min(0).max(7 * 86400), { message: 'must be seconds separated by commas' }).min(1).max(10))
    .default([60, 300, 1500, 7200, 21600]),
  WEBHOOK_TIMEOUT_MS: positiveInt.max(60_000).default(10_000),
  WEBHOOK_RESPONSE_MAX_BYTES: positiveInt.max(10 * 1024 * 1024).default(64 * 1024),
  WEBHOOK_RESPONSE_STORE_BYTES: positiveInt.max(64 * 1024).default(4096),
  WEBHOOK_SECRET_ROLLOVER_HOURS: z.coerce.number({ message: 'must be a number' }).min(0).max(24 * 30).default(24),
  WEBHOOK_HISTORY_DAYS: positiveInt.max(365).default(30),
  WEBHOOK_SWEEP_SECONDS: positiveInt.max(3600).default(15),
  /** First attempts a dispatcher sends itself at once; more wait in its queue (see dispatcher.ts). */
  WEBHOOK_DIRECT_CONCURRENCY: positiveInt.max(1000).default(64),
  /** A claimed delivery with no attempt outcome after this long is taken over by the sweep (its claimer died). */
  WEBHOOK_CLAIM_LEASE_SECONDS: positiveInt.max(3600).default(60),
  /** How often each cpu worker compares unfinished rows with their workflows in Temporal. */
  RECONCILE_INTERVAL_SECONDS: positiveInt.max(3600).default(15),
  /** How long a row may wait for its workflow's start before the reconciler counts the start as lost. */
  RECONCILE_GRACE_SECONDS: positiveInt.max(3600).default(30),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  SMTP_FROM: z.string().min(3).default('Codex <no-reply@codex.local>'),
  REPOSITORY_SSH_KEY_PATH: z.string().min(1).optional(),
  REPOSITORY_SSH_KNOWN_HOSTS: z.string().min(1).optional(),
  VISUALIZATION_WORK_DIR: z.string().min(1).optional(),
  VISUALIZATION_GIT_PARALLELISM: positiveInt.max(64).optional(),
  VISUALIZATION_CLONE_TIMEOUT_SECONDS: positiveInt.max(86400).default(900),

  /** Traces (OpenTelemetry's standard variables). Off unless an exporter or an OTLP endpoint is set. */
  OTEL_SDK_DISABLED: bool.default(false),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { message: 'must be otlp or none' }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url(['http:', 'https:']).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('codex-gateway'),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_TRACES_SAMPLER: z
    .enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'], {
      message: 'must be always_on, always_off, traceidratio or one of them prefixed with parentbased_',
    })
    .default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number({ message: 'must be a ratio between 0 and 1' }).min(0).max(1).default(1),
});

type Raw = z.infer<typeof configSchema>;

/** Validated configuration, with derived values resolved. */
export interface Config extends Omit<Raw, 'WORKER_GPU_MAX_CONCURRENT_ACTIVITIES'> {
  /** Model calls one gpu worker makes at once: the setting, or MODEL_MAX_CONCURRENCY. */
  WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: number;
  dataDir: string;
  cacheDir: string;
  publicUrl: string;
  /** `iss` and `aud` of the access tokens this gateway signs. */
  jwtIssuer: string;
  embeddedDatabase: boolean;
  embeddedTemporal: boolean;
  eventBus: 'memory' | 'postgres';
  taskQueues: { cpu: string; gpu: string };
  /** Where the separate metrics listener listens (METRICS_LISTEN), or null for none. */
  metricsListen: { host: string; port: number } | null;
  /** The same for a worker process (WORKER_METRICS_LISTEN). */
  workerMetricsListen: { host: string; port: number } | null;
  /** Where traces go over OTLP (HTTP, protobuf), or null when tracing is off. */
  traces: { url: string; headers: Record<string, string>; resourceAttributes: Record<string, string> } | null;
}

/** Thrown for a bad environment variable; its message is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The variable names the config accepts (the docker-compose test checks against this list). */
export const configKeys = Object.keys(configSchema.shape) as (keyof Raw)[];

/** Validates an environment (process.env by default) into a Config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of configKeys) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue.path[0] ?? 'environment');
    const got = input[name] === undefined ? '' : ` (got ${JSON.stringify(redact(name, input[name]))})`;
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}${got}`);
  }
  const raw = parsed.data;
  if (raw.TEMPORAL_TLS_CERT_PATH && !raw.TEMPORAL_TLS_KEY_PATH) {
    throw new ConfigError('Invalid configuration: TEMPORAL_TLS_KEY_PATH is required when TEMPORAL_TLS_CERT_PATH is set');
  }
  if (raw.TASK_TIMEOUT_SECONDS > raw.TASK_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError('Invalid configuration: TASK_TIMEOUT_SECONDS must not exceed TASK_MAX_TIMEOUT_SECONDS');
  }
  if (raw.WEBHOOK_CLAIM_LEASE_SECONDS * 1000 < raw.WEBHOOK_TIMEOUT_MS + 5000) {
    throw new ConfigError(
      `Invalid configuration: WEBHOOK_CLAIM_LEASE_SECONDS must be at least WEBHOOK_TIMEOUT_MS + 5 s (${Math.ceil(raw.WEBHOOK_TIMEOUT_MS / 1000) + 5} s here), or the sweep could take over an attempt still waiting for its answer`,
    );
  }
  if (!!raw.OIDC_ISSUER !== !!raw.OIDC_AUDIENCE) {
    throw new ConfigError('Invalid configuration: OIDC_ISSUER and OIDC_AUDIENCE must be set together');
  }
  const host = raw.HOST === '0.0.0.0' || raw.HOST === '::' ? 'localhost' : raw.HOST;
  const cacheRoot = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return {
    ...raw,
    dataDir: resolve(raw.DATA_DIR),
    cacheDir: resolve(raw.CACHE_DIR ?? join(cacheRoot, 'codex-gateway')),
    publicUrl: (raw.PUBLIC_URL ?? `http://${host}:${raw.PORT}`).replace(/\/$/, ''),
    jwtIssuer: (raw.JWT_ISSUER ?? raw.PUBLIC_URL ?? `http://${host}:${raw.PORT}`).replace(/\/$/, ''),
    embeddedDatabase: !raw.DATABASE_URL,
    embeddedTemporal: !raw.TEMPORAL_ADDRESS,
    eventBus: raw.EVENT_BUS === 'auto' ? 'postgres' : raw.EVENT_BUS,
    taskQueues: { cpu: `${raw.TASK_QUEUE_PREFIX}-cpu`, gpu: `${raw.TASK_QUEUE_PREFIX}-gpu` },
    metricsListen: raw.METRICS_LISTEN ? hostPort('METRICS_LISTEN', raw.METRICS_LISTEN) : null,
    workerMetricsListen: raw.WORKER_METRICS_LISTEN ? hostPort('WORKER_METRICS_LISTEN', raw.WORKER_METRICS_LISTEN) : null,
    traces: tracesTarget(raw),
    WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: raw.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES ?? raw.MODEL_MAX_CONCURRENCY,
  };
}

/**
 * Tracing is on with OTEL_TRACES_EXPORTER=otlp, or when an OTLP endpoint is set and the exporter is
 * not `none`; OTEL_SDK_DISABLED=true turns it off whatever else is set. The endpoint is the
 * collector's base URL (`/v1/traces` is added) unless the traces-only one is given as is.
 */
function tracesTarget(raw: Raw): Config['traces'] {
  const wanted = raw.OTEL_TRACES_EXPORTER === 'otlp' || (!raw.OTEL_TRACES_EXPORTER && !!(raw.OTEL_EXPORTER_OTLP_ENDPOINT || raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT));
  if (raw.OTEL_SDK_DISABLED || !wanted) return null;
  const url = raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${(raw.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/$/, '')}/v1/traces`;
  return {
    url,
    headers: keyValues('OTEL_EXPORTER_OTLP_HEADERS', raw.OTEL_EXPORTER_OTLP_HEADERS, raw.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    resourceAttributes: keyValues('OTEL_RESOURCE_ATTRIBUTES', raw.OTEL_RESOURCE_ATTRIBUTES),
  };
}

/** `key1=value1,key2=value2` (values URL-encoded), as the OTEL_* lists are written. */
function keyValues(name: string, ...lists: Array<string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const list of lists) {
    for (const pair of (list ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new ConfigError(`Invalid configuration: ${name} must be key=value pairs separated by commas (got an entry without "=")`);
      out[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    }
  }
  return out;
}

function hostPort(name: string, value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (port > 65535) throw new ConfigError(`Invalid configuration: ${name} has port ${port}; ports go up to 65535`);
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port };
}

function redact(name: string, value: string): string {
  return /KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL|SMTP_URL|HEADERS/.test(name) ? '[redacted]' : value;
}

/** The PATH to search for helper programs (the Temporal CLI, go). */
export function searchPath(): string {
  return process.env.PATH ?? '';
}

/**
 * The environment of every git process (projects' clones, visualizations' analysis): only PATH and
 * HOME of this process, nothing from the operator's or user's git config, never a prompt.
 */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_OPTIONAL_LOCKS: '0',
    ...extra,
  };
}

/** The environment for a child process: this process's, plus `extra`. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}
