/**
 * Generations (POST /v1/generations): a prompt becomes code, an explanation, a
 * confidence and the built-in analyzers' warnings. Every generation runs as a Temporal workflow
 * (the model call on the gpu queue, the analysis on cpu); a prompt under SYNC_PROMPT_TOKENS
 * tokens (counted with gpt-tokenizer, o200k_base) is awaited so the answer is complete, a longer
 * one answers `processing` at once. Without a model provider the API refuses with
 * model_not_configured (503) rather than inventing code.
 */
import { countTokens } from 'gpt-tokenizer';
import { z } from 'zod';
import { GENERATION_LANGUAGES, normalizeLanguage, VERBOSITY, type GenerationOptions, type ParsedAnswer } from '../agents/code-generation.js';
import type { Generation } from '../generated/prisma/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { ConflictError, ModelNotConfiguredError, NotFoundError, ValidationError } from '../errors.js';
import { appendEvent, type StoredEvent } from '../events/event-store.js';
import { mapStream, streamEvents } from '../events/event-stream.js';
import { idKind, newId } from '../ids.js';
import { generationWorkflow, type GenerationWorkflowInput } from '../../workflows/generation.js';
import { start, startForRow } from '../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from './deps.js';
import { withIdempotency } from './idempotency.js';
import { jsonBytes, requireStorage, storageAccount } from './limits/storage.js';
import { paginate, type PageArgs } from './pagination.js';
import { relevantFiles } from './projects/search.js';
import { storableText } from './text.js';
import { changeWithWebhookEvent } from './webhooks/events.js';
import { canSee, listScope, requireTeamRole } from './teams.js';
import { fieldErrors } from './tasks/task-input.js';
import { getProject } from './projects/projects.js';
import { mayReadObject, readableFilter, requireRead } from './auth/read-resources.js';

export const GENERATION_PAGE_MAX = 50;
/** Files of the project's index given to the model as context. */
const CONTEXT_FILES = 5;
/** Prompts with fewer tokens than this are answered synchronously (in the creating request). */
export const SYNC_PROMPT_TOKENS = 200;
const MAX_PROMPT_CHARS = 50_000;

const languageNames = Object.keys(GENERATION_LANGUAGES).join(', ');

const inputSchema = z
  .object({
    prompt: storableText().trim().min(1, 'must not be empty: describe the code you want').max(MAX_PROMPT_CHARS, `must be at most ${MAX_PROMPT_CHARS.toLocaleString('en')} characters`),
    language: z
      .string()
      .nullish()
      .transform((v, ctx) => {
        if (v == null) return null;
        const name = normalizeLanguage(v);
        if (!name) ctx.addIssue({ code: 'custom', message: `must be one of: ${languageNames} (got "${v.slice(0, 40)}")` });
        return name;
      }),
    projectId: z.string().nullish(),
    teamId: z.string().nullish(),
    options: z
      .object({
        style: storableText().trim().max(500, 'must be at most 500 characters').nullish(),
        verbosity: z.enum(VERBOSITY, { message: `must be one of: ${VERBOSITY.join(', ')}` }).nullish(),
        safetyFilters: z.boolean({ message: 'must be true or false' }).nullish(),
      })
      .strict()
      .nullish(),
  })
  .strict();

export type GenerationInput = z.input<typeof inputSchema>;

/** Refuses when no model provider is configured (503 model_not_configured). */
export function requireModel(deps: Pick<ServiceDeps, 'config'>): void {
  if (!deps.config.MODEL_BASE_URL) throw new ModelNotConfiguredError();
}

/** The options as stored and shown (REST's snake_case), without the ones left out. */
function storedOptions(o: { style?: string | null; verbosity?: string | null; safetyFilters?: boolean | null } | null | undefined): GenerationOptions {
  const out: GenerationOptions = {};
  if (o?.style) out.style = o.style;
  if (o?.verbosity) out.verbosity = o.verbosity as GenerationOptions['verbosity'];
  if (o?.safetyFilters != null) out.safety_filters = o.safetyFilters;
  return out;
}


/** Each attempt runs its own workflow: the first under the generation's id, a retry under `<id>:<attempt>`. */
export const generationWorkflowId = (id: string, attempt: number) => (attempt === 1 ? id : `${id}:${attempt}`);

/**
 * Starts the workflow of one attempt of a stored generation. With `rejectDuplicate` an attempt
 * whose workflow ever existed is refused (the reconciler's restart of a lost start).
 */
export async function startGenerationWorkflow(
  deps: Pick<ServiceDeps, 'temporal' | 'config'>,
  id: string,
  attempt: number,
  options: { rejectDuplicate?: boolean } = {},
): Promise<void> {
  const input: GenerationWorkflowInput = {
    generationId: id,
    gpuQueue: deps.config.taskQueues.gpu,
    timeoutSeconds: deps.config.MODEL_TIMEOUT_SECONDS,
    heartbeatTimeoutSeconds: deps.config.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS,
  };
  await start(deps, generationWorkflow, { workflowId: generationWorkflowId(id, attempt), args: [input], rejectDuplicate: options.rejectDuplicate });
}

/** Waits (up to GENERATION_SYNC_WAIT_SECONDS) for the attempt's workflow to end; the long-poll stops when the wait does. */
async function awaitWorkflow(deps: ServiceDeps, id: string, attempt: number): Promise<void> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), deps.config.GENERATION_SYNC_WAIT_SECONDS * 1000);
  try {
    await deps.temporal.withAbortSignal(stop.signal, () => deps.temporal.workflow.getHandle(generationWorkflowId(id, attempt)).result()).catch(() => {});
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** Whether a prompt is answered synchronously, and its token count. */
export function promptTokens(prompt: string): { tokens: number; sync: boolean } {
  const tokens = countTokens(prompt);
  return { tokens, sync: tokens < SYNC_PROMPT_TOKENS };
}

/** Creates a generation and starts its workflow (once per idempotency key); short prompts are awaited. */
export async function createGeneration(
  deps: ServiceDeps,
  principal: Principal,
  raw: unknown,
  idempotencyKey?: string | null,
): Promise<{ generation: Generation; replayed: boolean }> {
  const parsed = inputSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const input = parsed.data;
  requireModel(deps);
  if (input.projectId) requireRead(principal, 'project_search', "a project's files as context");
  const project = input.projectId ? await getProject(deps, principal, input.projectId) : null;
  const teamId = input.teamId ?? project?.teamId ?? principal.teamId;
  if (project && project.teamId !== teamId) {
    throw new ValidationError([{ field: 'teamId', message: `must be the project's team (${project.teamId ?? 'none: a personal project'})` }]);
  }
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const language = input.language ?? normalizeLanguage(project?.languages[0]) ?? null;
  // The project's files most relevant to the prompt go to the model (and into the result).
  const contextFiles = project ? await relevantFiles(deps, principal, project.id, input.prompt, CONTEXT_FILES) : [];
  const { tokens, sync } = promptTokens(input.prompt);
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'createGeneration', request: input },
    async () => {
      await requireStorage(deps, storageAccount(principal), jsonBytes(input.prompt) + jsonBytes(contextFiles), 'this generation');
      const id = newId('generation');
      const options: object = storedOptions(input.options); // Json columns take plain objects
      const contextFileRows: object[] = contextFiles;
      await deps.db.generation.create({
        data: {
          id,
          ownerId: principal.userId,
          teamId,
          createdByKeyId: principal.method === 'api_key' ? principal.credentialId : null,
          projectId: project?.id ?? null,
          prompt: input.prompt,
          language,
          options,
          promptTokenCount: tokens,
          contextFiles: contextFileRows,
        },
      });
      const undo = () => deps.db.generation.delete({ where: { id } });
      await startForRow(deps, { id, what: 'the generation was not created', undo }, () => startGenerationWorkflow(deps, id, 1));
      return id;
    },
  );
  if (sync) await awaitWorkflow(deps, resourceId, 1);
  return { generation: await deps.db.generation.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
}

/** The generation if the caller may see it (its owner, or a member of its team); else 404. */
export async function getGeneration(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Generation> {
  const g = idKind(id) === 'generation' ? await deps.db.generation.findUnique({ where: { id } }) : null;
  if (!g || !mayReadObject(principal, 'generations', g.createdByKeyId) || !(await canSee(deps, principal, g))) throw new NotFoundError('generation', id);
  return g;
}

/** The caller's generations (or a team's), newest first, optionally of one project; at most 50 a page. */
export async function listGenerations(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { teamId?: string | null; projectId?: string | null }) {
  const base = await listScope(deps, principal, args.teamId);
  if (args.projectId != null) await getProject(deps, principal, args.projectId); // another account's project: 404
  const byProject = args.projectId ? { projectId: args.projectId } : {};
  return paginate(args, GENERATION_PAGE_MAX, 'generation', (cursor, order, take) =>
    deps.db.generation.findMany({ where: { ...base, ...byProject, ...readableFilter(principal, 'generations'), ...cursor }, orderBy: { id: order }, take }),
  );
}

/** Runs a finished (completed or failed) generation again with the same prompt and options. */
export async function retryGeneration(deps: ServiceDeps, principal: Principal, id: string, idempotencyKey?: string | null): Promise<{ generation: Generation; replayed: boolean }> {
  const { replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'retryGeneration', request: { id } }, async () => {
    await retryOnce(deps, principal, id);
    return id;
  });
  return { generation: await deps.db.generation.findUniqueOrThrow({ where: { id } }), replayed };
}

async function retryOnce(deps: ServiceDeps, principal: Principal, id: string): Promise<void> {
  const g = await getGeneration(deps, principal, id);
  if (g.teamId) await requireTeamRole(deps, principal, g.teamId, 'member');
  requireModel(deps);
  const notRetryable = () =>
    new ConflictError('generation_not_retryable', `Generation ${id} is still processing; retry it once it has completed or failed.`, { status: 'processing' });
  if (g.status === 'processing') throw notRetryable();
  const reset = await deps.db.generation.updateMany({
    where: { id, status: g.status, attempts: g.attempts },
    data: {
      status: 'processing',
      code: null,
      explanation: null,
      confidence: null,
      warnings: [],
      error: Prisma.DbNull,
      completedAt: null,
      attempts: { increment: 1 },
    },
  });
  if (reset.count === 0) throw notRetryable(); // another retry got there first
  const attempt = g.attempts + 1;
  // Nothing runs an attempt whose start failed: it ends failed (so it can be retried again) instead of staying processing.
  const undo = () => failGeneration(deps, id, { code: 'service_unavailable', message: 'The task engine was not reachable when the retry was started. Retry again.' });
  await startForRow(deps, { id, what: 'the generation was not started', undo }, () => startGenerationWorkflow(deps, id, attempt));
  if (promptTokens(g.prompt).sync) await awaitWorkflow(deps, id, attempt);
}

/** What the model activity produced, handed to the cpu side for analysis and storage. */
export type GenerationDraft = ParsedAnswer & { promptTokens: number; completionTokens: number };

async function emitFinished(deps: Pick<ServiceDeps, 'db' | 'bus'>, g: { id: string; attempts: number }, status: 'completed' | 'failed') {
  await appendEvent(deps.db, deps.bus, { streamId: g.id, type: 'generation', key: `attempt-${g.attempts}`, data: { status, attempt: g.attempts } });
}

/**
 * Announces the end of this attempt when it has ended: by this call, or by an earlier one that
 * died before announcing it (the event's key keeps it once).
 */
async function emitFinishedIfEnded(deps: Pick<ServiceDeps, 'db' | 'bus'>, g: { id: string; attempts: number }) {
  const now = await deps.db.generation.findUnique({ where: { id: g.id }, select: { status: true, attempts: true } });
  if (now && now.attempts === g.attempts && now.status !== 'processing') await emitFinished(deps, g, now.status);
}

/** Stores a completed generation (only while it is processing) and announces it. */
export async function storeCompletedGeneration(
  deps: Pick<ServiceDeps, 'db' | 'bus'>,
  id: string,
  result: { code: string; language: string; explanation: string; confidence: number; warnings: unknown[]; promptTokens: number; completionTokens: number },
): Promise<void> {
  const g = await deps.db.generation.findUnique({ where: { id } });
  if (!g) return;
  await endGeneration(deps, g, 'completed', { ...result, warnings: result.warnings as object[] }, {
    language: result.language,
    confidence: result.confidence,
    warnings: result.warnings.length,
  });
  await emitFinishedIfEnded(deps, g);
}

/** Ends this attempt of a processing generation, with its webhook event in the same transaction; 0 when it had already ended. */
function endGeneration(
  deps: Pick<ServiceDeps, 'db' | 'bus'>,
  g: Generation,
  status: 'completed' | 'failed',
  data: Prisma.GenerationUpdateManyMutationInput,
  event: Record<string, unknown>,
): Promise<number> {
  return changeWithWebhookEvent(deps, async (tx) => {
    const { count } = await tx.generation.updateMany({ where: { id: g.id, status: 'processing', attempts: g.attempts }, data: { ...data, status, completedAt: new Date() } });
    return {
      result: count,
      event: count
        ? { type: `generation.${status}`, resourceId: g.id, ownerId: g.ownerId, teamId: g.teamId, projectId: g.projectId, data: { generation_id: g.id, status, attempt: g.attempts, ...event } }
        : null,
    };
  });
}

/**
 * Marks a processing generation failed with a message the caller may read. With `attempt`, only
 * that attempt (a later retry is left alone: the reconciler ends the attempt whose workflow it saw end).
 */
export async function failGeneration(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, error: { code: string; message: string }, attempt?: number): Promise<void> {
  const g = await deps.db.generation.findUnique({ where: { id } });
  if (!g || (attempt !== undefined && g.attempts !== attempt)) return;
  await endGeneration(deps, g, 'failed', { error }, { error });
  await emitFinishedIfEnded(deps, g);
}

/**
 * The generation as it is now if it is no longer processing; otherwise its state once it
 * completes or fails. Reads the stream's position before the row, so an end in between is seen.
 */
export async function watchGeneration(deps: Pick<ServiceDeps, 'db' | 'bus'>, principal: Principal, id: string): Promise<AsyncGenerator<Generation>> {
  await getGeneration(deps, principal, id);
  const position = (await deps.db.eventStream.findUnique({ where: { id } }))?.lastSeq ?? 0;
  const now = await deps.db.generation.findUniqueOrThrow({ where: { id } });
  const ended = now.status !== 'processing';
  const events = streamEvents({ db: deps.db, bus: deps.bus, streamId: id, since: position, isTerminal: (e: StoredEvent) => ended || e.type === 'generation' });
  if (ended) await events.return(undefined);
  return mapStream(events, () => deps.db.generation.findUnique({ where: { id } }), [now]);
}

/** Deletes the generations created more than `days` days before `now` (and their event streams); returns how many. */
export async function deleteExpiredGenerations(deps: Pick<ServiceDeps, 'db'>, options: { days: number; now?: Date }): Promise<number> {
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.days * 86_400_000);
  let deleted = 0;
  for (;;) {
    const batch = (await deps.db.generation.findMany({ where: { createdAt: { lt: cutoff } }, select: { id: true }, take: 1000 })).map((g) => g.id);
    if (!batch.length) return deleted;
    await deps.db.$transaction([
      deps.db.event.deleteMany({ where: { streamId: { in: batch } } }),
      deps.db.eventStream.deleteMany({ where: { id: { in: batch } } }),
      deps.db.generation.deleteMany({ where: { id: { in: batch } } }),
    ]);
    deleted += batch.length;
  }
}
