/** Cancels a queued or running task: final state at once, then Temporal cancellation reaches the agent. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { ConflictError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { requireTeamRole } from '../teams.js';
import { getTask, type TaskRow } from './query-tasks.js';
import { finishTask } from './task-lifecycle.js';
import { cancelAgentSignal } from '../../../workflows/definitions.js';

const ignoreClosed = (err: unknown) => {
  if (!(err instanceof WorkflowNotFoundError)) throw err;
};

export async function cancelTask(deps: Pick<ServiceDeps, 'db' | 'bus' | 'temporal' | 'logger'>, principal: Principal, taskId: string): Promise<TaskRow> {
  const task = await getTask(deps, principal, taskId);
  if (task.teamId) await requireTeamRole(deps, principal, task.teamId, 'member');
  const cancelled = await finishTask(deps, taskId, 'cancelled');
  if (!cancelled) {
    const current = await getTask(deps, principal, taskId);
    throw new ConflictError(
      'task_not_cancellable',
      `Task ${taskId} already finished with status "${current.status}"; only queued or running tasks can be cancelled.`,
      { status: current.status },
    );
  }
  try {
    // An orchestration's agent runs inside the orchestration's workflow; orchestrations started
    // before that have it as a child workflow with the task's id, like a task of its own.
    if (task.orchestrationId) await deps.temporal.workflow.getHandle(task.orchestrationId).signal(cancelAgentSignal, task.id).catch(ignoreClosed);
    await deps.temporal.workflow.getHandle(task.id).cancel();
  } catch (err) {
    // No such workflow (an orchestration's agent), or it already closed (it finished in the same
    // instant): the task's state is already final.
    if (!(err instanceof WorkflowNotFoundError)) deps.logger.warn({ err, taskId }, 'task cancelled; Temporal cancellation request failed');
  }
  return getTask(deps, principal, taskId);
}
