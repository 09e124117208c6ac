/**
 * A multi-agent orchestration. Each agent is an ordinary task whose workflow (agentTaskWorkflow,
 * workflow id = task id) runs as a child of this one, so cancelling the orchestration cancels
 * every child, and each task stays visible, streamable and cancellable on its own.
 *  - parallel: all agents at once; sequential: one after another, each given the previous
 *    agents' results first (activity `passResultsForward`).
 *  - best_effort: a failed agent does not stop the others; fail_fast: the first failure cancels
 *    the rest.
 */
import { CancellationScope, executeChild, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { OrchestrationActivities } from '../src/activities/orchestrations.js';
import { agentTaskWorkflow, type AgentTaskOutcome, type AgentTaskWorkflowInput } from './agent-task.js';

export interface OrchestrationWorkflowInput {
  orchestrationId: string;
  strategy: 'parallel' | 'sequential';
  failurePolicy: 'best_effort' | 'fail_fast';
  agents: AgentTaskWorkflowInput[];
}

export async function orchestrationWorkflow(input: OrchestrationWorkflowInput): Promise<string> {
  const { passResultsForward, finishOrchestration } = proxyActivities<OrchestrationActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  const child = (agent: AgentTaskWorkflowInput) =>
    executeChild(agentTaskWorkflow, { workflowId: agent.taskId, args: [agent] }).catch((err): AgentTaskOutcome => {
      if (isCancellation(err)) return 'cancelled';
      return 'failed';
    });

  const agentsScope = new CancellationScope();
  let failedFast = false;
  try {
    await agentsScope.run(async () => {
      if (input.strategy === 'parallel') {
        await Promise.all(
          input.agents.map(async (agent) => {
            const outcome = await child(agent);
            if (outcome !== 'completed' && input.failurePolicy === 'fail_fast' && !failedFast) {
              failedFast = true;
              agentsScope.cancel();
            }
          }),
        );
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
  // The final state is written whatever happened above, even when this workflow is cancelled.
  return CancellationScope.nonCancellable(() =>
    finishOrchestration({ orchestrationId: input.orchestrationId, cancelled: agentsScope.consideredCancelled && !failedFast, failedFast }),
  );
}
