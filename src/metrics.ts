/**
 * Prometheus metrics (prom-client), one registry per process: the gateway's requests, operations,
 * limits and streams, and what its in-process parts and the worker record (tasks, orchestrations,
 * model calls, webhook deliveries, the database pool and the event bus). Label values come from
 * fixed sets only (routes of the route table, root fields of the schema, error codes, agent types,
 * states): never an id, so the number of series stays bounded.
 *
 * They are not for the world: the main port serves them only to a METRICS_TOKEN bearer, and
 * METRICS_LISTEN (gateway) or WORKER_METRICS_LISTEN (a worker process) opens a separate listener
 * for them alone.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Kind, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type pg from 'pg';
import type { WebSocket } from 'ws';
import type { Logger } from './logger.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isErrorCode } from './errors.js';
import type { Db } from './db/client.js';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LONG_SECONDS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600];

/** The database this process reads gauges from at scrape time (tasks queued), and the pools it reports. */
const sources: { db: Db | null; pools: Map<pg.Pool, string> } = { db: null, pools: new Map() };

/** The pools still open (an ended one is forgotten). */
function openPools(): Array<[pg.Pool, string]> {
  for (const pool of sources.pools.keys()) if ((pool as pg.Pool & { ended?: boolean }).ended) sources.pools.delete(pool);
  return [...sources.pools];
}

// Pool gauges and queued tasks are read when scraped, not kept up to date on every change.
function collectPools(this: Gauge<'pool' | 'state'>) {
  this.reset();
  for (const [pool, name] of openPools()) {
    this.inc({ pool: name, state: 'in_use' }, pool.totalCount - pool.idleCount);
    this.inc({ pool: name, state: 'idle' }, pool.idleCount);
  }
}

function collectWaiting(this: Gauge<'pool'>) {
  this.reset();
  for (const [pool, name] of openPools()) this.inc({ pool: name }, pool.waitingCount);
}

async function collectQueued(this: Gauge<'reason'>) {
  const counts = { agent_slot: 0, worker: 0 };
  const rows = sources.db ? await sources.db.agentTask.groupBy({ by: ['slotTaken'], where: { status: 'queued' }, _count: true }).catch(() => []) : [];
  for (const row of rows) counts[row.slotTaken ? 'worker' : 'agent_slot'] += row._count;
  for (const [reason, count] of Object.entries(counts)) this.set({ reason }, count);
}

async function collectOrchestrations(this: Gauge) {
  const count = sources.db ? await sources.db.orchestration.count({ where: { status: 'in_progress' } }).catch(() => null) : null;
  if (count !== null) this.set(count);
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets = SECONDS) => new Histogram<L>({ name, help, labelNames, buckets, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void | Promise<void>) =>
    new Gauge<L>({ name, help, labelNames, registers, collect });

  return {
    registry,
    // HTTP and GraphQL
    httpRequests: counter('codex_http_requests_total', 'HTTP requests by method, route (the route pattern) and status.', ['method', 'route', 'status']),
    httpDuration: histogram('codex_http_request_duration_seconds', 'HTTP request duration by method, route and status.', ['method', 'route', 'status']),
    operations: counter('codex_graphql_operations_total', 'GraphQL operations by transport, operation (its first root field), type and outcome (ok or an error code).', ['transport', 'operation', 'type', 'outcome']),
    operationDuration: histogram('codex_graphql_operation_duration_seconds', 'GraphQL operation duration by transport, operation and type.', ['transport', 'operation', 'type']),
    costCharged: counter('codex_graphql_cost_charged_total', 'Credits charged to callers for admitted operations, by transport, operation and type.', ['transport', 'operation', 'type']),
    limitRejections: counter('codex_limit_rejections_total', 'Operations refused by a limit: minute, hour, month, concurrency, cost, depth or shape.', ['limit', 'transport']),
    // Streams
    streamsOpened: counter('codex_streams_opened_total', 'Event streams opened, by transport.', ['transport']),
    socketsOpen: gauge('codex_stream_sockets_open', 'Open sockets and event-stream connections, by transport (graphql-ws, sse, task-ws).', ['transport']),
    subscriptionsOpen: gauge('codex_stream_subscriptions_open', 'Open subscriptions, by transport.', ['transport']),
    messagesSent: counter('codex_stream_messages_sent_total', 'Events sent on streams, by transport.', ['transport']),
    resumes: counter('codex_stream_resumes_total', 'Streams resumed from an earlier position (since / Last-Event-ID), by transport.', ['transport']),
    closes: counter('codex_stream_closes_total', 'Sockets and streams closed, by transport and close code (or end for an event stream).', ['transport', 'code']),
    // Tasks, orchestrations and bulk operations
    tasksSubmitted: counter('codex_tasks_submitted_total', 'Tasks submitted, by agent type.', ['agent_type']),
    tasksStarted: counter('codex_tasks_started_total', 'Tasks whose agent started, by agent type.', ['agent_type']),
    tasksFinished: counter('codex_tasks_finished_total', 'Tasks that reached a final state, by agent type and state.', ['agent_type', 'state']),
    taskQueueWait: histogram('codex_task_queue_wait_seconds', 'Time from submission to the agent starting, by agent type.', ['agent_type'], LONG_SECONDS),
    taskRunTime: histogram('codex_task_run_seconds', 'Time from the agent starting to the final state, by agent type and state.', ['agent_type', 'state'], LONG_SECONDS),
    tasksQueued: gauge('codex_tasks_queued', 'Queued tasks by reason: agent_slot (the plan runs no more at once) or worker (a slot is held; waiting for a worker), read at scrape time.', ['reason'], collectQueued),
    orchestrationsSubmitted: counter('codex_orchestrations_submitted_total', 'Orchestrations submitted.'),
    orchestrationsFinished: counter('codex_orchestrations_finished_total', 'Orchestrations that reached a final state, by state.', ['state']),
    orchestrationRunTime: histogram('codex_orchestration_run_seconds', 'Time from submission to the final state of an orchestration, by state.', ['state'], LONG_SECONDS),
    orchestrationsActive: gauge('codex_orchestrations_in_progress', 'Orchestrations in progress, read at scrape time.', [], collectOrchestrations),
    bulkStarted: counter('codex_bulk_operations_started_total', 'Bulk operations started, by action (cancel, rerun).', ['action']),
    bulkFinished: counter('codex_bulk_operations_finished_total', 'Bulk operations that reached a final state, by action and state.', ['action', 'state']),
    bulkItems: counter('codex_bulk_operation_items_total', 'Tasks a bulk operation handled, by action and outcome (succeeded, skipped, failed).', ['action', 'outcome']),
    bulkRunTime: histogram('codex_bulk_operation_run_seconds', 'Time from the start of a bulk operation to its final state, by action and state.', ['action', 'state'], LONG_SECONDS),
    // Model calls (recorded where they run: the worker)
    modelCalls: counter('codex_model_calls_total', 'Calls to the model endpoint by outcome (ok, error, cancelled).', ['outcome']),
    modelTokens: counter('codex_model_tokens_total', 'Tokens used by model calls, by kind (prompt, completion).', ['kind']),
    modelDuration: histogram('codex_model_call_duration_seconds', 'Model call latency by outcome.', ['outcome'], LONG_SECONDS),
    // Webhooks
    webhookDeliveries: counter('codex_webhook_deliveries_total', 'Webhook delivery attempts by outcome (succeeded, failed, gone) and attempt number (1 to 5, then 6+).', ['outcome', 'attempt']),
    webhookLatency: histogram('codex_webhook_delivery_latency_seconds', 'Time from the event being written to its endpoint answering 2xx.', [], LONG_SECONDS),
    webhooksDisabled: counter('codex_webhook_endpoints_disabled_total', 'Webhook endpoints disabled after failing deliveries (or 410 Gone).'),
    // Database pool and event bus
    dbConnections: gauge('codex_db_pool_connections', 'Database pool connections by pool and state (in_use, idle), read at scrape time.', ['pool', 'state'], collectPools),
    dbWaiting: gauge('codex_db_pool_waiting_acquires', 'Queries waiting for a pooled connection, by pool, read at scrape time.', ['pool'], collectWaiting),
    notifyLag: histogram('codex_event_bus_notify_lag_seconds', 'Time from an event being published with NOTIFY to the bus receiving it back.', [], SECONDS),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** This process's metrics. */
export const metrics: Metrics = createMetrics();

/** Reports a pg pool's connections under `name` while it is open. */
export function watchPool(pool: pg.Pool, name: string): void {
  sources.pools.set(pool, name);
}

/** The database scrape-time gauges (queued tasks, orchestrations in progress) read. */
export function watchDatabase(db: Db): void {
  sources.db = db;
}

/** How an operation arrived: GraphQL over HTTP, GraphQL over graphql-ws, or a route of the route table. */
export type OperationTransport = 'graphql' | 'graphql-ws' | 'rest';

/** The `transport` label of an admission endpoint (`graphql …`, `graphql-ws …`, or a REST `METHOD /path`). */
export function transportOf(endpoint: string): OperationTransport {
  return endpoint.startsWith('graphql-ws ') ? 'graphql-ws' : endpoint.startsWith('graphql ') ? 'graphql' : 'rest';
}

/**
 * The `operation` label of an operation: its first root field (aliases ignored), which the schema
 * bounds; a client's own operation name is not used (any string could come). `introspection` for
 * `__schema`/`__type`, `unknown` when the first selection is no field of the root type.
 */
export function operationLabel(schema: GraphQLSchema, operation: OperationDefinitionNode): string {
  const first = operation.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  if (!first || first.kind !== Kind.FIELD) return 'unknown';
  const name = first.name.value;
  if (name.startsWith('__')) return 'introspection';
  return schema.getRootType(operation.operation)?.getFields()[name] ? name : 'unknown';
}

/** The `outcome` label of an error: its API error code, or `error` for anything else. */
export function outcomeOf(code: unknown): string {
  return typeof code === 'string' && isErrorCode(code) ? code : 'error';
}

/**
 * Counts one GraphQL operation under `transport` with its duration since `started`
 * (performance.now()): `ok` when `failure` is undefined, else the error code it names.
 */
export function observeOperation(transport: OperationTransport, schema: GraphQLSchema, operation: OperationDefinitionNode, started: number, failure?: { code?: unknown }): void {
  const labels = { transport, operation: operationLabel(schema, operation), type: operation.operation };
  metrics.operations.inc({ ...labels, outcome: failure === undefined ? 'ok' : outcomeOf(failure.code) });
  metrics.operationDuration.observe(labels, (performance.now() - started) / 1000);
}

/**
 * The limit an admission error names (`limit` label), or null when it is no limit's refusal:
 * rate windows (minute, hour), the month's quota, concurrency, and a query's cost, depth or shape.
 */
export function limitOf(err: unknown): string | null {
  const e = err as { code?: string; details?: { window?: unknown; limit?: unknown } };
  if (e.code === 'concurrency_limit_exceeded') return 'concurrency';
  if (e.code === 'insufficient_credits') return 'month';
  if (e.code === 'rate_limit_exceeded') return e.details?.window === 'hour' ? 'hour' : 'minute';
  if (e.code === 'invalid_request' && typeof e.details?.limit === 'string') {
    return e.details.limit === 'max_depth' ? 'depth' : e.details.limit === 'max_cost' ? 'cost' : 'shape';
  }
  return null;
}

/** The `attempt` label of a webhook attempt number: 1 to 5, then `6+`. */
export function attemptLabel(number: number): string {
  return number > 5 ? '6+' : String(number);
}

export type StreamTransport = 'graphql-ws' | 'sse' | 'task-ws';

/** A socket or event stream opened (`resumed`: from an earlier position). */
export function streamOpened(transport: StreamTransport, resumed: boolean): void {
  metrics.streamsOpened.inc({ transport });
  metrics.socketsOpen.inc({ transport });
  if (transport !== 'graphql-ws') metrics.subscriptionsOpen.inc({ transport }); // one subscription per stream
  if (resumed) metrics.resumes.inc({ transport });
}

/** A socket or event stream closed, with its close code (`end` for an event stream). */
export function streamClosed(transport: StreamTransport, code: string): void {
  metrics.socketsOpen.dec({ transport });
  if (transport !== 'graphql-ws') metrics.subscriptionsOpen.dec({ transport });
  metrics.closes.inc({ transport, code });
}

/** Counts an upgraded WebSocket and logs its opening and its close code once each. */
export function watchSocket(ws: WebSocket, transport: StreamTransport, logger: Logger, fields: Record<string, unknown>, resumed: boolean): void {
  streamOpened(transport, resumed);
  logger.info({ ...fields, transport }, 'websocket opened');
  ws.once('close', (code: number) => {
    streamClosed(transport, String(code));
    logger.info({ ...fields, transport, code }, 'websocket closed');
  });
}

/** Whether an Authorization header carries `token` as a bearer token (compared in constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim() ?? '';
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * The separate metrics listener (METRICS_LISTEN, WORKER_METRICS_LISTEN): GET /metrics only, no
 * token, on an address the operator keeps private (loopback, or a port Prometheus alone reaches).
 * Resolves once listening.
 */
export async function listenForMetrics(registry: Registry, at: { host: string; port: number }): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url?.split('?')[0] !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
