/**
 * Which worker queues have workers polling them (Temporal's DescribeTaskQueue), so a task that
 * waits because no worker serves its queue says so instead of looking stuck, and operators see
 * the pollers per queue. Answers are remembered for a couple of seconds.
 */
import proto from '@temporalio/proto';
import type { ServiceDeps } from './deps.js';

const CACHE_MS = 2000;
const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = proto.temporal.api.enums.v1.TaskQueueType;

export interface QueueStatus {
  kind: 'cpu' | 'gpu';
  name: string;
  workflowPollers: number;
  activityPollers: number;
}

const cache = new Map<string, { at: number; status: Promise<QueueStatus> }>();

type EngineDeps = Pick<ServiceDeps, 'temporal' | 'temporalAvailability' | 'config'>;

async function describe(deps: EngineDeps, kind: 'cpu' | 'gpu'): Promise<QueueStatus> {
  const name = deps.config.taskQueues[kind];
  // Guarded: while Temporal is down this fails at once (503) instead of waiting through retries.
  const pollers = async (taskQueueType: number) =>
    (
      await deps.temporalAvailability.guard(() =>
        deps.temporal.workflowService.describeTaskQueue({ namespace: deps.config.TEMPORAL_NAMESPACE, taskQueue: { name }, taskQueueType }),
      )
    ).pollers?.length ?? 0;
  const [workflowPollers, activityPollers] = await Promise.all([pollers(TASK_QUEUE_TYPE_WORKFLOW), pollers(TASK_QUEUE_TYPE_ACTIVITY)]);
  return { kind, name, workflowPollers, activityPollers };
}

export function queueStatus(deps: EngineDeps, kind: 'cpu' | 'gpu'): Promise<QueueStatus> {
  const key = `${deps.config.TEMPORAL_NAMESPACE}/${deps.config.taskQueues[kind]}`;
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.status;
  const status = describe(deps, kind);
  cache.set(key, { at: Date.now(), status });
  status.catch(() => cache.delete(key));
  return status;
}

/** Why a queued task has not started, when the reason is a missing worker; null otherwise. */
export async function waitingReason(deps: EngineDeps, agentQueue: 'cpu' | 'gpu'): Promise<string | null> {
  if (!deps.temporalAvailability.available) return 'The task engine (Temporal) is not reachable right now; the task starts once it is back.';
  const [cpu, agent] = await Promise.all([queueStatus(deps, 'cpu'), queueStatus(deps, agentQueue)]);
  if (cpu.workflowPollers === 0) return `No worker is polling the cpu queue (${cpu.name}); the task starts when one does (npm run worker -- --queues cpu).`;
  if (agent.activityPollers === 0) {
    return `No worker is polling the ${agentQueue} queue (${agent.name}) this agent runs on; the task starts when one does (npm run worker -- --queues ${agentQueue}).`;
  }
  return null;
}
