/**
 * `npm start`: the whole system on this machine. With no configuration: a PostgreSQL server run
 * from its npm package (data in .data/postgres), the Temporal dev server with its Web UI, the worker and the gateway.
 */
import { schema } from '../schema/index.js';
import { createLogger } from './logger.js';
import { connectWorkerTo, createServices, exitOnStartupError, loadConfigOrExit, onShutdownSignal, startInfrastructure } from './runtime.js';
import { createServer, version } from './server.js';
import { bootstrapLocalUser } from './services/auth/bootstrap.js';
import { startWorkers, type RunningWorkers } from './temporal/workers.js';

const config = loadConfigOrExit();
const logger = createLogger(config.LOG_LEVEL);
const say = (line: string) => process.stdout.write(`${line}\n`);

say(`Codex Cloud gateway ${version}: starting${config.embeddedDatabase || config.embeddedTemporal ? ' (embedded services, data in ' + config.DATA_DIR + ')' : ''}…`);
const infra = await startInfrastructure(config, logger).catch(exitOnStartupError);
// An external service still unreachable after STARTUP_RETRY_SECONDS: stop what was started, then exit.
const stopAndExit = (err: unknown) => infra.stop().then(() => exitOnStartupError(err));
const services = await createServices(config, logger, infra).catch(stopAndExit);
const bootstrap = await bootstrapLocalUser(services.db, config.CODEX_BOOTSTRAP_API_KEY);

let workers: RunningWorkers | null = null;
let workerConnection: Awaited<ReturnType<typeof connectWorkerTo>> | null = null;
if (config.RUN_WORKER) {
  workerConnection = await connectWorkerTo(config, infra.temporalAddress, logger).catch(stopAndExit);
  workers = await startWorkers(services, workerConnection, config);
}
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
say(`  Worker queues    ${workers ? workers.queues.join(', ') || 'none' : 'not run here (RUN_WORKER=false)'}`);
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
  async () => {
    await server.close();
    await workers?.shutdown();
    await workerConnection?.close();
    await services.close();
    await infra.stop();
  },
  config.SHUTDOWN_TIMEOUT_SECONDS * 1000 + (config.embeddedDatabase || config.embeddedTemporal ? 20_000 : 0),
);
