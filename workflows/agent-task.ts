/**
 * One agent task. The agent activity does the work and stores the result; this workflow owns the
 * time limit and turns cancellation, timeout and failure into the task's final state.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
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


export async function agentTaskWorkflow(input: AgentTaskWorkflowInput): Promise<AgentTaskOutcome> {
  const { finishTask } = proxyActivities<TaskActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const { runAgent } = proxyActivities<TaskActivities>({
    taskQueue: input.agentQueue,
    startToCloseTimeout: `${input.timeoutSeconds} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [AGENT_INPUT_ERROR] },
  });

  let timedOut = false;
  const agentScope = new CancellationScope();
  const timerScope = new CancellationScope();
  const run = agentScope.run(() => runAgent(input.taskId));
  timerScope
    .run(() => sleep(input.timeoutSeconds * 1000))
    .then(
      () => {
        timedOut = true;
        agentScope.cancel();
      },
      () => {},
    );
  try {
    await run;
    timerScope.cancel();
    return 'completed';
  } catch (err) {
    timerScope.cancel();
    const outcome = timedOut ? 'timed_out' : isCancellation(err) ? 'cancelled' : 'failed';
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
