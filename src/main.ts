/**
 * `npm start`: the whole system on this machine. With no configuration: a PostgreSQL server run
 * from its npm package (data in .data/postgres), the Temporal dev server with its Web UI, the worker and the gateway.
 */
import { schema } from '../schema/index.js';
import { createLogger } from './logger.js';
import { createServices, exitOnStartupError, StartupError, loadConfigOrExit, onShutdownSignal, startInfrastructure } from './runtime.js';
import { createServer, version } from './server.js';
import { bootstrapLocalUser } from './services/auth/bootstrap.js';
import { startWorkerChild } from './temporal/worker-child.js';

const config = loadConfigOrExit();
const logger = createLogger(config.LOG_LEVEL, undefined, config.LOG_FORMAT);
const say = (line: string) => process.stdout.write(`${line}\n`);
if (config.RUN_WORKER && config.eventBus === 'memory') {
  console.error('EVENT_BUS=memory reaches one process only, and `npm start` runs its worker in a process of its own: use EVENT_BUS=auto (the default) or postgres.');
  process.exit(1);
}

say(`Codex Cloud gateway ${version}: starting${config.embeddedDatabase || config.embeddedTemporal ? ' (embedded services, data in ' + config.DATA_DIR + ')' : ''}…`);
const infra = await startInfrastructure(config, logger).catch(exitOnStartupError);
// An external service still unreachable after STARTUP_RETRY_SECONDS: stop what was started, then exit.
const stopAndExit = (err: unknown) => infra.stop().then(() => exitOnStartupError(err));
// The worker runs as a child process: a CPU-heavy activity there never delays an HTTP answer here.
// It starts while the gateway does; a failed start is held until it is awaited below.
const worker = config.RUN_WORKER ? startWorkerChild(infra, logger).catch((err: Error) => err) : null;
const services = await createServices(config, logger, infra).catch(stopAndExit);
const bootstrap = await bootstrapLocalUser(services.db, config.CODEX_BOOTSTRAP_API_KEY);
const started = await worker;
const workers = started instanceof Error ? await stopAndExit(new StartupError(`${started.message}; its error is printed above`)) : started;
const server = await createServer(services, schema);
await server.app.listen({ host: config.HOST, port: config.PORT });

const wsUrl = config.publicUrl.replace(/^http/, 'ws');
say('');
say(`  GraphQL          ${config.publicUrl}/graphql   (subscriptions: ${wsUrl}/graphql)`);
say(`  REST             ${config.publicUrl}/v1   (OpenAPI: ${config.publicUrl}/v1/openapi.json)`);
const metricsAt = server.metricsAddress ? `http://${server.metricsAddress.host.includes(':') ? `[${server.metricsAddress.host}]` : server.metricsAddress.host}:${server.metricsAddress.port}/metrics` : config.METRICS_TOKEN ? `${config.publicUrl}/metrics (with METRICS_TOKEN)` : 'off (set METRICS_LISTEN or METRICS_TOKEN)';
say(`  Health           ${config.publicUrl}/v1/health`);
say(`  Metrics          ${metricsAt}`);
say(`  Temporal         ${infra.temporalAddress}${infra.temporalUiUrl ? `   (Web UI: ${infra.temporalUiUrl})` : ''}`);
say(`  Worker queues    ${workers ? `${workers.queues.join(', ') || 'none'}   (worker process ${workers.pid()})` : 'not run here (RUN_WORKER=false)'}`);
if (bootstrap?.createdSecret) {
  say('');
  say(`  API key (shown once, store it now): ${bootstrap.createdSecret}`);
  say(`  Try: curl -H "Authorization: Bearer ${bootstrap.createdSecret}" ${config.publicUrl}/v1/agents/tasks`);
}
say('');
say('Ready. Ctrl-C stops everything.');

// In-flight requests and the worker's activities get SHUTDOWN_TIMEOUT_SECONDS; the embedded
// servers stop last, after everything that uses them.
onShutdownSignal(
  logger,
  [
    // Signalled at once: when Ctrl-C reached the worker too, this is an echo it ignores.
    ['HTTP, streams and the worker process', () => Promise.all([server.close(), workers?.shutdown()])],
    ['services', () => services.close()],
    ['embedded servers', () => infra.stop()],
  ],
  config.SHUTDOWN_TIMEOUT_SECONDS * 1000 + (config.embeddedDatabase || config.embeddedTemporal ? 20_000 : 0),
);
