/**
 * One agent task. The agent activity does the work and stores the result; this workflow owns the
 * time limit and turns cancellation, timeout and failure into the task's final state.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { ModelActivities } from '../src/activities/model.js';
import type { TaskActivities } from '../src/activities/tasks.js';
import { AGENT_INPUT_ERROR } from './definitions.js';

export interface AgentTaskWorkflowInput {
  taskId: string;
  timeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  /** The queue whose workers run this agent (cpu for built-in analysis, gpu for models). */
  agentQueue: string;
  /**
   * Set when the agent asks the model after its built-in analysis (code_expert with a model
   * configured): the queue of the model's workers.
   */
  modelQueue?: string;
  /** The agent is one model call (assistant): a parallel orchestration runs these together, in a wave (agent-wave.ts). */
  modelOnly?: true;
  /** Its slot was taken when it was submitted (a parallel orchestration's model agents). */
  slotTaken?: true;
}

/** How long the model step may wait for a gpu worker before the built-in findings stand alone. */
const MODEL_STEP_SCHEDULE_TIMEOUT = '1 minute';

export type AgentTaskOutcome = 'completed' | 'failed' | 'cancelled' | 'timed_out';

/** One attempt at a task's agent slot (an orchestration takes its agents' attempts together). */
export type SlotAttempt = (taskId: string) => Promise<'acquired' | 'gone' | 'waiting'>;

/** Runs one task's agent under the task's time limit and records how it ended. */
export async function agentTaskWorkflow(input: AgentTaskWorkflowInput): Promise<AgentTaskOutcome> {
  return runAgentTask(input);
}

/**
 * The body of a task's workflow: also run inside an orchestration's workflow, once per agent (in
 * the agent's own cancellation scope), so that its agents need no child workflows.
 */
export async function runAgentTask(input: AgentTaskWorkflowInput, trySlot?: SlotAttempt): Promise<AgentTaskOutcome> {
  const { finishTask } = proxyActivities<TaskActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const agentOptions: ActivityOptions = {
    taskQueue: input.agentQueue,
    // The workflow's own timer enforces the limit; this bound only catches an attempt that hangs past it.
    startToCloseTimeout: `${input.timeoutSeconds + 30} seconds`,
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [AGENT_INPUT_ERROR] },
    // The workflow ends only once the agent has stopped (it learns of cancellation at its next heartbeat).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
  const { runAgent, analyzeForModel, completeBuiltin } = proxyActivities<TaskActivities>(agentOptions);
  const { refineWithModel } = proxyActivities<ModelActivities>({
    ...agentOptions,
    taskQueue: input.modelQueue ?? input.agentQueue,
    scheduleToStartTimeout: MODEL_STEP_SCHEDULE_TIMEOUT,
  });

  /** Built-in analysis, then the model; if the model step fails or no gpu worker takes it, the built-in findings stand. */
  async function runWithModel(): Promise<boolean> {
    const analysis = await analyzeForModel(input.taskId);
    if (!analysis.running) return analysis.stored;
    try {
      return await refineWithModel(input.taskId, analysis.findings);
    } catch (err) {
      if (isCancellation(err)) throw err;
      return completeBuiltin(input.taskId, analysis.findings, `The model step failed, so these are the built-in findings alone: ${modelFailure(err)}`);
    }
  }

  // Wait for an agent slot of the account (the plan's parallel agents). The time limit starts after.
  if (patched('agent-slots')) {
    // One local activity (no task-queue round trip) tries to take a slot. While the account has
    // none free, the workflow waits on a durable timer, not in an activity, so waiting tasks hold
    // no worker slot that a running task would need.
    const { tryAgentSlot } = proxyLocalActivities<TaskActivities>({ startToCloseTimeout: '10 seconds' });
    try {
      for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
        const attempt = await (trySlot ?? tryAgentSlot)(input.taskId);
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
  // Typed by a cast: it is set in a callback, which TypeScript's narrowing of `null` does not see.
  let timedOut = null as Promise<void> | null;
  const agentScope = new CancellationScope();
  const timerScope = new CancellationScope();
  // patched: a history written by a worker without the model step replays on the path it took.
  const withModel = input.modelQueue !== undefined && patched('model-assist');
  const run = agentScope.run(() => (withModel ? runWithModel() : runAgent(input.taskId)));
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

function modelFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START') {
    return `no gpu worker took it within ${MODEL_STEP_SCHEDULE_TIMEOUT}.`;
  }
  return cause instanceof ApplicationFailure ? cause.message : 'the model did not answer after retries.';
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type === AGENT_INPUT_ERROR) return cause.message;
  return 'The agent failed repeatedly; the task was stopped. Retry it, and contact support with the task id if it fails again.';
}
