/**
 * Orchestrations (POST /v1/agents/orchestrate): several agents toward one goal. The
 * service creates one task per agent (ordinary tasks: listed, streamable, cancellable) and starts
 * the orchestration workflow, which runs each agent itself (no child workflows).
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { agentCatalog, agentTypes } from '../agents/catalog.js';
import { metrics } from '../metrics.js';
import type { Orchestration } from '../generated/prisma/client.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { appendEvent, publishStored, type StoredEvent } from '../events/event-store.js';
import { streamEvents } from '../events/event-stream.js';
import { idKind, newId } from '../ids.js';
import type { AgentTaskWorkflowInput } from '../../workflows/agent-task.js';
import { orchestrationWorkflow, type OrchestrationWorkflowInput } from '../../workflows/orchestration.js';
import { start, startForRow } from '../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from './deps.js';
import { withIdempotency } from './idempotency.js';
import { paginate, type PageArgs } from './pagination.js';
import { orchestrationFilterWhere, type OrchestrationFilter } from './orchestration-filter.js';
import { canSee, requireTeamRole } from './teams.js';
import { agentWorkflowInput, estimateDurationSeconds } from './tasks/execute-task.js';
import { fieldErrors, taskInputSchema } from './tasks/task-input.js';
import { insertQueuedEvents } from './tasks/task-events.js';
import { takeSlotsAtSubmission } from './tasks/agent-slots.js';
import { checkTaskSource } from './tasks/task-sources.js';
import { finishTask } from './tasks/task-lifecycle.js';
import { changeWithWebhookEvent } from './webhooks/events.js';
import { orchestrationWebhookEvent } from './webhooks/sources.js';

export const ORCHESTRATION_PAGE_MAX = 100;
const MAX_AGENTS = 50;

function orchestrationSchema(maxTimeout: number) {
  const task = taskInputSchema(maxTimeout);
  return z.object({
    goal: z.string().trim().min(1, 'must not be empty').max(20_000, 'must be at most 20,000 characters'),
    strategy: z.enum(['parallel', 'sequential'], { message: 'must be parallel or sequential' }).default('parallel'),
    failurePolicy: z.enum(['best_effort', 'fail_fast'], { message: 'must be best_effort or fail_fast' }).default('best_effort'),
    agents: z
      .array(z.string().refine((v) => v in agentCatalog, { message: `must be one of: ${agentTypes.join(', ')}` }))
      .min(1, 'must name at least one agent')
      .max(MAX_AGENTS, `must name at most ${MAX_AGENTS} agents`),
    context: task.shape.context.unwrap().extend({ language: z.string().max(50).nullish(), framework: z.string().max(50).nullish() }).default({ files: [] }),
    timeoutSeconds: task.shape.timeoutSeconds,
    teamId: task.shape.teamId,
    tags: task.shape.tags,
    metadata: task.shape.metadata,
  });
}

export type OrchestrationInput = z.infer<ReturnType<typeof orchestrationSchema>>;

/**
 * Creates the orchestration and its tasks, and starts its workflow (once per idempotency key).
 * `rerunOf`: the orchestration this one reruns (its idempotency keys are then apart from starts').
 */
export async function startOrchestration(
  deps: ServiceDeps,
  principal: Principal,
  raw: unknown,
  idempotencyKey?: string | null,
  rerunOf: string | null = null,
): Promise<{ id: string; replayed: boolean }> {
  const parsed = orchestrationSchema(deps.config.TASK_MAX_TIMEOUT_SECONDS).safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const input = parsed.data;
  await checkTaskSource(deps, principal, input);
  const needModel = input.agents.findIndex((a) => agentCatalog[a].needsModel);
  if (needModel >= 0 && !deps.config.MODEL_BASE_URL) {
    throw new ValidationError([{ field: `agents.${needModel}`, message: `${input.agents[needModel]} needs a model and this server has none configured (MODEL_BASE_URL)` }]);
  }
  const teamId = input.teamId ?? principal.teamId;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: rerunOf ? 'rerunOrchestration' : 'startOrchestration', request: rerunOf ? { rerunOf } : input },
    async () => {
      const id = newId('orchestration');
      const timeoutSeconds = input.timeoutSeconds ?? deps.config.TASK_TIMEOUT_SECONDS;
      const { language, framework, ...taskContext } = input.context;
      const agents: AgentTaskWorkflowInput[] = input.agents.map((agentType) => agentWorkflowInput(deps.config, agentType, newId('task'), timeoutSeconds));
      // The orchestration, its tasks, their `queued` events and the model agents' slots: one
      // transaction of four statements (50 agents were 50 inserts and 50 appends one after another
      // before the workflow could start).
      const createdAt = new Date();
      const shared = {
        ownerId: principal.userId,
        teamId,
        prompt: input.goal,
        input: { context: taskContext, maxTokens: null, temperature: null },
        timeoutSeconds,
        estimatedDurationSeconds: estimateDurationSeconds({ context: taskContext } as never, deps.config.AGENT_STEP_DELAY_MS),
        tags: input.tags ?? [], // the orchestration's agents carry its tags, so a tag filter on tasks finds them
        metadata: input.metadata ?? {},
        createdAt,
      };
      const tasks = input.agents.map((agentType, step) => ({ ...shared, id: agents[step].taskId, step, agentType }));
      const queued = await deps.db.$transaction(async (tx) => {
        await tx.orchestration.create({
          data: {
            id,
            ownerId: principal.userId,
            teamId,
            goal: input.goal,
            strategy: input.strategy,
            failurePolicy: input.failurePolicy,
            tags: input.tags,
            metadata: input.metadata,
            rerunOfId: rerunOf,
            context: { language: language ?? null, framework: framework ?? null, files: taskContext.files.map((f) => f.path), repository: taskContext.repository ?? null, branch: taskContext.branch ?? null, paths: taskContext.paths ?? null },
          },
        });
        // The agents share their input (the files): it goes to the database once, not once per agent.
        await tx.$executeRaw`
          INSERT INTO agent_tasks (id, owner_id, team_id, orchestration_id, step, agent_type, prompt, input, timeout_seconds, estimated_duration_seconds, tags, metadata, created_at)
          SELECT t.id, ${shared.ownerId}, ${teamId}::text, ${id}, t.step, t.agent_type, ${shared.prompt}, ${JSON.stringify(shared.input)}::jsonb,
                 ${timeoutSeconds}, ${shared.estimatedDurationSeconds}, ${shared.tags}::text[], ${JSON.stringify(shared.metadata)}::jsonb, ${createdAt}
          FROM unnest(${tasks.map((t) => t.id)}::text[], ${tasks.map((t) => t.step)}::int[], ${input.agents}::text[]) AS t(id, step, agent_type)`;
        const message = (step: number) => `Task queued (agent ${step + 1} of ${tasks.length} in ${id})`;
        const events = await insertQueuedEvents(tx, tasks.map((t) => ({ ...t, orchestrationId: id, message: message(t.step) })));
        // The model agents of a parallel run take their slots now: the workflow starts their wave without asking.
        const waveAgents = input.strategy === 'parallel' ? agents.filter((a) => a.modelOnly).map((a) => a.taskId) : [];
        const taken = await takeSlotsAtSubmission(tx, waveAgents);
        for (const [i, a] of agents.entries()) if (taken.has(a.taskId)) agents[i] = { ...a, slotTaken: true };
        return events;
      });
      await publishStored(deps.bus, queued);
      const undo = () => deps.db.orchestration.delete({ where: { id } }); // its tasks go with it
      await startForRow(deps, { id, what: 'the orchestration was not created', undo }, () =>
        startOrchestrationWorkflow(deps, { id, strategy: input.strategy, failurePolicy: input.failurePolicy, ownerId: principal.userId, teamId, tags: input.tags }, agents),
      );
      return id;
    },
  );
  if (!replayed) {
    metrics.orchestrationsSubmitted.inc();
    for (const agentType of input.agents) metrics.tasksSubmitted.inc({ agent_type: agentType });
    deps.logger.info({ orchestrationId: resourceId, accountId: principal.userId, strategy: input.strategy, agents: input.agents }, 'orchestration submitted');
  }
  return { id: resourceId, replayed };
}

/**
 * Starts the workflow of a stored orchestration (workflow id = orchestration id) with its agents'
 * inputs. With `rejectDuplicate` an orchestration whose workflow ever existed is refused (the
 * reconciler's restart of a lost start).
 */
export async function startOrchestrationWorkflow(
  deps: Pick<ServiceDeps, 'temporal' | 'config' | 'logger'>,
  o: Pick<Orchestration, 'id' | 'strategy' | 'failurePolicy' | 'ownerId' | 'teamId' | 'tags'>,
  agents: AgentTaskWorkflowInput[],
  options: { rejectDuplicate?: boolean } = {},
): Promise<void> {
  const workflowInput: OrchestrationWorkflowInput = {
    orchestrationId: o.id,
    strategy: o.strategy as OrchestrationWorkflowInput['strategy'],
    failurePolicy: o.failurePolicy as OrchestrationWorkflowInput['failurePolicy'],
    agents,
  };
  await start(deps, orchestrationWorkflow, {
    workflowId: o.id,
    args: [workflowInput],
    rejectDuplicate: options.rejectDuplicate,
    index: { accountId: o.ownerId, teamId: o.teamId, tags: o.tags, resourceId: o.id },
  });
}

/**
 * Starts the orchestration again with the same goal, agents, strategy, policy, files and team,
 * linked to the original (`rerunOfId`); the original is unchanged. Admission, limits and cost are a
 * new start's.
 */
export async function rerunOrchestration(deps: ServiceDeps, principal: Principal, id: string, idempotencyKey?: string | null): Promise<{ id: string; replayed: boolean }> {
  const original = await getOrchestration(deps, principal, id);
  const tasks = await orchestrationTasks(deps, id);
  const stored = original.context as { language?: string | null; framework?: string | null };
  const taskContext = (tasks[0]?.input as { context?: Record<string, unknown> } | undefined)?.context ?? {};
  const input = {
    goal: original.goal,
    strategy: original.strategy,
    failurePolicy: original.failurePolicy,
    agents: tasks.map((t) => t.agentType),
    context: { ...taskContext, language: stored.language ?? null, framework: stored.framework ?? null },
    timeoutSeconds: Math.min(tasks[0]?.timeoutSeconds ?? deps.config.TASK_TIMEOUT_SECONDS, deps.config.TASK_MAX_TIMEOUT_SECONDS),
    teamId: original.teamId,
    tags: original.tags,
    metadata: original.metadata,
  };
  return startOrchestration(deps, principal, input, idempotencyKey, original.id);
}

/** The orchestration if the caller may see it (its owner, or a member of its team); else 404. */
export async function getOrchestration(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Orchestration> {
  const o = idKind(id) === 'orchestration' ? await deps.db.orchestration.findUnique({ where: { id } }) : null;
  if (!o || !(await canSee(deps, principal, o))) throw new NotFoundError('orchestration', id);
  return o;
}

/**
 * The caller's orchestrations, or a team's with `filter.teamId`, narrowed by the filter; newest
 * first. `count` counts every orchestration the same scope and filter match (run only when asked for).
 */
export async function listOrchestrations(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { filter?: OrchestrationFilter }) {
  const where = await orchestrationFilterWhere(deps, principal, args.filter ?? {});
  const page = await paginate(args, ORCHESTRATION_PAGE_MAX, 'orchestration', (cursor, order, take) =>
    deps.db.orchestration.findMany({ where: { AND: [where, cursor] }, orderBy: { id: order }, take }),
  );
  return { ...page, count: () => deps.db.orchestration.count({ where }) };
}

/** The orchestration's tasks in their order. */
export function orchestrationTasks(deps: Pick<ServiceDeps, 'db'>, orchestrationId: string) {
  return deps.db.agentTask.findMany({ where: { orchestrationId }, orderBy: { step: 'asc' } });
}

/**
 * When the orchestration should be done, from its agents' estimates: parallel agents finish with
 * the slowest, sequential ones one after another.
 */
export async function estimatedCompletion(deps: Pick<ServiceDeps, 'db'>, o: Pick<Orchestration, 'id' | 'strategy' | 'createdAt'>): Promise<Date> {
  const rows = await deps.db.agentTask.findMany({ where: { orchestrationId: o.id }, select: { estimatedDurationSeconds: true } });
  const estimates = rows.map((t) => t.estimatedDurationSeconds);
  const seconds = o.strategy === 'sequential' ? estimates.reduce((a, b) => a + b, 0) : Math.max(0, ...estimates);
  return new Date(o.createdAt.getTime() + seconds * 1000);
}

/** The tasks of each orchestration, in step order, in one statement. */
export async function tasksOfOrchestrations(deps: Pick<ServiceDeps, 'db'>, orchestrationIds: readonly string[]) {
  const rows = await deps.db.agentTask.findMany({ where: { orchestrationId: { in: [...orchestrationIds] } }, orderBy: { step: 'asc' } });
  return orchestrationIds.map((id) => rows.filter((t) => t.orchestrationId === id));
}

/** Cancels the orchestration: Temporal cancellation reaches every running child. */
export async function cancelOrchestration(deps: ServiceDeps, principal: Principal, id: string): Promise<Orchestration> {
  const o = await getOrchestration(deps, principal, id);
  if (o.teamId) await requireTeamRole(deps, principal, o.teamId, 'member');
  if (o.status !== 'in_progress') {
    throw new ConflictError('orchestration_not_cancellable', `Orchestration ${id} already ended with status "${o.status}".`, { status: o.status });
  }
  try {
    await deps.temporal.workflow.getHandle(id).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  // The workflow writes the final state; wait briefly so the answer shows it.
  for (let i = 0; i < 50; i++) {
    const now = await deps.db.orchestration.findUniqueOrThrow({ where: { id } });
    if (now.status !== 'in_progress') return now;
    await new Promise((r) => setTimeout(r, 100));
  }
  return deps.db.orchestration.findUniqueOrThrow({ where: { id } });
}

export interface AggregatedResult {
  files_modified: number;
  tests_generated: number;
  security_issues: number;
  code_issues: number;
  failed_agents: string[];
  summary: string;
}

/**
 * Ends the orchestration: tasks that never started are cancelled, the results are aggregated
 * from what the agents produced, and the status says how it went: completed (every agent),
 * partial (best effort, some did not complete), failed (fail fast stopped it, or none completed),
 * cancelled. `interrupted`: its workflow ended in the task engine without it (terminated, timed
 * out, lost): every unfinished task ends failed with that error, the orchestration failed, and
 * the summary starts with the error's message.
 */
export async function finishOrchestration(
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>,
  input: { orchestrationId: string; cancelled: boolean; failedFast: boolean; interrupted?: { code: string; message: string } },
) {
  // What the aggregate needs, not the inputs (the agents' shared files, once per agent).
  const read = () =>
    deps.db.agentTask.findMany({ where: { orchestrationId: input.orchestrationId }, orderBy: { step: 'asc' }, select: { id: true, agentType: true, status: true, result: true } });
  let tasks = await read();
  // Agents that never started (cancelled or failed fast before their turn); with `interrupted`, running ones too.
  const unfinished = tasks.filter((t) => t.status === 'queued' || (input.interrupted && t.status === 'running'));
  if (unfinished.length) {
    await Promise.all(unfinished.map((t) => (input.interrupted ? finishTask(deps, t.id, 'failed', input.interrupted) : finishTask(deps, t.id, 'cancelled'))));
    tasks = await read();
  }
  const completed = tasks.filter((t) => t.status === 'completed');
  const findingsOf = (agent: string) =>
    completed.filter((t) => t.agentType === agent).reduce((n, t) => n + ((t.result as { findings?: unknown[] } | null)?.findings?.length ?? 0), 0);
  const failed = tasks.filter((t) => t.status !== 'completed').map((t) => `${t.agentType} (${t.status})`);
  const status = input.cancelled ? 'cancelled' : input.interrupted || input.failedFast || completed.length === 0 ? 'failed' : failed.length ? 'partial' : 'completed';
  const summaries = completed.map((t) => `${t.agentType}: ${(t.result as { summary?: string } | null)?.summary ?? 'done'}`);
  const written = completed.flatMap((t) => (t.result as { files?: Array<{ path: string; tests: number }> } | null)?.files ?? []);
  const aggregated: AggregatedResult = {
    // Files the agents wrote (test_gen's test files), each path once; the reviewers change none.
    files_modified: new Set(written.map((f) => f.path)).size,
    tests_generated: written.reduce((n, f) => n + f.tests, 0),
    security_issues: findingsOf('security_expert'),
    code_issues: findingsOf('code_expert'),
    failed_agents: failed,
    summary: [
      ...(input.interrupted ? [input.interrupted.message] : []),
      `${completed.length} of ${tasks.length} agents completed${failed.length ? `; not completed: ${failed.join(', ')}` : ''}.`,
      ...summaries,
    ].join(' '),
  };
  const aggregatedResult: object = aggregated; // a Json column takes it as a plain object
  const ended = await changeWithWebhookEvent(deps, async (tx) => {
    const changed = await tx.orchestration.updateMany({
      where: { id: input.orchestrationId, status: 'in_progress' },
      data: { status, aggregatedResult, completedAt: new Date() },
    });
    if (changed.count === 0) return { result: null, event: null };
    const row = await tx.orchestration.findUniqueOrThrow({ where: { id: input.orchestrationId } });
    return { result: row, event: orchestrationWebhookEvent(row) };
  });
  if (ended) {
    const seconds = (Date.now() - ended.createdAt.getTime()) / 1000;
    metrics.orchestrationsFinished.inc({ state: status });
    metrics.orchestrationRunTime.observe({ state: status }, seconds);
    deps.logger.info({ orchestrationId: ended.id, status, tasks: tasks.length, completed: completed.length, seconds }, 'orchestration finished');
  }
  await appendEvent(deps.db, deps.bus, {
    streamId: input.orchestrationId,
    type: 'orchestration',
    key: 'terminal',
    data: { status, progress: 100, message: aggregated.summary },
  });
  return status;
}

/** Before a sequential step: the task receives the results of the agents before it (in its input). */
export async function passResultsForward(deps: Pick<ServiceDeps, 'db'>, input: { orchestrationId: string; taskId: string }) {
  const task = await deps.db.agentTask.findUniqueOrThrow({ where: { id: input.taskId } });
  const before = await deps.db.agentTask.findMany({ where: { orchestrationId: input.orchestrationId, step: { lt: task.step ?? 0 } }, orderBy: { step: 'asc' } });
  const previous = before.map((t) => ({ agent_type: t.agentType, task_id: t.id, status: t.status, result: t.result }));
  await deps.db.agentTask.update({ where: { id: task.id }, data: { input: { ...(task.input as object), previous_results: previous } } });
}

/** The orchestration's events after `since` (every agent's, interleaved), then live until it ends. */
export function streamOrchestrationEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, since: number) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: id, since, isTerminal: (e: StoredEvent) => e.type === 'orchestration' });
}
