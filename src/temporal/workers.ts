/**
 * Workers: one per queue. The cpu queue runs workflows and built-in agents, the gpu queue model
 * inference. `npm start` runs them in-process; src/worker.ts runs them alone for scale-out.
 */
import { DefaultLogger, Runtime, Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createBulkActivities } from '../activities/bulk.js';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { createGenerationActivities, createGenerationModelActivities } from '../activities/generations.js';
import { createModelActivities } from '../activities/model.js';
import { createOrchestrationActivities } from '../activities/orchestrations.js';
import { createProjectActivities } from '../activities/projects.js';
import { createReviewActivities } from '../activities/reviews.js';
import { createTaskActivities } from '../activities/tasks.js';
import { createVisualizationActivities } from '../activities/visualizations.js';
import { createWebhookActivities } from '../activities/webhooks.js';
import type { Config } from '../config.js';
import type { ServiceDeps } from '../services/deps.js';
import { ensureRetentionSchedule } from './schedules.js';
import { startReconciler, type Reconciler } from '../services/reconcile/reconciler.js';
import { startWebhookDispatcher, type WebhookDispatcher } from '../services/webhooks/dispatcher.js';
import { loadWorkflowBundle } from './workflow-bundle.js';
import { activeTracing, workflowSpanProcessor } from '../tracing.js';

let runtimeInstalled = false;

/**
 * How long running activities get to finish at shutdown: the process's deadline less 5 s for closing
 * connections, so the whole shutdown fits SHUTDOWN_TIMEOUT_SECONDS (activities cut short are retried elsewhere).
 */
const activityGrace = (config: Config) => `${Math.max(1, config.SHUTDOWN_TIMEOUT_SECONDS - 5)} seconds`;

/**
 * Routes the SDK's own logs to warnings only; must run before the first Temporal connection. With
 * `metricsAddress` (TEMPORAL_METRICS_LISTEN, worker processes only) the SDK serves its own
 * Prometheus metrics there: task slots available and used per queue, polls, activity and workflow
 * task latencies (`temporal_*`).
 */
export function installTemporalRuntime(metricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger('WARN'),
    shutdownSignals: [],
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true } } } } : {}),
  });
}

/**
 * With tracing on: each activity runs in a span continuing its workflow's, and the workflow's own
 * spans (made in the sandbox, see the traced bundle) leave it through the `exporter` sink.
 */
function tracingOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const tracing = activeTracing();
  if (!tracing) return {};
  return {
    interceptors: {
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
    sinks: { exporter: makeWorkflowExporter(workflowSpanProcessor(tracing.spanProcessor) as never, tracing.resource) },
  };
}

export interface RunningWorkers {
  queues: string[];
  /** Every worker is polling: none was created (no queue to poll), stopped or failed. */
  healthy(): boolean;
  /** Stops polling, lets running activities finish (up to the grace time), then resolves. */
  shutdown(): Promise<void>;
}

/** Creates and runs a worker per requested queue that has work registered on it. */
export async function startWorkers(
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger' | 'temporal'>,
  connection: NativeConnection,
  config: Config,
  queues: Array<'cpu' | 'gpu'> = config.WORKER_QUEUES,
): Promise<RunningWorkers> {
  const workers: Worker[] = [];
  const taskActivities = createTaskActivities({ ...deps, config }, { stepDelayMs: config.AGENT_STEP_DELAY_MS });
  if (queues.includes('cpu')) {
    workers.push(
      await Worker.create({
        connection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue: config.taskQueues.cpu,
        workflowBundle: await loadWorkflowBundle(config.cacheDir, deps.logger, !!activeTracing()),
        ...tracingOptions(),
        activities: {
          ...taskActivities,
          ...createOrchestrationActivities(deps),
          ...createBulkActivities({ ...deps, config }),
          ...createGenerationActivities(deps, config),
          ...createProjectActivities({ ...deps, config }),
          ...createReviewActivities(deps, { fileDelayMs: config.REVIEW_FILE_DELAY_MS }),
          ...createWebhookActivities({ ...deps, config }),
          ...createVisualizationActivities({ ...deps, config }),
        },
        maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
        shutdownGraceTime: activityGrace(config),
      }),
    );
  }
  // With a client (the gateway's or the worker process's), the cpu worker keeps the retention schedule.
  if (queues.includes('cpu') && deps.temporal) await ensureRetentionSchedule(deps.temporal, config, deps.logger);
  if (queues.includes('gpu')) {
    if (config.MODEL_BASE_URL) {
      // Model inference only: no workflows here, as many calls at once as the model server serves
      // (MODEL_MAX_CONCURRENCY, or WORKER_GPU_MAX_CONCURRENT_ACTIVITIES per worker).
      workers.push(
        await Worker.create({
          connection,
          namespace: config.TEMPORAL_NAMESPACE,
          taskQueue: config.taskQueues.gpu,
          activities: { ...createModelActivities(deps, config), ...createGenerationModelActivities(deps, config) },
          maxConcurrentActivityTaskExecutions: config.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES,
          // One task per poll: with the default 10 pollers, 50 agents scheduled at once were picked
          // up over 0.85 s. As many pollers as calls the worker makes at once (at most 50).
          maxConcurrentActivityTaskPolls: Math.min(config.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES, 50),
          ...tracingOptions(),
          shutdownGraceTime: activityGrace(config),
        }),
      );
    } else {
      deps.logger.info({ queue: config.taskQueues.gpu }, 'MODEL_BASE_URL is not set: the gpu queue is not polled (model agents wait as queued)');
    }
  }
  // The cpu worker's process also starts webhook delivery workflows (announced or swept), and
  // ends rows whose workflow ended in Temporal without them (or starts those whose start was lost).
  const dispatcher: WebhookDispatcher | null = queues.includes('cpu') ? startWebhookDispatcher({ ...deps, config }) : null;
  const reconciler: Reconciler | null = queues.includes('cpu') ? startReconciler({ ...deps, config }) : null;
  const runs = workers.map((w) =>
    w.run().catch((err) => {
      deps.logger.error({ err, queue: w.options.taskQueue }, 'worker stopped with an error');
      throw err;
    }),
  );
  return {
    queues: workers.map((w) => w.options.taskQueue),
    healthy: () => workers.length > 0 && workers.every((w) => w.getState() === 'RUNNING'),
    async shutdown() {
      await dispatcher?.close();
      await reconciler?.close();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(runs);
    },
  };
}
