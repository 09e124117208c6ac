/**
 * A multi-agent orchestration. Each agent is an ordinary task (its own row, event stream, result
 * and cancellation) run by this workflow itself: the task workflow's body (runAgentTask) once per
 * agent, each in its own cancellation scope, so cancelling the orchestration cancels every agent
 * and cancelling one task (signal `cancelAgent`, sent by the task's cancellation) cancels that
 * agent alone. Not child workflows: on the engine each child costs a workflow start, its own
 * workflow tasks and a completion recorded on this workflow, one after another, which made 50
 * parallel agents take 15–25× one agent; activities of this workflow are scheduled at once.
 * Orchestrations started before this change replay with their child workflows (patch `agents-inline`).
 * The model agents of a parallel orchestration (one model call each) whose slots are free at the
 * start run together in one activity, a wave (agent-wave.ts; patch `agent-waves`).
 *  - parallel: all agents at once; sequential: one after another, each given the previous
 *    agents' results first (activity `passResultsForward`).
 *  - best_effort: a failed agent does not stop the others; fail_fast: the first failure cancels
 *    the rest.
 */
import { CancellationScope, executeChild, isCancellation, patched, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../src/activities/orchestrations.js';
import type { TaskActivities } from '../src/activities/tasks.js';
import { agentTaskWorkflow, runAgentTask, type AgentTaskOutcome, type AgentTaskWorkflowInput, type SlotAttempt } from './agent-task.js';
import { runWave, type WaveResult } from './agent-wave.js';
import { cancelAgentSignal } from './definitions.js';

export interface OrchestrationWorkflowInput {
  orchestrationId: string;
  strategy: 'parallel' | 'sequential';
  failurePolicy: 'best_effort' | 'fail_fast';
  agents: AgentTaskWorkflowInput[];
}

export async function orchestrationWorkflow(input: OrchestrationWorkflowInput): Promise<string> {
  const retry = { initialInterval: '1 second', maximumInterval: '30 seconds' };
  const { passResultsForward, finishOrchestration: finishRemotely } = proxyActivities<OrchestrationActivities>({ startToCloseTimeout: '1 minute', retry });
  const inline = patched('agents-inline');
  // The slot attempts of agents that ask at once (all of a parallel orchestration's, at its start)
  // go in one local activity instead of one each (50 took half a second of the first workflow task).
  const trySlot = inline && patched('agent-slots-together') ? slotAttemptsTogether() : undefined;
  const waveAgents = input.strategy === 'parallel' && trySlot ? input.agents.filter((a) => a.modelOnly) : [];
  const waves = waveAgents.length > 0 && patched('agent-waves');
  /** The cancellation scope of each inline agent that has started, by task id. */
  const scopes = new Map<string, CancellationScope>();
  const cancelled = new Set<string>();
  setHandler(cancelAgentSignal, (taskId) => {
    cancelled.add(taskId);
    scopes.get(taskId)?.cancel();
  });
  const runInline = async (agent: AgentTaskWorkflowInput): Promise<AgentTaskOutcome> => {
    const scope = new CancellationScope();
    scopes.set(agent.taskId, scope);
    // Cancelled before its turn: the task's row is already final, runAgentTask finds it gone.
    if (cancelled.has(agent.taskId)) scope.cancel();
    try {
      return await scope.run(() => runAgentTask(agent, trySlot));
    } finally {
      scopes.delete(agent.taskId);
    }
  };
  const child = (agent: AgentTaskWorkflowInput) =>
    (inline ? runInline(agent) : executeChild(agentTaskWorkflow, { workflowId: agent.taskId, args: [agent] })).catch((err): AgentTaskOutcome => {
      if (isCancellation(err)) return 'cancelled';
      return 'failed';
    });

  const agentsScope = new CancellationScope();
  let failedFast = false;
  const settle = (outcome: AgentTaskOutcome) => {
    if (outcome !== 'completed' && input.failurePolicy === 'fail_fast' && !failedFast) {
      failedFast = true;
      agentsScope.cancel();
    }
  };

  /**
   * The model agents as a wave: those whose slot is free now run together; those that must wait
   * for a slot, and those the wave hands back (`retry`), run on their own.
   */
  const runWaveAgents = async (agents: AgentTaskWorkflowInput[]) => {
    const onTheirOwn = (agent: AgentTaskWorkflowInput) => child(agent).then(settle);
    // Most took their slot at submission; the others try once now.
    const asking = agents.filter((a) => !a.slotTaken);
    let attempts: Array<Awaited<ReturnType<SlotAttempt>>>;
    try {
      attempts = await Promise.all(asking.map((a) => trySlot!(a.taskId)));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Cancelled while taking the slots: each agent ends cancelled on its own path, which sees the scope cancelled.
      return void (await Promise.all(agents.map(onTheirOwn)));
    }
    const members = [...agents.filter((a) => a.slotTaken), ...asking.filter((_, i) => attempts[i] === 'acquired')];
    const later = asking.filter((_, i) => attempts[i] === 'waiting').map(onTheirOwn);
    // Gone: cancelled before it could start (its row is final), as on its own path.
    if (attempts.includes('gone')) settle('cancelled');
    const results: Map<string, WaveResult> = members.length ? await runWave(members, input.failurePolicy === 'fail_fast') : new Map<string, WaveResult>();
    await Promise.all([
      ...later,
      ...members.map(async (agent) => {
        const result = results.get(agent.taskId)!;
        if (typeof result === 'string') settle(result);
        else await onTheirOwn({ ...agent, timeoutSeconds: result.retry });
      }),
    ]);
  };

  try {
    await agentsScope.run(async () => {
      if (input.strategy === 'parallel') {
        const apart = waves ? input.agents.filter((a) => !a.modelOnly) : input.agents;
        await Promise.all([...apart.map(async (agent) => settle(await child(agent))), ...(waves ? [runWaveAgents(waveAgents)] : [])]);
        return;
      }
      for (const [i, agent] of input.agents.entries()) {
        if (CancellationScope.current().consideredCancelled) return;
        if (i > 0) await passResultsForward({ orchestrationId: input.orchestrationId, taskId: agent.taskId });
        const outcome = await child(agent);
        if (outcome !== 'completed' && input.failurePolicy === 'fail_fast') {
          failedFast = true;
          agentsScope.cancel();
          return;
        }
      }
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
  // The final state is written whatever happened above, even when this workflow is cancelled: as a
  // local activity (no task-queue round trip) since patch `orchestration-finish-local`.
  const finishOrchestration = patched('orchestration-finish-local')
    ? proxyLocalActivities<OrchestrationActivities>({ startToCloseTimeout: '1 minute', retry }).finishOrchestration
    : finishRemotely;
  return CancellationScope.nonCancellable(() =>
    finishOrchestration({ orchestrationId: input.orchestrationId, cancelled: agentsScope.consideredCancelled && !failedFast, failedFast }),
  );
}

/**
 * Slot attempts gathered per activation: every attempt made before the workflow next waits goes in
 * one local activity (`tryAgentSlots`, one statement), run outside the askers' cancellation scopes;
 * an asker whose scope is cancelled meanwhile stops waiting at once (its task is then ended as
 * cancelled, which frees a slot the attempt may have taken).
 */
function slotAttemptsTogether(): SlotAttempt {
  const { tryAgentSlots } = proxyLocalActivities<TaskActivities>({ startToCloseTimeout: '10 seconds' });
  type Waiter = { taskId: string; resolve: (state: Awaited<ReturnType<SlotAttempt>>) => void; reject: (err: unknown) => void };
  let waiting: Waiter[] = [];
  const flush = () => {
    const batch = waiting;
    waiting = [];
    CancellationScope.nonCancellable(() => tryAgentSlots(batch.map((w) => w.taskId))).then(
      (states) => batch.forEach((w, i) => w.resolve(states[i])),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  };
  return (taskId) => {
    if (!waiting.length) void Promise.resolve().then(flush);
    const attempt = new Promise<Awaited<ReturnType<SlotAttempt>>>((resolve, reject) => waiting.push({ taskId, resolve, reject }));
    return Promise.race([attempt, CancellationScope.current().cancelRequested]);
  };
}
