/**
 * The activities of the gpu queue: `runAgent` for agents that need a model (the task and its
 * files go to the configured OpenAI-compatible endpoint, the answer streams back), and
 * `refineWithModel`, the model step of built-in agents that also ask the model (code_expert). Streamed text becomes
 * progress events (about every 200 characters); tokens come from the provider's usage and the cost
 * from MODEL_*_PRICE_PER_MTOK. A 429 or 5xx is retried by Temporal with backoff (only the attempt
 * that completes is billed); a 4xx is not. Cancellation aborts the HTTP call.
 *
 * `runAgentWave` runs the model agents of a parallel orchestration together in one activity (see
 * workflows/agent-wave.ts): each agent is still its own task (row, stream, result, webhook event),
 * begun and completed in the same batched statements as single agents; the activity heartbeats
 * once a second for all of them and then stops the calls of agents whose task has ended meanwhile
 * (cancelled through the API, or timed out by the workflow).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { analyzerAgent } from '../agents/catalog.js';
import type { ChatMessage } from '../agents/model-client.js';
import { callModel, type CallOptions } from './model-call.js';
import type { Finding, SourceFile } from '../agents/security-expert.js';
import type { Config } from '../config.js';
import type { ServiceDeps } from '../services/deps.js';
import type { TaskAnalysis } from '../services/tasks/task-result.js';
import { beginTask, completeTask, isCompleted, reportProgress } from '../services/tasks/task-lifecycle.js';
import { taskFiles } from './tasks.js';
import type { WaveOutcome } from '../../workflows/agent-wave.js';

/** How often a wave heartbeats and looks for its agents' tasks that ended meanwhile. */
const WAVE_CHECK_MS = 1000;

const PROGRESS_EVERY_CHARS = 200;
const MAX_CONTEXT_CHARS = 200_000;

export function createModelActivities(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>, config: Config) {
  /**
   * Streams one chat completion for the task (progress events as text arrives, heartbeats for
   * cancellation) and prices it. Errors become what Temporal should do with them.
   */
  /** The completion for the task, its streamed text as progress events, priced. */
  /** `announced`: the task's `started` event, still being written when the call goes out; awaited before the first progress event. */
  async function ask(taskId: string, messages: ChatMessage[], options: Pick<CallOptions, 'maxTokens' | 'temperature' | 'signal' | 'heartbeats'> = {}, announced: Promise<void> = Promise.resolve()) {
    let streamed = 0;
    let reported = 0;
    const answer = await callModel(config, messages, {
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      signal: options.signal,
      heartbeats: options.heartbeats,
      heartbeat: () => ({ streamed }),
      onDelta: async (delta) => {
        streamed += delta.length;
        if (streamed - reported >= PROGRESS_EVERY_CHARS) {
          reported = streamed;
          await announced;
          await reportProgress(deps, taskId, { key: `stream:${streamed}`, progress: Math.min(95, 5 + Math.floor(streamed / 100)), message: `Model streamed ${streamed} characters` });
        }
      },
    });
    const cost = (answer.promptTokens * config.MODEL_PROMPT_PRICE_PER_MTOK + answer.completionTokens * config.MODEL_COMPLETION_PRICE_PER_MTOK) / 1_000_000;
    return { ...answer, costUsd: Math.round(cost * 1e6) / 1e6 };
  }

  const filesBlock = (files: SourceFile[]) => files.map((f) => `--- ${f.path}\n${f.content}`).join('\n\n').slice(0, MAX_CONTEXT_CHARS);

  /**
   * One model agent: begins its task, asks the model about the task and its files, completes it.
   * false when the task had ended before its result could be stored (cancelled, timed out).
   */
  async function runModelAgent(taskId: string, call: Pick<CallOptions, 'signal' | 'heartbeats'> = {}): Promise<boolean> {
    // The call goes out while the `started` event is written (one batch of appends less before the model's wait).
    const begun = await beginTask(deps, taskId);
    if (!begun) return isCompleted(deps, taskId); // a previous attempt completed it, or it was cancelled
    const { task, announced } = begun;
    const input = task.input as { context?: { files?: SourceFile[]; repository?: string | null }; projectId?: string | null; maxTokens?: number | null; temperature?: number | null; previous_results?: unknown };
    // A repository or a project is read here (its `source` event after `started`); a model agent may also run on the task alone, without files.
    const fromSource = Boolean(input.context?.repository || input.projectId);
    const files = fromSource ? await announced.then(() => taskFiles({ ...deps, config }, taskId, input)) : (input.context?.files ?? []);
    const previous = input.previous_results ? `\n\nResults of the agents before you:\n${JSON.stringify(input.previous_results).slice(0, 20_000)}` : '';
    const answer = await ask(
      taskId,
      [
        { role: 'system', content: 'You are a senior software engineer. Answer the task about the files precisely and concisely.' },
        { role: 'user', content: `${task.prompt}\n\nFiles:\n${filesBlock(files)}${previous}` },
      ],
      { maxTokens: input.maxTokens, temperature: input.temperature, ...call },
      announced,
    );
    await announced;
    return completeTask(deps, taskId, {
      result: { findings: [], summary: answer.text },
      promptTokens: answer.promptTokens,
      completionTokens: answer.completionTokens,
      costUsd: answer.costUsd,
    });
  }

  /** The ids among `taskIds` whose task has ended (or is gone). */
  async function endedAmong(taskIds: string[]): Promise<string[]> {
    // Queued counts as live: a wave's task is queued (its slot taken) until its agent begins it.
    const live = await deps.db.agentTask.findMany({ where: { id: { in: taskIds }, status: { in: ['queued', 'running'] } }, select: { id: true } });
    const still = new Set(live.map((t) => t.id));
    return taskIds.filter((id) => !still.has(id));
  }

  return {
    runAgent: (taskId: string): Promise<boolean> => runModelAgent(taskId),

    /**
     * The model agents of a wave, all at once (their slots are taken). Each agent's outcome:
     * `completed`; `ended` (its task ended before its result was stored); `failed` with the
     * model's refusal (a 4xx: trying again would not help); `retry` (unavailable, 5xx, too slow:
     * the workflow runs it again on its own, with Temporal's retries). With `failFast`, the first
     * failure stops the others (`stopped`). Cancelling the activity stops every call.
     */
    async runAgentWave(input: { taskIds: string[]; failFast: boolean }): Promise<Record<string, WaveOutcome>> {
      const ctx = Context.current();
      const calls = new Map(input.taskIds.map((id) => [id, new AbortController()]));
      const outcomes: Record<string, WaveOutcome> = {};
      const stopped = new Set<string>();
      const stopOthers = () => {
        for (const [id, call] of calls) {
          stopped.add(id);
          call.abort();
        }
      };
      const check = setInterval(() => {
        ctx.heartbeat({ running: calls.size });
        if (!calls.size) return;
        endedAmong([...calls.keys()]).then(
          (ended) => ended.forEach((id) => calls.get(id)?.abort()),
          (err: unknown) => deps.logger.warn({ err }, 'agent wave: could not look up its tasks; trying again at the next heartbeat'),
        );
      }, WAVE_CHECK_MS);
      try {
        await Promise.all(
          input.taskIds.map(async (taskId) => {
            const call = calls.get(taskId)!;
            try {
              outcomes[taskId] = (await runModelAgent(taskId, { signal: call.signal, heartbeats: false })) ? 'completed' : 'ended';
            } catch (err) {
              if (ctx.cancellationSignal.aborted) throw err;
              if (call.signal.aborted) outcomes[taskId] = stopped.has(taskId) ? 'stopped' : 'ended';
              else if (err instanceof ApplicationFailure && err.nonRetryable) {
                outcomes[taskId] = { failed: err.message };
                if (input.failFast) stopOthers();
              } else {
                deps.logger.warn({ err, taskId }, 'agent wave: the model call failed; the agent runs again on its own');
                outcomes[taskId] = 'retry';
              }
            } finally {
              calls.delete(taskId);
            }
          }),
        );
      } finally {
        clearInterval(check);
      }
      return outcomes;
    },

    /**
     * The model step of a model-assisted agent (code_expert): the model reviews the files with the
     * built-in findings in hand; what it adds is kept when it points at a real line of a given
     * file and does not repeat a built-in finding. An answer that is not a JSON array keeps the
     * built-in findings alone (and says so); the tokens are billed either way.
     */
    async refineWithModel(taskId: string, builtin: Finding[]): Promise<boolean> {
      const task = await deps.db.agentTask.findUniqueOrThrow({ where: { id: taskId }, select: { agentType: true, prompt: true, input: true, status: true } });
      if (task.status !== 'running') return isCompleted(deps, taskId);
      const agent = analyzerAgent(task.agentType);
      const files = await taskFiles({ ...deps, config }, taskId, task.input);
      const known = builtin.map((f) => `${f.file}:${f.line} ${f.title}`).join('\n') || '(none)';
      const answer = await ask(taskId, [
        { role: 'system', content: agent.modelAssist!.instructions },
        { role: 'user', content: `Task: ${task.prompt}\n\nAlready found by the built-in analyzer:\n${known}\n\nFiles:\n${filesBlock(files)}` },
      ]);
      const parsed = parseModelFindings(answer.text, files, builtin);
      const findings = [...builtin, ...(parsed ?? [])];
      const analysis: TaskAnalysis = {
        mode: 'builtin+model',
        builtinFindings: builtin.length,
        modelFindings: parsed?.length ?? 0,
        note: parsed === null ? 'The model answered something other than a JSON array of findings; its answer was not used.' : null,
      };
      return completeTask(deps, taskId, {
        result: { findings, summary: agent.summarize(findings), analysis },
        promptTokens: answer.promptTokens,
        completionTokens: answer.completionTokens,
        costUsd: answer.costUsd,
      });
    },
  };
}

export type ModelActivities = ReturnType<typeof createModelActivities>;

const ModelFinding = z.object({
  file: z.string(),
  line: z.coerce.number().int().positive(),
  severity: z.enum(['critical', 'high', 'medium', 'low']).catch('medium'),
  title: z.string().min(1).max(300),
  description: z.string().max(4000).default(''),
  suggestion: z.string().max(4000).default(''),
});

/**
 * The findings in a model's answer: a JSON array, bare or in a ```json fence. Items that do not
 * name a given file and a line inside it, or that repeat a built-in finding (same file, line and
 * title), are dropped. null when the answer holds no JSON array at all.
 */
export function parseModelFindings(text: string, files: SourceFile[], builtin: Finding[]): Finding[] | null {
  const fenced = /```(?:json)?\s*([\s\S]*?)```/.exec(text)?.[1];
  const candidate = fenced ?? text.slice(text.indexOf('['), text.lastIndexOf(']') + 1);
  let items: unknown;
  try {
    items = JSON.parse(candidate.trim());
  } catch {
    return null;
  }
  if (!Array.isArray(items)) return null;
  const lines = new Map(files.map((f) => [f.path, f.content.split('\n').length]));
  const seen = new Set(builtin.map((f) => `${f.file}:${f.line}:${f.title.toLowerCase()}`));
  const out: Finding[] = [];
  for (const item of items) {
    const f = ModelFinding.safeParse(item);
    if (!f.success) continue;
    const count = lines.get(f.data.file);
    const key = `${f.data.file}:${f.data.line}:${f.data.title.toLowerCase()}`;
    if (count === undefined || f.data.line > count || seen.has(key)) continue;
    seen.add(key);
    out.push({ ruleId: 'model-review', severity: f.data.severity, title: f.data.title, description: f.data.description, file: f.data.file, line: f.data.line, suggestion: f.data.suggestion });
  }
  return out;
}
