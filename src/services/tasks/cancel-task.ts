/** Cancels a queued or running task: final state at once, then Temporal cancellation reaches the agent. */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { AgentTask } from '../../generated/prisma/client.js';
import { ConflictError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { requireTeamRole } from '../teams.js';
import { getTask } from './query-tasks.js';
import { finishTask } from './task-lifecycle.js';

export async function cancelTask(deps: Pick<ServiceDeps, 'db' | 'bus' | 'temporal' | 'logger'>, principal: Principal, taskId: string): Promise<AgentTask> {
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
    await deps.temporal.workflow.getHandle(task.id).cancel();
  } catch (err) {
    // The workflow already closed (it finished in the same instant): the task's state is already final.
    if (!(err instanceof WorkflowNotFoundError)) deps.logger.warn({ err, taskId }, 'task cancelled; Temporal cancellation request failed');
  }
  return getTask(deps, principal, taskId);
}
