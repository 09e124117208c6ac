/**
 * One agent task. The agent activity does the work and stores the result; this workflow owns the
 * time limit and turns cancellation, timeout and failure into the task's final state.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
} from '@temporalio/workflow';
import type { TaskActivities } from '../src/activities/tasks.js';
import { AGENT_INPUT_ERROR } from './definitions.js';

export interface AgentTaskWorkflowInput {
  taskId: string;
  timeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  /** The queue whose workers run this agent (cpu for built-in analysis, gpu for models). */
  agentQueue: string;
}

export type AgentTaskOutcome = 'completed' | 'failed' | 'cancelled' | 'timed_out';

/** Runs one task's agent under the task's time limit and records how it ended. */
export async function agentTaskWorkflow(input: AgentTaskWorkflowInput): Promise<AgentTaskOutcome> {
  const { finishTask } = proxyActivities<TaskActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { runAgent } = proxyActivities<TaskActivities>({
    taskQueue: input.agentQueue,
    // The workflow's own timer enforces the limit; this bound only catches an attempt that hangs past it.
    startToCloseTimeout: `${input.timeoutSeconds + 30} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [AGENT_INPUT_ERROR] },
    // The workflow ends only once the agent has stopped (it learns of cancellation at its next heartbeat).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });

  // Wait for an agent slot of the account (the plan's parallel agents). The time limit starts after.
  if (patched('agent-slots')) {
    // One local activity (no task-queue round trip) tries to take a slot. While the account has
    // none free, the workflow waits on a durable timer, not in an activity, so waiting tasks hold
    // no worker slot that a running task would need.
    const { tryAgentSlot } = proxyLocalActivities<TaskActivities>({ startToCloseTimeout: '10 seconds' });
    try {
      for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
        const attempt = await tryAgentSlot(input.taskId);
        if (attempt === 'acquired') break;
        if (attempt === 'gone') return 'cancelled'; // cancelled before it could start
        await sleep(wait);
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await CancellationScope.nonCancellable(() => finishTask({ taskId: input.taskId, status: 'cancelled' }));
      return 'cancelled';
    }
  }

  // On timeout the final state is written first, so callers see timed_out while the agent winds down.
  let timedOut: Promise<void> | null = null;
  const agentScope = new CancellationScope();
  const timerScope = new CancellationScope();
  const run = agentScope.run(() => runAgent(input.taskId));
  timerScope
    .run(() => sleep(input.timeoutSeconds * 1000))
    .then(
      () => {
        timedOut = CancellationScope.nonCancellable(() => finishTask({ taskId: input.taskId, status: 'timed_out' }));
        agentScope.cancel();
      },
      () => {},
    );
  try {
    // false: the task was cancelled through the API while the agent finished (its result was not stored).
    const stored = await run;
    timerScope.cancel();
    return stored === false ? 'cancelled' : 'completed';
  } catch (err) {
    timerScope.cancel();
    if (timedOut) {
      await timedOut;
      return 'timed_out';
    }
    const outcome = isCancellation(err) ? 'cancelled' : 'failed';
    const error = outcome === 'failed' ? { code: 'agent_error', message: failureMessage(err) } : undefined;
    await CancellationScope.nonCancellable(() => finishTask({ taskId: input.taskId, status: outcome, error }));
    return outcome;
  }
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === AGENT_INPUT_ERROR) return cause.message;
  return 'The agent failed repeatedly; the task was stopped. Retry it, and contact support with the task id if it fails again.';
}
