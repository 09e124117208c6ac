/** Submits an agent task: validate, store, start its workflow (workflow id = task id). */
import { agentCatalog } from '../../agents/catalog.js';
import type { AgentTask } from '../../generated/prisma/client.js';
import { ValidationError } from '../../errors.js';
import { newId } from '../../ids.js';
import { metrics } from '../../metrics.js';
import { agentTaskWorkflow, type AgentTaskWorkflowInput } from '../../../workflows/agent-task.js';
import { start, startForRow } from '../../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { jsonBytes, requireStorage, storageAccount } from '../limits/storage.js';
import { requireTeamRole } from '../teams.js';
import { getProject } from '../projects/projects.js';
import { emitTaskEvent, rememberTaskInfo } from './task-events.js';
import { checkTaskSource } from './task-sources.js';
import { parseTaskInput, type TaskInput } from './task-input.js';

/** What starting a task needs (a request's services, or a worker's: bulk reruns start tasks from an activity). */
export type TaskStartDeps = Pick<ServiceDeps, 'db' | 'bus' | 'config' | 'temporal' | 'logger'>;

/** Rough duration: the analysers read about 2 MB/s on one core, plus any configured step delay. */
export function estimateDurationSeconds(input: TaskInput, stepDelayMs: number): number {
  const bytes = input.context.files.reduce((sum, f) => sum + f.content.length, 0);
  return Math.max(1, Math.ceil(bytes / 2_000_000 + (input.context.files.length * stepDelayMs) / 1000));
}

/**
 * The agent workflow's input for a task: the queue its agent runs on, and the model's queue when
 * the agent also asks the model (code_expert with MODEL_BASE_URL configured), and whether it is a
 * model call alone (an orchestration runs such agents together, in waves).
 */
export function agentWorkflowInput(config: ServiceDeps['config'], agentType: string, taskId: string, timeoutSeconds: number): AgentTaskWorkflowInput {
  const agent = agentCatalog[agentType];
  return {
    taskId,
    timeoutSeconds,
    heartbeatTimeoutSeconds: config.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS,
    agentQueue: config.taskQueues[agent.queue],
    ...(agent.kind === 'analyzer' && agent.modelAssist && config.MODEL_BASE_URL ? { modelQueue: config.taskQueues.gpu } : {}),
    ...(agent.kind === 'model' ? { modelOnly: true } : {}),
  };
}

/**
 * Stores a validated task and its `queued` event: the first half of a submission. Until its
 * workflow starts the task is only a row; the reconciler starts (or fails) a row whose start was
 * lost, so a gateway that dies here leaves nothing queued for ever.
 */
export async function createTaskRow(
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'config'>,
  principal: Pick<Principal, 'userId'>,
  input: TaskInput,
  teamId: string | null,
  rerunOfId: string | null = null,
): Promise<Pick<AgentTask, 'id' | 'agentType' | 'timeoutSeconds' | 'ownerId' | 'teamId' | 'tags'>> {
  const { config } = deps;
  const id = newId('task');
  const timeoutSeconds = input.timeoutSeconds ?? config.TASK_TIMEOUT_SECONDS;
  const task = await deps.db.agentTask.create({
    data: {
      id,
      ownerId: principal.userId,
      teamId,
      agentType: input.agentType,
      prompt: input.task,
      input: { context: input.context, projectId: input.projectId ?? null, maxTokens: input.maxTokens ?? null, temperature: input.temperature ?? null },
      timeoutSeconds,
      estimatedDurationSeconds: estimateDurationSeconds(input, config.AGENT_STEP_DELAY_MS),
      tags: input.tags,
      metadata: input.metadata,
      rerunOfId,
    },
    select: { id: true, agentType: true, timeoutSeconds: true, ownerId: true, teamId: true, tags: true, createdAt: true },
  });
  rememberTaskInfo(id, { ownerId: task.ownerId, teamId: task.teamId, agentType: task.agentType, tags: task.tags, createdAt: task.createdAt, orchestrationId: null });
  await emitTaskEvent(deps, id, 'progress', 'queued', { status: 'queued', progress: 0, message: 'Task queued' });
  return task;
}

/**
 * Starts the workflow of a stored task (workflow id = task id). With `rejectDuplicate` a task
 * whose workflow ever existed is refused (the reconciler's restart of a lost start).
 */
export async function startTaskWorkflow(
  deps: Pick<ServiceDeps, 'temporal' | 'config' | 'logger'>,
  task: Pick<AgentTask, 'id' | 'agentType' | 'timeoutSeconds' | 'ownerId' | 'teamId' | 'tags'>,
  options: { rejectDuplicate?: boolean } = {},
): Promise<void> {
  await start(deps, agentTaskWorkflow, {
    workflowId: task.id,
    args: [agentWorkflowInput(deps.config, task.agentType, task.id, task.timeoutSeconds)],
    rejectDuplicate: options.rejectDuplicate,
    index: { accountId: task.ownerId, teamId: task.teamId, agentType: task.agentType, tags: task.tags, resourceId: task.id },
  });
}

/**
 * Creates the task (once per idempotency key) and starts its workflow; returns the task id.
 * `rerunOf`: the task this one reruns (its idempotency keys are then apart from submissions').
 */
export async function executeAgentTask(
  deps: TaskStartDeps,
  principal: Principal,
  rawInput: unknown,
  idempotencyKey?: string | null,
  rerunOf: string | null = null,
): Promise<{ taskId: string; replayed: boolean }> {
  const { config } = deps;
  const input = parseTaskInput(rawInput, config.TASK_MAX_TIMEOUT_SECONDS);
  if (!agentCatalog[input.agentType].needsModel) await checkTaskSource(deps, principal, input);
  else if (input.projectId != null) await getProject(deps, principal, input.projectId);
  if (agentCatalog[input.agentType].needsModel && !config.MODEL_BASE_URL) {
    throw new ValidationError([{ field: 'agentType', message: `${input.agentType} needs a model and this server has none configured (MODEL_BASE_URL)` }]);
  }
  const teamId = input.teamId ?? principal.teamId;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: rerunOf ? 'rerunTask' : 'executeAgentTask', request: rerunOf ? { rerunOf } : input },
    async () => {
      await requireStorage(deps, storageAccount(principal), jsonBytes(input.context) + jsonBytes(input.task), 'this task');
      const task = await createTaskRow(deps, principal, input, teamId, rerunOf);
      const undo = async () => {
        await deps.db.event.deleteMany({ where: { streamId: task.id } });
        await deps.db.eventStream.deleteMany({ where: { id: task.id } });
        await deps.db.agentTask.delete({ where: { id: task.id } });
      };
      await startForRow(deps, { id: task.id, what: 'the task was not created', undo }, () => startTaskWorkflow(deps, task));
      return task.id;
    },
  );
  if (!replayed) {
    metrics.tasksSubmitted.inc({ agent_type: input.agentType });
    deps.logger.info({ taskId: resourceId, accountId: principal.userId, teamId, agentType: input.agentType }, 'task submitted');
  }
  return { taskId: resourceId, replayed };
}
