/**
 * The resources a workflow drives, as the reconciler sees them: which rows are unfinished, the id
 * of the workflow that should finish each, how to start that workflow again when its start was
 * lost, and how to end a row whose workflow ended without it. Every ending goes through the same
 * service function as a normal end (same final state, final event, webhook event, slot release);
 * those functions change a row only while it is unfinished, so two reconcilers (or a reconciler
 * and the workflow itself) never end a row twice.
 */
import { idTime } from '../../ids.js';
import type { WorkflowEnd } from '../../temporal/workflow-state.js';
import type { ServiceDeps } from '../deps.js';
import { failGeneration, generationWorkflowId, startGenerationWorkflow } from '../generations.js';
import { finishOrchestration, startOrchestrationWorkflow } from '../orchestrations.js';
import { finishIndex } from '../projects/index-run.js';
import { startReviewWorkflow } from '../reviews/reviews.js';
import { failReview } from '../reviews/run-review.js';
import { agentWorkflowInput, startTaskWorkflow } from '../tasks/execute-task.js';
import { finishTask } from '../tasks/task-lifecycle.js';
import { failVisualization, startVisualizationWorkflow } from '../visualizations/visualizations.js';
import { failInterruptedDelivery } from '../webhooks/deliver.js';

export type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'temporal' | 'config' | 'logger'>;

/** Why the reconciler ends a row: how its workflow ended, or `lost` (Temporal has none for it). */
export interface Ending {
  cause: WorkflowEnd | 'lost';
  /** The terminate request's reason (shown to the caller), or a failure message (logged only). */
  reason: string | null;
}

/** The longest operator reason kept in a resource's error message. */
const REASON_MAX = 500;

/**
 * The error a resource ends with, in words safe to show: the operator's terminate reason is shown
 * (the operator wrote it for this), a workflow failure's message is not (it may hold internals).
 */
export function endingError({ cause, reason }: Ending): { code: string; message: string } {
  switch (cause) {
    case 'terminated': {
      const why = reason ? ` (reason: ${reason.slice(0, REASON_MAX)})` : '';
      return { code: 'workflow_terminated', message: `The workflow was terminated in the task engine${why}.` };
    }
    case 'timed_out':
      return { code: 'task_timeout', message: 'The workflow exceeded its time limit in the task engine.' };
    case 'cancelled':
      return { code: 'workflow_cancelled', message: 'The workflow was cancelled in the task engine.' };
    case 'failed':
      return { code: 'workflow_failed', message: 'The workflow failed in the task engine. Submit it again, and contact support with its id if it fails again.' };
    case 'completed':
      return { code: 'workflow_failed', message: 'The workflow ended without recording a result. Submit it again, and contact support with its id if it happens again.' };
    case 'lost':
      return { code: 'workflow_lost', message: 'The task engine has no workflow for it (its start was lost, or its record is gone). Submit it again.' };
  }
}

/** One kind of workflow-driven resource. */
export interface ResourceKind<Row extends { id: string }> {
  name: string;
  /** Unfinished rows with an id after `after`, in id order, at most `take`. */
  unfinished(deps: Deps, after: string, take: number): Promise<Row[]>;
  workflowId(row: Row): string;
  /**
   * When the row's workflow was asked for; the grace and the restart window count from it. Null:
   * not known (a generation's retry), so a missing workflow is started at once and never counted lost.
   */
  requestedAt(row: Row): Date | null;
  /** A row Temporal has no workflow for that is not the reconciler's to judge (an orchestration's agent before its turn). */
  leaveWhenMissing?(row: Row): boolean;
  /** Starts the row's workflow again (same workflow id; refused if one ever existed), when the row can still run from the start. */
  restart?: { allowed(row: Row): boolean; start(deps: Deps, row: Row): Promise<void> };
  /** Ends the unfinished row the way its workflow would have (a no-op when it already ended). */
  end(deps: Deps, row: Row, ending: Ending): Promise<void>;
}

const kind = <Row extends { id: string }>(k: ResourceKind<Row>) => k;

const tasks = kind({
  name: 'task',
  unfinished: (deps, after, take) =>
    deps.db.agentTask.findMany({
      where: { status: { in: ['queued', 'running'] }, id: { gt: after } },
      orderBy: { id: 'asc' },
      take,
      select: { id: true, status: true, slotTaken: true, agentType: true, timeoutSeconds: true, ownerId: true, teamId: true, tags: true, createdAt: true, orchestration: { select: { status: true } } },
    }),
  workflowId: (t) => t.id,
  requestedAt: (t) => t.createdAt,
  // An orchestration's agents run inside its workflow (no workflow of their own), or, for one started
  // before that, as child workflows it starts itself (sequential ones one after another).
  leaveWhenMissing: (t) => t.orchestration?.status === 'in_progress',
  restart: {
    allowed: (t) => t.status === 'queued' && !t.slotTaken && !t.orchestration,
    start: (deps, t) => startTaskWorkflow(deps, t, { rejectDuplicate: true }),
  },
  async end(deps, t, ending) {
    // A task has its own states for these two; the rest end it failed with the reason.
    if (ending.cause === 'cancelled' || ending.cause === 'timed_out') await finishTask(deps, t.id, ending.cause);
    else await finishTask(deps, t.id, 'failed', endingError(ending));
  },
});

const orchestrations = kind({
  name: 'orchestration',
  unfinished: (deps, after, take) =>
    deps.db.orchestration.findMany({
      where: { status: 'in_progress', id: { gt: after } },
      orderBy: { id: 'asc' },
      take,
      select: {
        id: true,
        strategy: true,
        failurePolicy: true,
        ownerId: true,
        teamId: true,
        tags: true,
        createdAt: true,
        tasks: { orderBy: { step: 'asc' }, select: { id: true, status: true, slotTaken: true, agentType: true, timeoutSeconds: true } },
      },
    }),
  workflowId: (o) => o.id,
  requestedAt: (o) => o.createdAt,
  restart: {
    // Only while none of its agents has begun: the workflow starts them all from the first.
    allowed: (o) => o.tasks.every((t) => t.status === 'queued' && !t.slotTaken),
    start: (deps, o) =>
      startOrchestrationWorkflow(
        deps,
        o,
        o.tasks.map((t) => agentWorkflowInput(deps.config, t.agentType, t.id, t.timeoutSeconds)),
        { rejectDuplicate: true },
      ),
  },
  async end(deps, o, ending) {
    if (ending.cause === 'cancelled') await finishOrchestration(deps, { orchestrationId: o.id, cancelled: true, failedFast: false });
    else await finishOrchestration(deps, { orchestrationId: o.id, cancelled: false, failedFast: false, interrupted: endingError(ending) });
  },
});

const reviews = kind({
  name: 'review',
  unfinished: (deps, after, take) =>
    deps.db.review.findMany({
      where: { status: { in: ['queued', 'running'] }, id: { gt: after } },
      orderBy: { id: 'asc' },
      take,
      select: { id: true, status: true, createdAt: true },
    }),
  workflowId: (r) => r.id,
  requestedAt: (r) => r.createdAt,
  restart: { allowed: (r) => r.status === 'queued', start: (deps, r) => startReviewWorkflow(deps, r.id, { rejectDuplicate: true }) },
  async end(deps, r, ending) {
    const error = endingError(ending);
    await failReview(deps, r.id, error.message, error.code);
  },
});

const generations = kind({
  name: 'generation',
  unfinished: (deps, after, take) =>
    deps.db.generation.findMany({
      where: { status: 'processing', id: { gt: after } },
      orderBy: { id: 'asc' },
      take,
      select: { id: true, attempts: true, createdAt: true },
    }),
  // Each attempt has its own workflow; only the current one's matters.
  workflowId: (g) => generationWorkflowId(g.id, g.attempts),
  requestedAt: (g) => (g.attempts === 1 ? g.createdAt : null),
  // The workflow reads everything from the row, and does nothing once the attempt has ended.
  restart: { allowed: () => true, start: (deps, g) => startGenerationWorkflow(deps, g.id, g.attempts, { rejectDuplicate: true }) },
  async end(deps, g, ending) {
    await failGeneration(deps, g.id, endingError(ending), g.attempts);
  },
});

const indexRuns = kind({
  name: 'project index run',
  unfinished: (deps, after, take) =>
    deps.db.project
      .findMany({
        where: { indexStatus: 'indexing', indexRunId: { not: null }, id: { gt: after } },
        orderBy: { id: 'asc' },
        take,
        select: { id: true, indexRunId: true },
      })
      .then((rows) => rows.map((p) => ({ id: p.id, runId: p.indexRunId! }))),
  workflowId: (p) => p.runId,
  requestedAt: (p) => idTime(p.runId),
  // No restart: a repository run's branch lives only in its workflow's input. A new run can be asked for at once.
  async end(deps, p, ending) {
    if (ending.cause === 'cancelled') await finishIndex(deps, { projectId: p.id, runId: p.runId, status: 'cancelled', stats: null });
    else await finishIndex(deps, { projectId: p.id, runId: p.runId, status: 'failed', stats: null, error: endingError(ending).message });
  },
});

const visualizations = kind({
  name: 'visualization',
  unfinished: (deps, after, take) =>
    deps.db.visualization.findMany({
      where: { status: 'processing', id: { gt: after } },
      orderBy: { id: 'asc' },
      take,
      select: { id: true, ownerId: true, teamId: true, createdAt: true },
    }),
  workflowId: (v) => v.id,
  requestedAt: (v) => v.createdAt,
  // The analysis reads everything from the row and starts over cleanly (its clone directory is per attempt).
  restart: { allowed: () => true, start: (deps, v) => startVisualizationWorkflow(deps, v, { rejectDuplicate: true }) },
  async end(deps, v, ending) {
    await failVisualization(deps, v.id, endingError(ending).message);
  },
});

const webhookDeliveries = kind({
  name: 'webhook delivery',
  // Undispatched rows are the dispatcher's sweep's (it starts them); these had their workflow started.
  unfinished: (deps, after, take) =>
    deps.db.webhookDelivery
      .findMany({
        where: { status: 'pending', dispatchedAt: { not: null }, id: { gt: after } },
        orderBy: { id: 'asc' },
        take,
        select: { id: true, dispatchedAt: true },
      })
      .then((rows) => rows.map((d) => ({ id: d.id, dispatchedAt: d.dispatchedAt! }))),
  workflowId: (d) => d.id,
  requestedAt: (d) => d.dispatchedAt,
  async end(deps, d, ending) {
    await failInterruptedDelivery(deps, d.id, endingError(ending));
  },
});

/** Every kind, in the order a pass visits them (orchestrations before their agents' tasks). */
export const resourceKinds: ResourceKind<{ id: string }>[] = [orchestrations, tasks, reviews, generations, indexRuns, visualizations, webhookDeliveries];
