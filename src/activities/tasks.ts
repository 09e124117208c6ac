/** Activities of the agent-task workflow: thin over the task services and the agents. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { agentCatalog, analyzerAgent, type AnalyzerAgent } from '../agents/catalog.js';
import type { Finding, SourceFile } from '../agents/security-expert.js';
import { databaseUnavailable } from '../db/unavailable.js';
import type { ServiceDeps } from '../services/deps.js';
import { tryAcquireSlot } from '../services/tasks/agent-slots.js';
import type { TaskAnalysis } from '../services/tasks/task-result.js';
import { loadTaskFiles, TaskSourceError } from '../services/tasks/task-sources.js';
import { completeTask, finishTask, isCompleted, reportProgress, startTask } from '../services/tasks/task-lifecycle.js';
import { AGENT_INPUT_ERROR } from '../../workflows/definitions.js';

interface Checkpoint {
  next: number;
  findings: Finding[];
}

/**
 * The files a task's agent analyses (given inline, cloned from its repository, or its project's
 * index), heartbeating `checkpoint` while git runs. A source that cannot be read fails the task
 * at once with the reason (retrying would not help).
 */
export async function taskFiles(deps: Pick<ServiceDeps, 'db' | 'bus' | 'config'>, taskId: string, input: unknown, checkpoint?: unknown): Promise<SourceFile[]> {
  const ctx = Context.current();
  try {
    const { files, description } = await loadTaskFiles(deps, input, { signal: ctx.cancellationSignal, beat: () => ctx.heartbeat(checkpoint) });
    if (description) await reportProgress(deps, taskId, { key: 'source', progress: 1, message: description }).catch(() => {});
    return files;
  } catch (err) {
    if (err instanceof TaskSourceError) throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: err.message, nonRetryable: true });
    throw err;
  }
}

const builtinAnalysis = (findings: Finding[], note: string): TaskAnalysis => ({ mode: 'builtin', builtinFindings: findings.length, modelFindings: 0, note });

/** Creates the activities with their dependencies; `stepDelayMs` slows each file (demos, tests). */
export function createTaskActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger' | 'config'>, options: { stepDelayMs: number }) {
  /**
   * A database step of the running agent. A database outage must not spend the activity's attempts
   * (they are for the agent's own failures, and a task would end failed because its progress could
   * not be written): while the database is unavailable the step is tried again each second, the
   * activity heartbeats `checkpoint` (where it stands) so Temporal keeps it alive, and cancellation
   * or the task's time limit still end the wait.
   */
  async function throughOutage<T>(step: () => Promise<T>, checkpoint: unknown): Promise<T> {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(checkpoint), 1000);
    try {
      for (let waited = 0; ; waited++) {
        try {
          return await step();
        } catch (err) {
          if (!databaseUnavailable(err)) throw err;
          if (waited === 0) deps.logger.warn({ workflowId: ctx.info.workflowExecution?.workflowId }, 'the database is unavailable: the agent waits for it');
          ctx.heartbeat(checkpoint);
          await ctx.sleep(1000);
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * The agent's findings over the files, file by file, resuming from the last heartbeat after a
   * crash; with the last checkpoint it heartbeated (what a later step heartbeats while it waits).
   */
  async function analyze(taskId: string, agent: AnalyzerAgent, files: SourceFile[]): Promise<{ findings: Finding[]; checkpoint: Checkpoint }> {
    const ctx = Context.current();
    const checkpoint = (ctx.info.heartbeatDetails as Checkpoint | undefined) ?? { next: 0, findings: [] };
    const findings = [...checkpoint.findings];
    for (let i = checkpoint.next; i < files.length; i++) {
      if (options.stepDelayMs > 0) await ctx.sleep(options.stepDelayMs); // rejects at once on cancellation
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      const found = agent.analyzeFile(files[i]);
      // The event first, then the checkpoint: a crash between the two repeats the file (its event is
      // deduplicated by key) instead of skipping its event for good.
      const step = { key: `file:${i}`, progress: Math.min(99, Math.floor(((i + 1) / files.length) * 100)), message: `Analyzed ${files[i].path} (${i + 1}/${files.length})` };
      await throughOutage(() => reportProgress(deps, taskId, step), { next: i, findings } satisfies Checkpoint);
      findings.push(...found);
      ctx.heartbeat({ next: i + 1, findings } satisfies Checkpoint);
    }
    const last: Checkpoint = { next: files.length, findings: [...findings] };
    if (agent.analyzeAll) findings.push(...agent.analyzeAll(files));
    return { findings, checkpoint: last };
  }

  return {
    /** One attempt at the task's agent slot, without waiting (run as a local activity: the fast path). */
    async tryAgentSlot(taskId: string): Promise<'acquired' | 'gone' | 'waiting'> {
      return (await tryAcquireSlot(deps, taskId)).state;
    },

    /** `tryAgentSlot` for several tasks at once (an orchestration's agents; one statement), in their order. */
    async tryAgentSlots(taskIds: string[]): Promise<Array<'acquired' | 'gone' | 'waiting'>> {
      return Promise.all(taskIds.map(async (taskId) => (await tryAcquireSlot(deps, taskId)).state));
    },

    /**
     * Runs the task's agent over its files, resuming from the last heartbeat after a worker crash.
     * Returns false when the task had already ended (cancelled) before its result could be stored.
     */
    async runAgent(taskId: string): Promise<boolean> {
      const resumeFrom: unknown = Context.current().info.heartbeatDetails;
      const task = await throughOutage(() => startTask(deps, taskId), resumeFrom);
      // Already over: a previous attempt completed it, or it was cancelled.
      if (!task) return throughOutage(() => isCompleted(deps, taskId), resumeFrom);
      const agent = agentCatalog[task.agentType];
      if (!agent || agent.kind === 'model') {
        throw ApplicationFailure.create({ type: AGENT_INPUT_ERROR, message: `Agent ${task.agentType} is not available on this worker.`, nonRetryable: true });
      }
      const files = await taskFiles(deps, taskId, task.input, resumeFrom);
      if (agent.kind === 'generator') {
        const out = agent.generate(files);
        const tests = out.files.reduce((n, f) => n + f.tests, 0);
        const summary = `Generated ${tests} tests in ${out.files.length} files${out.skipped.length ? `; skipped ${out.skipped.join(', ')}` : ''}`;
        return completeTask(deps, taskId, { result: { findings: [], summary, files: out.files }, promptTokens: 0, completionTokens: 0, costUsd: 0 });
      }
      const { findings, checkpoint } = await analyze(taskId, agent, files);
      const result = {
        findings,
        summary: agent.summarize(findings),
        ...(agent.modelAssist ? { analysis: builtinAnalysis(findings, 'No model is configured (MODEL_BASE_URL), so these are the built-in findings alone.') } : {}),
      };
      return throughOutage(
        () => completeTask(deps, taskId, { result, promptTokens: 0, completionTokens: 0, costUsd: 0 }),
        checkpoint,
      );
    },

    /**
     * The first half of a model-assisted agent: the built-in analysis, returned to the workflow
     * (not stored) for the model step. `running: false` when the task already ended.
     */
    async analyzeForModel(taskId: string): Promise<{ running: true; findings: Finding[] } | { running: false; stored: boolean }> {
      const resumeFrom: unknown = Context.current().info.heartbeatDetails;
      const task = await throughOutage(() => startTask(deps, taskId), resumeFrom);
      if (!task) return { running: false, stored: await throughOutage(() => isCompleted(deps, taskId), resumeFrom) };
      const files = await taskFiles(deps, taskId, task.input, resumeFrom);
      return { running: true, findings: (await analyze(taskId, analyzerAgent(task.agentType), files)).findings };
    },

    /** Completes a model-assisted task with its built-in findings alone, saying why. */
    async completeBuiltin(taskId: string, findings: Finding[], note: string): Promise<boolean> {
      const task = await deps.db.agentTask.findUniqueOrThrow({ where: { id: taskId }, select: { agentType: true } });
      return completeTask(deps, taskId, {
        result: { findings, summary: analyzerAgent(task.agentType).summarize(findings), analysis: builtinAnalysis(findings, note) },
        promptTokens: 0,
        completionTokens: 0,
        costUsd: 0,
      });
    },

    /** Ends several tasks (a wave's agents) as failed, cancelled or timed out, in one statement; no-op for those already final. */
    async finishTasks(items: Array<{ taskId: string; status: 'failed' | 'cancelled' | 'timed_out'; error?: { code: string; message: string } }>) {
      await Promise.all(items.map((item) => finishTask(deps, item.taskId, item.status, item.error)));
    },

    /** Ends the task as failed, cancelled or timed out (no-op when already final). */
    async finishTask(input: { taskId: string; status: 'failed' | 'cancelled' | 'timed_out'; error?: { code: string; message: string } }) {
      await finishTask(deps, input.taskId, input.status, input.error);
    },
  };
}

export type TaskActivities = ReturnType<typeof createTaskActivities>;
