/**
 * A wave: the model agents of a parallel orchestration whose slots were free at its start, run
 * together as one activity (`runAgentWave`, gpu queue) instead of an activity each. Each agent
 * stays its own task, with its own row, event stream, result and webhook event; what the wave
 * saves is the engine's per-activity work (schedule, dispatch, heartbeats, completion and a
 * workflow task each), which bounded 50 parallel model agents at several times one alone while
 * each only waits on the model.
 *
 * Per agent, as on its own:
 *  - time limit: one timer per distinct limit; when it fires those agents' tasks end `timed_out`
 *    and the activity, which looks at its tasks every heartbeat, stops their calls;
 *  - cancellation: a task cancelled through the API is already final; the activity stops its call
 *    at its next heartbeat. Cancelling the orchestration cancels the activity (every call stops)
 *    and ends every agent still running as `cancelled`;
 *  - failure: a refusal by the model (4xx) fails the agent; anything worth retrying (5xx,
 *    unreachable, too slow) runs that agent again alone (runAgentTask, with Temporal's retries)
 *    in the time it has left. If the wave itself fails (its worker died: no heartbeat), every
 *    agent not yet ended runs again alone; a task already completed is never run twice.
 */
import { ActivityCancellationType, CancellationScope, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import type { ModelActivities } from '../src/activities/model.js';
import type { TaskActivities } from '../src/activities/tasks.js';
import type { AgentTaskOutcome, AgentTaskWorkflowInput } from './agent-task.js';

/** What the wave activity reports per agent (see runAgentWave). */
export type WaveOutcome = 'completed' | 'ended' | 'stopped' | 'retry' | { failed: string };

/** Per agent: how it ended, or `retry` with the seconds left of its time limit. */
export type WaveResult = AgentTaskOutcome | { retry: number };

type Ending = Parameters<TaskActivities['finishTasks']>[0][number];

export async function runWave(agents: AgentTaskWorkflowInput[], failFast: boolean): Promise<Map<string, WaveResult>> {
  const longest = Math.max(...agents.map((a) => a.timeoutSeconds));
  const { runAgentWave } = proxyActivities<ModelActivities>({
    taskQueue: agents[0].agentQueue,
    // The timers below enforce each agent's limit; this bound only catches a wave that hangs past them.
    startToCloseTimeout: `${longest + 30} seconds`,
    heartbeatTimeout: `${agents[0].heartbeatTimeoutSeconds} seconds`,
    // Not retried as a whole: its agents that did not end run again alone (see above).
    retry: { maximumAttempts: 1 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const { finishTasks } = proxyActivities<TaskActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const end = (endings: Ending[]) => (endings.length ? CancellationScope.nonCancellable(() => finishTasks(endings)) : Promise.resolve());

  const began = Date.now();
  const timedOut = new Set<string>();
  const timeouts: Promise<void>[] = [];
  const timers = new CancellationScope();
  const byLimit = new Map<number, AgentTaskWorkflowInput[]>();
  for (const a of agents) byLimit.set(a.timeoutSeconds, [...(byLimit.get(a.timeoutSeconds) ?? []), a]);
  for (const [seconds, group] of byLimit) {
    timers
      .run(() => sleep(seconds * 1000))
      .then(
        () => {
          group.forEach((a) => timedOut.add(a.taskId));
          timeouts.push(end(group.map((a) => ({ taskId: a.taskId, status: 'timed_out' }))));
        },
        () => {},
      );
  }

  const results = new Map<string, WaveResult>();
  const ended = (taskId: string): AgentTaskOutcome => (timedOut.has(taskId) ? 'timed_out' : 'cancelled');
  let outcomes: Record<string, WaveOutcome>;
  try {
    outcomes = await runAgentWave({ taskIds: agents.map((a) => a.taskId), failFast });
  } catch (err) {
    timers.cancel();
    await Promise.all(timeouts);
    if (isCancellation(err)) {
      await end(agents.filter((a) => !timedOut.has(a.taskId)).map((a) => ({ taskId: a.taskId, status: 'cancelled' })));
      for (const a of agents) results.set(a.taskId, ended(a.taskId));
      return results;
    }
    outcomes = Object.fromEntries(agents.map((a) => [a.taskId, 'retry' as const]));
  }
  timers.cancel();
  await Promise.all(timeouts);

  const endings: Ending[] = [];
  const elapsed = (Date.now() - began) / 1000;
  for (const a of agents) {
    const outcome = outcomes[a.taskId] ?? 'retry';
    if (outcome === 'completed') results.set(a.taskId, 'completed');
    else if (outcome === 'ended' || timedOut.has(a.taskId)) results.set(a.taskId, ended(a.taskId));
    else if (outcome === 'stopped') {
      endings.push({ taskId: a.taskId, status: 'cancelled' });
      results.set(a.taskId, 'cancelled');
    } else if (outcome === 'retry') {
      const left = Math.ceil(a.timeoutSeconds - elapsed);
      if (left > 0) results.set(a.taskId, { retry: left });
      else {
        endings.push({ taskId: a.taskId, status: 'timed_out' });
        results.set(a.taskId, 'timed_out');
      }
    } else {
      endings.push({ taskId: a.taskId, status: 'failed', error: { code: 'agent_error', message: outcome.failed } });
      results.set(a.taskId, 'failed');
    }
  }
  await end(endings);
  return results;
}
