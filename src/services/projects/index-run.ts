/**
 * The semantic index of a project, built by the `projectIndexWorkflow` (cpu queue, workflow id =
 * the run id). A run reads the files (an uploaded snapshot, stored in project_snapshots until the
 * run ends, or a shallow clone of the repository URL), skips the ones whose sha256 matches what
 * is indexed (incremental), removes the ones that are gone, and for each changed file stores its
 * chunks and its symbols. Progress goes to the project's event stream (stream id = project id):
 * `progress` events, then one of `completed`, `failed`, `cancelled`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { compileGlobs, isValidGlob } from '../glob.js';
import { storableText } from '../text.js';
import { changeWithWebhookEvent } from '../webhooks/events.js';
import { z } from 'zod';
import { INT32_MAX, wholeNumberMessage } from '../../bounded-int.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { ConflictError, ValidationError } from '../../errors.js';
import { appendEvent, readEvents, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import { newId } from '../../ids.js';
import { projectIndexWorkflow, type ProjectIndexWorkflowInput } from '../../../workflows/project-index.js';
import { start, startForRow } from '../../temporal/start-for-row.js';
import type { ServiceDeps } from '../deps.js';
import { requireStorage, StorageLimitError } from '../limits/storage.js';
import { cloneRepository, readRepositoryFiles, RepositoryUrlError } from './repository.js';
import { chunkFile, languageOf, pythonSymbols, tsSymbols, type ExtractedSymbol } from './symbols.js';
import { indexTerms } from './terms.js';

/** Paths every index skips, whatever the project's ignored paths say. */
const ALWAYS_IGNORED = ['**/.git/**', '**/node_modules/**'];

const pathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1,000 characters')
  .refine((p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '..' && s !== '.' && s !== ''), {
    message: 'must be a relative path with "/" separators and no "." or ".." segments, e.g. src/app.ts',
  });

export const snapshotSchema = z
  .array(
    z
      .object({
        path: pathSchema,
        // PostgreSQL stores neither NUL characters nor lone surrogates: binary files are not indexed.
        content: storableText('leave binary files out'),
      })
      .strict(),
  )
  .min(1, 'must contain at least one file');

export type SnapshotFile = z.infer<typeof snapshotSchema>[number];

export type IndexEventType = 'progress' | 'completed' | 'failed' | 'cancelled';
export const isTerminalIndexEvent = (e: StoredEvent) => e.type === 'completed' || e.type === 'failed' || e.type === 'cancelled';

/** What a run did; stored on the project (indexStats) and in its final event. */
export interface IndexStats {
  source: 'snapshot' | 'repository';
  files_seen: number;
  files_indexed: number;
  files_unchanged: number;
  files_removed: number;
  files_skipped: string[];
  symbols: number;
  chunks: number;
  notes: string[];
  error?: string;
}

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;

async function emitIndexEvent(deps: Deps, projectId: string, type: IndexEventType, key: string, data: Record<string, unknown>) {
  return appendEvent(deps.db, deps.bus, { streamId: projectId, type, key, data });
}

/** A stable digest of a snapshot (for idempotency keys). */
export function snapshotDigest(files: SnapshotFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path).update('\0').update(f.content).update('\0');
  return h.digest('hex');
}

/**
 * Starts an index run for a project (the caller has checked access and input). One run at a
 * time: a second while one is running is a 409 index_in_progress.
 */
export async function startIndexRun(deps: ServiceDeps, projectId: string, input: { files: SnapshotFile[] | null; branch: string | null }): Promise<string> {
  const runId = newId('indexRun');
  const stale = await staleRun(deps, projectId);
  await deps.db.$transaction(async (tx) => {
    const claimed = await tx.project.updateMany({
      where: { id: projectId, OR: [{ indexStatus: { not: 'indexing' } }, ...(stale ? [{ indexRunId: stale }] : [])] },
      data: { indexStatus: 'indexing', indexRunId: runId },
    });
    if (claimed.count === 0) {
      throw new ConflictError('index_in_progress', `Project ${projectId} is being indexed right now; wait for that run to finish (watch projectIndexEvents), then start another.`);
    }
    if (input.files) await tx.projectSnapshot.create({ data: { id: runId, projectId, files: input.files } });
  });
  await emitIndexEvent(deps, projectId, 'progress', `${runId}:queued`, { run_id: runId, status: 'queued', progress: 0, message: 'Index run queued' });
  const workflowInput: ProjectIndexWorkflowInput = { projectId, runId, branch: input.branch, heartbeatTimeoutSeconds: deps.config.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS };
  const undo = async () => {
    await deps.db.projectSnapshot.deleteMany({ where: { id: runId } });
    await deps.db.project.updateMany({ where: { id: projectId, indexRunId: runId }, data: { indexStatus: 'failed', indexStats: { error: 'the task engine was not reachable' } } });
  };
  await startForRow(deps, { id: runId, what: 'the index run was not started', undo }, () => start(deps, projectIndexWorkflow, { workflowId: runId, args: [workflowInput] }));
  return runId;
}

/**
 * The run id of a project marked as indexing whose workflow is no longer running (terminated by
 * an operator, say): a new run may take its place. Null when there is none, or it still runs.
 */
async function staleRun(deps: Pick<ServiceDeps, 'db' | 'temporal'>, projectId: string): Promise<string | null> {
  const p = await deps.db.project.findUnique({ where: { id: projectId }, select: { indexStatus: true, indexRunId: true } });
  if (p?.indexStatus !== 'indexing' || !p.indexRunId) return null;
  try {
    const { status } = await deps.temporal.workflow.getHandle(p.indexRunId).describe();
    return status.name === 'RUNNING' ? null : p.indexRunId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return p.indexRunId;
    throw err;
  }
}

/** Validates a re-index request: a snapshot, or (none given) the project's repository URL. */
export function checkIndexRequest(project: { repositoryUrl: string | null }, input: { files?: unknown; branch?: string | null }) {
  if (input.files == null && !project.repositoryUrl) {
    throw new ValidationError([{ field: 'files', message: 'is required: this project has no repository URL to read from (set its repository URL, or upload the files)' }]);
  }
  if (input.files != null && input.branch != null) throw new ValidationError([{ field: 'branch', message: 'applies to repository indexing only; leave it out when uploading files' }]);
  if (input.branch != null && (!/^[A-Za-z0-9._/-]{1,200}$/.test(input.branch) || input.branch.startsWith('-') || input.branch.includes('..'))) {
    throw new ValidationError([{ field: 'branch', message: 'must be a branch name of letters, digits, ".", "_", "/" or "-", not starting with "-"' }]);
  }
  if (input.files == null) return { files: null, branch: input.branch ?? null };
  const parsed = snapshotSchema.safeParse(input.files);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => ({ field: ['files', ...i.path.map(String)].join('.'), message: i.message })));
  return { files: parsed.data, branch: null };
}

/**
 * Refuses an index of a repository whose files would take the owner's storage past its limit
 * (a snapshot was counted when it was uploaded). Thrown as a failure of the run, before anything is written.
 */
async function requireIndexStorage(deps: Pick<ServiceDeps, 'db' | 'config'>, project: { id: string; ownerId: string }, files: SnapshotFile[]): Promise<void> {
  const owner = await deps.db.user.findUnique({ where: { id: project.ownerId }, select: { tier: true } });
  const indexed = (await deps.db.projectFile.aggregate({ where: { projectId: project.id }, _sum: { sizeBytes: true } }))._sum.sizeBytes ?? 0;
  const bytes = files.reduce((sum, f) => sum + Buffer.byteLength(f.content, 'utf8'), 0) - indexed;
  try {
    await requireStorage(deps, { userId: project.ownerId, tier: owner?.tier ?? 'free' }, Math.max(0, bytes), `indexing ${files.length} files of the repository`);
  } catch (err) {
    throw err instanceof StorageLimitError ? new RepositoryUrlError(err.message) : err;
  }
}

/**
 * The ignore test of a project: its patterns plus the always-ignored ones (linear in the path's
 * length). A pattern stored before patterns were checked as they are now (an extglob, say) and
 * refused by the matcher matches nothing; updating the project's ignored_paths reports it.
 */
export function ignoreMatcher(patterns: string[]) {
  const match = compileGlobs([...ALWAYS_IGNORED, ...patterns.filter(isValidGlob)]);
  return (p: string) => match(p) || match(p.replace(/\/$/, ''));
}

type Tx = Parameters<Parameters<ServiceDeps['db']['$transaction']>[0]>[0];

/**
 * Whether the run is still its project's current one, holding a share lock on the project row
 * until the transaction ends: a newer run's claim and a delete wait for this transaction, and
 * once they are through this run writes nothing more.
 */
async function stillCurrent(tx: Tx, projectId: string, runId: string): Promise<boolean> {
  const rows = await tx.$queryRaw<unknown[]>`SELECT 1 FROM projects WHERE id = ${projectId} AND index_run_id = ${runId} FOR SHARE`;
  return rows.length > 0;
}

/** Runs `work` (waiting on git or python3) with a heartbeat every second, so the run is not timed out meanwhile. */
async function whileBeating<T>(activity: Activity, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => activity.heartbeat(), 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    activity.heartbeat();
  }
}

interface Activity {
  /** 1 for the first attempt, more when Temporal retries the activity (after a worker crash, say). */
  attempt: number;
  heartbeat(details?: unknown): void;
  signal: AbortSignal;
}

const BATCH = 50;
const PY_BATCH = 500;
const PY_BATCH_CHARS = 4_000_000;

/**
 * The work of a run (the activity `indexProject`). Throws RepositoryUrlError for a repository
 * that cannot be cloned (a failure to report, not to retry). Returns null when the project or
 * the run is gone (deleted or superseded).
 */
export async function runIndex(deps: Deps & Pick<ServiceDeps, 'config'>, input: { projectId: string; runId: string; branch: string | null }, activity: Activity): Promise<IndexStats | null> {
  const { projectId, runId } = input;
  const project = await deps.db.project.findUnique({ where: { id: projectId } });
  if (!project || project.indexRunId !== runId) return null;
  const progress = (pct: number, message: string, key: string) =>
    // Keyed per attempt: a retried activity reports its own (smaller) plan and batches.
    emitIndexEvent(deps, projectId, 'progress', `${runId}:a${activity.attempt}:${key}`, { run_id: runId, status: 'indexing', progress: pct, message });
  const ignored = ignoreMatcher(project.ignoredPaths);
  const snapshot = await deps.db.projectSnapshot.findUnique({ where: { id: runId } });
  const stats: IndexStats = { source: snapshot ? 'snapshot' : 'repository', files_seen: 0, files_indexed: 0, files_unchanged: 0, files_removed: 0, files_skipped: [], symbols: 0, chunks: 0, notes: [] };
  let files: SnapshotFile[];
  if (snapshot) {
    files = (snapshot.files as SnapshotFile[]).filter((f) => !ignored(f.path));
  } else {
    if (!project.repositoryUrl) throw new RepositoryUrlError('The project has no repository URL to index.');
    await progress(2, `Cloning ${project.repositoryUrl}`, 'clone');
    const dir = await mkdtemp(join(tmpdir(), 'codex-index-'));
    try {
      files = await whileBeating(activity, async () => {
        await cloneRepository(project.repositoryUrl!, input.branch, join(dir, 'repo'), deps.config, activity.signal);
        return readRepositoryFiles(join(dir, 'repo'), { maxFiles: deps.config.PROJECT_MAX_FILES, maxFileBytes: deps.config.PROJECT_FILE_MAX_BYTES }, ignored, stats.files_skipped);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (stats.files_skipped.length > 50) stats.files_skipped = [...stats.files_skipped.slice(0, 50), `… and ${stats.files_skipped.length - 50} more`];
  stats.files_seen = files.length;
  if (!snapshot) await requireIndexStorage(deps, project, files);
  const existing = new Map((await deps.db.projectFile.findMany({ where: { projectId }, select: { id: true, path: true, contentHash: true } })).map((f) => [f.path, f]));
  const seen = new Set(files.map((f) => f.path));
  const removed = [...existing.values()].filter((f) => !seen.has(f.path));
  if (removed.length) {
    const ok = await deps.db.$transaction(async (tx) => {
      if (!(await stillCurrent(tx, projectId, runId))) return false;
      await tx.projectFile.deleteMany({ where: { id: { in: removed.map((f) => f.id) } } });
      return true;
    });
    if (!ok) return null;
  }
  stats.files_removed = removed.length;
  const changed: Array<SnapshotFile & { hash: string }> = [];
  for (const f of files) {
    const hash = createHash('sha256').update(f.content).digest('hex');
    if (existing.get(f.path)?.contentHash === hash) stats.files_unchanged++;
    else changed.push({ ...f, hash });
  }
  await progress(5, `${files.length} files: ${changed.length} to index, ${stats.files_unchanged} unchanged, ${removed.length} removed`, 'plan');
  // Python symbols for every changed Python file: one python3 run per PY_BATCH files (its start-up dominates).
  const pyFiles = changed.filter((f) => languageOf(f.path) === 'python');
  const py: Record<string, ExtractedSymbol[] | null> = {};
  let pythonMissing = false;
  for (let i = 0; i < pyFiles.length && !pythonMissing; ) {
    let end = i;
    for (let bytes = 0; end < pyFiles.length && end - i < PY_BATCH && (end === i || bytes + pyFiles[end].content.length <= PY_BATCH_CHARS); end++) bytes += pyFiles[end].content.length;
    const batch = pyFiles.slice(i, end);
    const found = await whileBeating(activity, () => pythonSymbols(batch));
    i = end;
    if (found === null) {
      pythonMissing = true;
      stats.notes.push('python3 is not available on the worker: Python files are chunked without symbols');
    } else Object.assign(py, found);
    activity.heartbeat();
  }
  for (let start = 0; start < changed.length; start += BATCH) {
    if (activity.signal.aborted) throw activity.signal.reason ?? new Error('cancelled');
    const batch = changed.slice(start, start + BATCH);
    // Parse everything first (CPU), then write the batch in one transaction (few round trips).
    const fileRows: Prisma.ProjectFileCreateManyInput[] = [];
    const chunkRows: Prisma.ProjectChunkCreateManyInput[] = [];
    const symbolRows: Prisma.ProjectSymbolCreateManyInput[] = [];
    for (const f of batch) {
      const language = languageOf(f.path);
      let symbols: ExtractedSymbol[] = [];
      if (language === 'typescript' || language === 'javascript') symbols = tsSymbols(f.path, f.content);
      else if (language === 'python') {
        const found = py[f.path];
        if (found === null) stats.notes.push(`${f.path}: does not parse as Python; chunked without symbols`);
        symbols = found ?? [];
      }
      activity.heartbeat();
      const chunks = chunkFile(f.content);
      const fileId = randomUUID();
      const pathTerms = indexTerms(f.path);
      fileRows.push({ id: fileId, projectId, path: f.path, language, contentHash: f.hash, sizeBytes: Buffer.byteLength(f.content, 'utf8'), lineCount: f.content.split('\n').length });
      for (const c of chunks) {
        chunkRows.push({ id: randomUUID(), projectId, fileId, path: f.path, startLine: c.startLine, endLine: c.endLine, content: c.content, terms: `${pathTerms} ${indexTerms(c.content)}` });
      }
      for (const sym of symbols) {
        symbolRows.push({
          id: randomUUID(),
          projectId,
          fileId,
          path: f.path,
          name: sym.name.slice(0, 200),
          kind: sym.kind,
          line: sym.line,
          endLine: sym.endLine,
          exported: sym.exported,
          signature: sym.signature,
          // The name twice: a match on the name outranks one on the signature or path.
          terms: `${indexTerms(sym.name)} ${indexTerms(sym.name)} ${indexTerms(sym.signature)} ${pathTerms}`,
        });
      }
    }
    activity.heartbeat();
    const ok = await deps.db.$transaction(
      async (tx) => {
        if (!(await stillCurrent(tx, projectId, runId))) return false;
        await tx.projectFile.deleteMany({ where: { projectId, path: { in: batch.map((f) => f.path) } } });
        await tx.projectFile.createMany({ data: fileRows });
        await tx.projectChunk.createMany({ data: chunkRows });
        await tx.projectSymbol.createMany({ data: symbolRows });
        return true;
      },
      { timeout: 60_000 },
    );
    if (!ok) return null;
    stats.files_indexed += batch.length;
    stats.symbols += symbolRows.length;
    stats.chunks += chunkRows.length;
    activity.heartbeat();
    const done = Math.min(start + BATCH, changed.length);
    await progress(5 + Math.floor((90 * done) / changed.length), `Indexed ${done} of ${changed.length} changed files`, `batch:${start}`);
  }
  if (stats.notes.length > 50) stats.notes = [...stats.notes.slice(0, 50), `… and ${stats.notes.length - 50} more`];
  return stats;
}

/**
 * Ends a run: the project's index status and stats, the snapshot removed, the final event on the
 * project's stream. A run that is no longer the project's current one (or whose project was
 * deleted) changes nothing.
 */
export async function finishIndex(deps: Deps, input: { projectId: string; runId: string; status: 'completed' | 'failed' | 'cancelled'; stats: IndexStats | null; error?: string | null }) {
  const { projectId, runId, status } = input;
  await deps.db.projectSnapshot.deleteMany({ where: { id: runId } });
  const stats = input.stats ?? (input.error ? { error: input.error } : null);
  // Counted here, once per run, so reading a project (or a page of them) counts nothing.
  const [indexFiles, indexChunks, indexSymbols] = await Promise.all([
    deps.db.projectFile.count({ where: { projectId } }),
    deps.db.projectChunk.count({ where: { projectId } }),
    deps.db.projectSymbol.count({ where: { projectId } }),
  ]);
  const data = {
    indexStatus: status,
    indexStats: (stats ?? undefined) as object | undefined,
    indexFiles,
    indexChunks,
    indexSymbols,
    ...(status === 'completed' ? { indexedAt: new Date() } : {}),
  };
  // The end and its webhook event (project.index_updated) commit together, once per run.
  const ended = await changeWithWebhookEvent(deps, async (tx) => {
    const updated = await tx.project.updateMany({ where: { id: projectId, indexRunId: runId, indexStatus: 'indexing' }, data });
    if (updated.count === 0) return { result: false, event: null };
    const project = await tx.project.findUniqueOrThrow({ where: { id: projectId }, select: { ownerId: true, teamId: true } });
    return {
      result: true,
      event: {
        type: 'project.index_updated',
        resourceId: projectId,
        ownerId: project.ownerId,
        teamId: project.teamId,
        projectId,
        data: { project_id: projectId, run_id: runId, status, stats },
      },
    };
  });
  if (!ended) {
    // Ended before: by an earlier attempt of this call that may have died before its final event.
    const now = await deps.db.project.findUnique({ where: { id: projectId }, select: { indexRunId: true, indexStatus: true } });
    if (!now || now.indexRunId !== runId || now.indexStatus === 'indexing') return;
  }
  const message =
    status === 'completed' && input.stats
      ? `Index updated: ${input.stats.files_indexed} files indexed, ${input.stats.files_unchanged} unchanged, ${input.stats.files_removed} removed; ${input.stats.symbols} symbols`
      : status === 'failed'
        ? `Index run failed: ${input.error ?? 'unknown error'}`
        : 'Index run cancelled';
  await emitIndexEvent(deps, projectId, status, `${runId}:end`, { run_id: runId, status, progress: 100, message, stats });
}

/** Ends the event stream of a run whose project was deleted under it. */
export async function endRunOfDeletedProject(deps: Deps, projectId: string, runId: string) {
  await emitIndexEvent(deps, projectId, 'cancelled', `${runId}:end`, { run_id: runId, status: 'cancelled', progress: 100, message: 'Index run cancelled: the project was deleted', stats: null });
}

/** The project's index events after `since`, then live until the end of a run. */
export function streamProjectIndexEvents(deps: Deps, projectId: string, since: number) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: projectId, since, isTerminal: isTerminalIndexEvent });
}

/** The most index events one poll reads. */
export const INDEX_EVENTS_PAGE_MAX = 500;

/** Stored index events of a project after `since` (1 to 500 of them), for polling clients. */
export function listProjectIndexEvents(deps: Pick<ServiceDeps, 'db'>, projectId: string, since: number, limit: number) {
  const errors = [];
  if (!Number.isInteger(since) || since < 0 || since > INT32_MAX) errors.push({ field: 'since', message: wholeNumberMessage(0, INT32_MAX) });
  if (!Number.isInteger(limit) || limit < 1 || limit > INDEX_EVENTS_PAGE_MAX) errors.push({ field: 'limit', message: `must be between 1 and ${INDEX_EVENTS_PAGE_MAX}` });
  if (errors.length) throw new ValidationError(errors);
  return readEvents(deps.db, projectId, since, limit);
}
