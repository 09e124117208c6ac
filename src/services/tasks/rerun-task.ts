/** Reruns a task: a new task with the same input, linked to the original, which is unchanged. */
import { NotFoundError } from '../../errors.js';
import type { Principal } from '../deps.js';
import { executeAgentTask, type TaskStartDeps } from './execute-task.js';
import { getTask } from './query-tasks.js';

/** The input a task was submitted with, as `executeAgentTask` takes it. */
interface StoredTaskInput {
  context?: unknown;
  projectId?: string | null;
  maxTokens?: number | null;
  temperature?: number | null;
}

/**
 * Starts a new task with the original's prompt, agent, context, options and team (`rerunOfId` links
 * it); 404 for a task the caller cannot see. Admission, limits and cost are a new submission's.
 */
export async function rerunTask(deps: TaskStartDeps, principal: Principal, taskId: string, idempotencyKey?: string | null): Promise<{ taskId: string; replayed: boolean }> {
  const original = await getTask(deps, principal, taskId);
  // The reads leave the submitted context out; a rerun is what needs it.
  const stored = await deps.db.agentTask.findUnique({ where: { id: original.id }, select: { input: true } });
  if (!stored) throw new NotFoundError('task', taskId); // deleted in between
  const input = stored.input as StoredTaskInput;
  return executeAgentTask(
    deps,
    principal,
    {
      task: original.prompt,
      agentType: original.agentType,
      context: input.context,
      projectId: input.projectId ?? null,
      maxTokens: input.maxTokens ?? null,
      temperature: input.temperature ?? null,
      timeoutSeconds: Math.min(original.timeoutSeconds, deps.config.TASK_MAX_TIMEOUT_SECONDS),
      teamId: original.teamId,
      tags: original.tags,
      metadata: original.metadata as Record<string, unknown>,
    },
    idempotencyKey,
    original.id,
  );
}
