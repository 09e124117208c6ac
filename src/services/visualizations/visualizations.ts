/**
 * Repository visualizations: a workflow clones the repository and
 * analyses its history with git; the summary (stats, nodes, edges, timeline) is stored on the row,
 * the commits in their own table (filtered by date, author and branch). Comments on commits,
 * read-only share links that work without a credential until they expire or are revoked.
 */
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { boundedInt, INT32_MAX, wholeNumberMessage } from '../../bounded-int.js';
import type { Prisma, Visualization, VisualizationComment, VisualizationCommit, VisualizationShare } from '../../generated/prisma/client.js';
import { AppError, NotFoundError, ValidationError, type FieldError } from '../../errors.js';
import { appendEvent, type StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import { idKind, newId } from '../../ids.js';
import { visualizationWorkflow, type VisualizationWorkflowInput } from '../../../workflows/visualization.js';
import { start, startForRow } from '../../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { requireStorage, storageAccount } from '../limits/storage.js';
import { canSee, listScope, requireTeamRole } from '../teams.js';
import { paginate, type PageArgs } from '../pagination.js';
import { analyzeClone, cloneRepository, RepositoryError, type AnalysisResult } from './analyze-repository.js';
import { checkBranchName, resolveRepositorySource } from './repository-source.js';
import { rangeEnd, rangeStart } from '../dates.js';

export const MAX_COMMITS_LIMIT = 50_000;
export const COMMITS_PAGE_DEFAULT = 1000;
export const COMMITS_PAGE_MAX = 10_000;
/** The most visualizations a list page holds. */
export const VISUALIZATION_PAGE_MAX = 50;
/** The longest a share link lives. */
export const SHARE_MAX_DAYS = 365;
export const ANALYSIS_DEPTHS = ['full'] as const;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** zod issues as field errors named as REST callers spell them (snake_case). */
function fieldErrorsOf(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ field: i.path.map((p) => snake(String(p))).join('.') || '(body)', message: i.message }));
}

const startSchema = z.object({
  repositoryUrl: z.string({ message: 'is required' }).min(1, 'must not be empty'),
  branch: z
    .string()
    .nullish()
    .superRefine((b, ctx) => {
      const problem = b == null ? null : checkBranchName(b);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  analysisDepth: z.enum(ANALYSIS_DEPTHS, { message: 'must be "full" (every commit with its line counts; the only depth this server offers)' }).default('full'),
  options: z
    .object({
      includeCommits: z.boolean({ message: 'must be true or false' }).default(true),
      includeBranches: z.boolean({ message: 'must be true or false' }).default(false),
      includeContributors: z.boolean({ message: 'must be true or false' }).default(true),
      maxCommits: boundedInt(1, MAX_COMMITS_LIMIT).default(MAX_COMMITS_LIMIT),
    })
    .default({ includeCommits: true, includeBranches: false, includeContributors: true, maxCommits: MAX_COMMITS_LIMIT }),
  teamId: z.string().nullish(),
});

export type StartVisualizationInput = z.input<typeof startSchema>;
export type VisualizationOptions = z.infer<typeof startSchema>['options'];

/** A rough duration: cloning and one pass of git over the history. */
export function estimateSeconds(maxCommits: number): number {
  return Math.ceil(5 + maxCommits / 2000);
}

/** The repository's name, for the root node. */
function repositoryName(url: string): string {
  const last = url.replace(/\/+$/, '').split(/[/:]/).pop() ?? 'repository';
  return last.replace(/\.git$/, '') || 'repository';
}

async function emit(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, type: 'progress' | 'visualization', key: string, data: Record<string, unknown>) {
  await appendEvent(deps.db, deps.bus, { streamId: id, type, key, data });
}

/** Validates the request and the repository URL, stores the visualization and starts its workflow (once per idempotency key). */
export async function startVisualization(deps: ServiceDeps, principal: Principal, raw: unknown, idempotencyKey?: string | null): Promise<{ id: string; replayed: boolean }> {
  const parsed = startSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsOf(parsed.error));
  const input = parsed.data;
  await resolveRepositorySource(input.repositoryUrl, deps.config);
  const teamId = input.teamId ?? principal.teamId;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'startVisualization', request: input },
    async () => {
      // Its size is known only once the history is read: a new one needs room left.
      await requireStorage(deps, storageAccount(principal), 1, 'a new visualization');
      const id = newId('visualization');
      await deps.db.visualization.create({
        data: {
          id,
          ownerId: principal.userId,
          teamId,
          repositoryUrl: input.repositoryUrl.trim(),
          branch: input.branch ?? null,
          analysisDepth: input.analysisDepth,
          options: input.options,
        },
      });
      await emit(deps, id, 'progress', 'queued', { status: 'processing', progress: 0, message: 'Visualization queued' });
      const undo = () => deps.db.visualization.delete({ where: { id } });
      await startForRow(deps, { id, what: 'the visualization was not created', undo }, () => startVisualizationWorkflow(deps, { id, ownerId: principal.userId, teamId }));
      return id;
    },
  );
  if (!replayed) deps.logger.info({ visualizationId: resourceId, accountId: principal.userId, status: 'processing' }, 'visualization submitted');
  return { id: resourceId, replayed };
}

/**
 * Starts the workflow of a stored visualization (workflow id = visualization id). With
 * `rejectDuplicate` one whose workflow ever existed is refused (the reconciler's restart of a lost start).
 */
export async function startVisualizationWorkflow(
  deps: Pick<ServiceDeps, 'temporal' | 'config' | 'logger'>,
  v: Pick<Visualization, 'id' | 'ownerId' | 'teamId'>,
  options: { rejectDuplicate?: boolean } = {},
): Promise<void> {
  const workflowInput: VisualizationWorkflowInput = { visualizationId: v.id, timeoutSeconds: deps.config.VISUALIZATION_CLONE_TIMEOUT_SECONDS + 600 };
  await start(deps, visualizationWorkflow, {
    workflowId: v.id,
    args: [workflowInput],
    rejectDuplicate: options.rejectDuplicate,
    index: { accountId: v.ownerId, teamId: v.teamId, resourceId: v.id },
  });
}

/** The visualization if the caller may see it (its owner, or a member of its team); else 404. */
export async function getVisualization(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Visualization> {
  const v = idKind(id) === 'visualization' ? await deps.db.visualization.findUnique({ where: { id } }) : null;
  if (!v || !(await canSee(deps, principal, v))) throw new NotFoundError('visualization', id);
  return v;
}

/** Narrows a visualization list: any of these statuses; a team's (the caller must belong to it) instead of the caller's own. */
export interface VisualizationFilter {
  status?: Visualization['status'][] | null;
  teamId?: string | null;
}

/**
 * The caller's own visualizations, or a team's, newest first, with a count of all pages together.
 * A team the caller is not in (another tenant's included) is a 404.
 */
export async function listVisualizations(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { filter?: VisualizationFilter | null }) {
  const filter = args.filter ?? {};
  const where: Prisma.VisualizationWhereInput = {
    ...(await listScope(deps, principal, filter.teamId)),
    ...(filter.status?.length ? { status: { in: filter.status } } : {}),
  };
  const page = await paginate(args, VISUALIZATION_PAGE_MAX, 'visualization', (cursor, order, take) =>
    deps.db.visualization.findMany({ where: { AND: [where, cursor] }, orderBy: { id: order }, take }),
  );
  return { ...page, count: () => deps.db.visualization.count({ where }) };
}

/** Like getVisualization, for changes (comments, shares): team visualizations need the member role. */
async function getForChange(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Visualization> {
  const v = await getVisualization(deps, principal, id);
  if (v.teamId) await requireTeamRole(deps, principal, v.teamId, 'member');
  return v;
}

/** A filter of a visualization's commits; `from` and `to` are ISO 8601 dates or timestamps (a date alone: the whole day). */
export interface CommitFilter {
  from?: string | null;
  to?: string | null;
  author?: string | null;
  branch?: string | null;
}

function commitWhere(visualizationId: string, f: CommitFilter, from: Date | null, to: Date | null): Prisma.VisualizationCommitWhereInput {
  return {
    visualizationId,
    ...(from || to ? { timestamp: { ...(from ? { gte: from } : {}), ...(to ? { lte: to } : {}) } } : {}),
    ...(f.author ? { author: f.author.trim().toLowerCase() } : {}),
    ...(f.branch ? { branches: { has: f.branch } } : {}),
  };
}

/** A page of a visualization's commits, newest first, with the total that match. */
export async function listCommits(deps: Pick<ServiceDeps, 'db'>, visualizationId: string, filter: CommitFilter, page: { offset: number; limit: number }) {
  const errors: FieldError[] = [];
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > COMMITS_PAGE_MAX) errors.push({ field: 'limit', message: `must be between 1 and ${COMMITS_PAGE_MAX}` });
  if (!Number.isInteger(page.offset) || page.offset < 0 || page.offset > INT32_MAX) errors.push({ field: 'offset', message: wholeNumberMessage(0, INT32_MAX) });
  const from = filter.from ? rangeStart(filter.from) : null;
  const to = filter.to ? rangeEnd(filter.to) : null;
  if (from && to && from > to) errors.push({ field: 'from', message: 'must not be after to' });
  if (errors.length) throw new ValidationError(errors);
  const where = commitWhere(visualizationId, filter, from, to);
  const [total, rows] = await Promise.all([
    deps.db.visualizationCommit.count({ where }),
    deps.db.visualizationCommit.findMany({ where, orderBy: [{ timestamp: 'desc' }, { sha: 'asc' }], skip: page.offset, take: page.limit }),
  ]);
  return { total, rows };
}

/** Comments of the given commits, oldest first, in one query (no query per commit). */
export async function commentsByCommit(deps: Pick<ServiceDeps, 'db'>, visualizationId: string, shas: string[]): Promise<Map<string, VisualizationComment[]>> {
  const map = new Map<string, VisualizationComment[]>();
  if (!shas.length) return map;
  const rows = await deps.db.visualizationComment.findMany({ where: { visualizationId, commitSha: { in: shas } }, orderBy: { id: 'asc' } });
  for (const r of rows) map.set(r.commitSha, [...(map.get(r.commitSha) ?? []), r]);
  return map;
}

export function listComments(deps: Pick<ServiceDeps, 'db'>, visualizationId: string) {
  return deps.db.visualizationComment.findMany({ where: { visualizationId }, orderBy: { id: 'asc' } });
}

const commentSchema = z.object({
  commitSha: z.string({ message: 'is required' }).trim().regex(/^[0-9a-f]{4,64}$/i, 'must be a commit sha (hexadecimal, at least 4 characters)'),
  content: z.string({ message: 'is required' }).trim().min(1, 'must not be empty').max(10_000, 'must be at most 10,000 characters'),
  author: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').nullish(),
});

/** Adds a comment to a commit of the visualization (once per idempotency key); an unknown sha (or an abbreviation matching several) is 404. */
export async function addComment(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  visualizationId: string,
  raw: Record<string, unknown>,
  idempotencyKey?: string | null,
): Promise<{ comment: VisualizationComment; replayed: boolean }> {
  const request = { visualizationId, ...raw };
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'addVisualizationComment', request }, async () => (await addNewComment(deps, principal, visualizationId, raw)).id);
  return { comment: await deps.db.visualizationComment.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
}

async function addNewComment(deps: Pick<ServiceDeps, 'db'>, principal: Principal, visualizationId: string, raw: unknown): Promise<VisualizationComment> {
  const v = await getForChange(deps, principal, visualizationId);
  const parsed = commentSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsOf(parsed.error));
  const input = parsed.data;
  const sha = input.commitSha.toLowerCase();
  const matches = await deps.db.visualizationCommit.findMany({ where: { visualizationId: v.id, sha: { startsWith: sha } }, select: { sha: true }, take: 2 });
  if (matches.length !== 1) {
    throw new AppError(
      'resource_not_found',
      404,
      matches.length === 0
        ? `Visualization ${v.id} has no commit "${input.commitSha}"${v.status === 'processing' ? ' (it is still being analysed)' : ''}; list its commits with GET /v1/visualize/${v.id}/commits.`
        : `"${input.commitSha}" matches several commits of visualization ${v.id}; give more of the sha.`,
    );
  }
  const user = input.author ? null : await deps.db.user.findUnique({ where: { id: principal.userId }, select: { name: true } });
  return deps.db.visualizationComment.create({
    data: { id: newId('comment'), visualizationId: v.id, commitSha: matches[0].sha, content: input.content, author: input.author ?? user?.name ?? 'anonymous', userId: principal.userId },
  });
}

const shareSchema = z.object({
  permissions: z.enum(['read'], { message: 'must be "read" (share links are read-only)' }).default('read'),
  expiresInDays: boundedInt(1, SHARE_MAX_DAYS).default(7),
});

/** Creates a read-only link to the visualization (once per idempotency key). */
export async function createShare(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  visualizationId: string,
  raw: Record<string, unknown>,
  idempotencyKey?: string | null,
): Promise<{ share: VisualizationShare; replayed: boolean }> {
  const request = { visualizationId, ...raw };
  const { resourceId, replayed } = await withIdempotency(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'createVisualizationShare', request }, async () => (await createNewShare(deps, principal, visualizationId, raw)).id);
  return { share: await deps.db.visualizationShare.findUniqueOrThrow({ where: { id: resourceId } }), replayed };
}

async function createNewShare(deps: Pick<ServiceDeps, 'db'>, principal: Principal, visualizationId: string, raw: unknown): Promise<VisualizationShare> {
  const v = await getForChange(deps, principal, visualizationId);
  const parsed = shareSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrorsOf(parsed.error));
  const now = Date.now();
  return deps.db.visualizationShare.create({
    data: { id: newId('share'), visualizationId: v.id, permissions: parsed.data.permissions, createdBy: principal.userId, createdAt: new Date(now), expiresAt: new Date(now + parsed.data.expiresInDays * 86400_000) },
  });
}

/** Revokes a share link at once (a second revoke answers the same share); with `visualizationId`, only a share of that visualization. */
export async function revokeShare(deps: Pick<ServiceDeps, 'db'>, principal: Principal, shareId: string, visualizationId?: string | null): Promise<VisualizationShare> {
  const share = idKind(shareId) === 'share' ? await deps.db.visualizationShare.findUnique({ where: { id: shareId } }) : null;
  if (!share || (visualizationId && share.visualizationId !== visualizationId)) throw new NotFoundError('share', shareId);
  await getForChange(deps, principal, share.visualizationId).catch((err) => {
    throw err instanceof NotFoundError ? new NotFoundError('share', shareId) : err;
  });
  if (share.revokedAt) return share;
  return deps.db.visualizationShare.update({ where: { id: shareId }, data: { revokedAt: new Date() } });
}

/** The visualization's share links, for a caller who may see it (none for anyone else, e.g. a visitor of a share link). */
export async function listShares(deps: Pick<ServiceDeps, 'db'>, principal: Principal | null, visualizationId: string): Promise<VisualizationShare[]> {
  if (!principal) return [];
  const visible = await getVisualization(deps, principal, visualizationId).then(
    () => true,
    () => false,
  );
  return visible ? deps.db.visualizationShare.findMany({ where: { visualizationId }, orderBy: { id: 'asc' } }) : [];
}

/**
 * The share link an embed of this visualization uses: the live one (neither revoked nor expired)
 * that lasts longest, for a caller who may see the visualization; null when there is none.
 */
export async function embeddableShare(deps: Pick<ServiceDeps, 'db'>, principal: Principal | null, visualizationId: string): Promise<VisualizationShare | null> {
  const now = Date.now();
  const live = (await listShares(deps, principal, visualizationId)).filter((s) => !s.revokedAt && s.expiresAt.getTime() > now);
  return live.reduce<VisualizationShare | null>((best, s) => (!best || s.expiresAt > best.expiresAt ? s : best), null);
}

/** The visualization behind a share link, without a credential; 410 once it expired or was revoked. */
export async function getSharedVisualization(deps: Pick<ServiceDeps, 'db'>, shareId: string): Promise<{ share: VisualizationShare; visualization: Visualization }> {
  const share = idKind(shareId) === 'share' ? await deps.db.visualizationShare.findUnique({ where: { id: shareId }, include: { visualization: true } }) : null;
  if (!share) throw new NotFoundError('share link', shareId);
  if (share.revokedAt) throw new AppError('share_revoked', 410, `Share link ${shareId} was revoked; ask its owner for a new one.`);
  if (share.expiresAt.getTime() <= Date.now()) throw new AppError('share_expired', 410, `Share link ${shareId} expired at ${share.expiresAt.toISOString()}; ask its owner for a new one.`);
  const { visualization, ...rest } = share;
  const shown = sharedRepositoryName(visualization.repositoryUrl);
  return { share: rest, visualization: { ...visualization, repositoryUrl: shown, error: visualization.error?.replaceAll(visualization.repositoryUrl, shown) ?? null } };
}

/** The repository as a share link shows it: a URL as given, a local path by its name only (the server's paths stay private). */
function sharedRepositoryName(value: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !/^file:/i.test(value) ? value : repositoryName(value);
}

function workDir(deps: Pick<ServiceDeps, 'config'>): string {
  return deps.config.VISUALIZATION_WORK_DIR ?? join(tmpdir(), 'codex-visualizations');
}

/**
 * The analysis (run by the workflow's activity): clone, analyse, store. A repository problem
 * (unknown branch, no access, refused URL) fails the visualization with its reason and returns
 * 'failed'; anything else throws, for the activity to retry.
 */
export async function runVisualization(
  deps: Pick<ServiceDeps, 'db' | 'bus' | 'config' | 'logger'>,
  id: string,
  options: { heartbeat?: () => void; signal?: AbortSignal; attempt?: number } = {},
): Promise<'completed' | 'failed'> {
  const v = await deps.db.visualization.findUniqueOrThrow({ where: { id } });
  if (v.status !== 'processing') return v.status;
  const opts = v.options as VisualizationOptions;
  const dir = join(workDir(deps), `${id}-${options.attempt ?? 1}`);
  let lastProgress = -1;
  const progress = async (p: number, message: string) => {
    options.heartbeat?.();
    if (p <= lastProgress) return;
    lastProgress = p;
    await emit(deps, id, 'progress', `progress-${p}`, { status: 'processing', progress: p, message });
  };
  try {
    // Checked again here: DNS may answer differently now than when the request was accepted.
    const source = await resolveRepositorySource(v.repositoryUrl, deps.config);
    await mkdir(workDir(deps), { recursive: true });
    // An earlier attempt that died with its worker left its clone behind.
    for (let a = 1; a <= (options.attempt ?? 1); a++) await rm(join(workDir(deps), `${id}-${a}`), { recursive: true, force: true });
    await progress(5, 'Cloning the repository');
    const beat = setInterval(() => options.heartbeat?.(), 1000);
    let result;
    try {
      await cloneRepository(source, dir, { branch: v.branch, includeBranches: opts.includeBranches, signal: options.signal }, deps.config);
      await progress(15, 'Cloned; analysing the history');
      result = await analyzeClone(dir, {
        branch: v.branch,
        includeBranches: opts.includeBranches,
        includeContributors: opts.includeContributors,
        maxCommits: opts.maxCommits,
        rootName: repositoryName(v.repositoryUrl),
        parallelism: deps.config.VISUALIZATION_GIT_PARALLELISM,
        onProgress: progress,
        signal: options.signal,
      });
    } finally {
      clearInterval(beat);
    }
    await progress(90, `Storing ${result.commits.length} commits`);
    if (!(await storeAnalysis(deps, id, result, { includeCommits: opts.includeCommits, heartbeat: options.heartbeat }))) {
      return (await deps.db.visualization.findUniqueOrThrow({ where: { id } })).status as 'completed' | 'failed';
    }
    await emit(deps, id, 'visualization', 'terminal', {
      status: 'completed',
      progress: 100,
      message: `Analysed ${result.stats.total_commits} commits by ${result.stats.total_contributors} contributors; ${result.stats.total_files} files`,
    });
    deps.logger.info({ visualizationId: id, status: 'completed', commits: result.stats.total_commits }, 'visualization completed');
    return 'completed';
  } catch (err) {
    if (err instanceof RepositoryError || err instanceof ValidationError) {
      const message = err instanceof ValidationError ? `The repository URL ${err.fieldErrors[0]?.message ?? 'was refused'}.` : err.message;
      await failVisualization(deps, id, message);
      return 'failed';
    }
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Stores an analysis: its commits (replacing what an earlier attempt stored) and the summary; marks it completed. */
export async function storeAnalysis(
  deps: Pick<ServiceDeps, 'db'>,
  id: string,
  result: AnalysisResult,
  options: { includeCommits: boolean; heartbeat?: () => void },
): Promise<boolean> {
  // One transaction, on the row locked while it is still processing: an attempt that was cancelled
  // or timed out (its visualization already failed, or another attempt stored it) stores nothing.
  return deps.db.$transaction(
    async (tx) => {
      const [row] = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM visualizations WHERE id = ${id} AND status = 'processing' FOR UPDATE`;
      if (!row) return false;
      await storeRows(tx, id, result, options);
      return true;
    },
    { timeout: 10 * 60_000, maxWait: 60_000 },
  );
}

async function storeRows(
  db: Pick<ServiceDeps['db'], 'visualizationCommit' | 'visualization' | '$executeRaw'>,
  id: string,
  result: AnalysisResult,
  options: { includeCommits: boolean; heartbeat?: () => void },
): Promise<void> {
  await db.visualizationCommit.deleteMany({ where: { visualizationId: id } });
  if (options.includeCommits) {
    // One statement per 10,000 rows with the rows as one JSON parameter: Prisma's createMany binds
    // 11 parameters per row and took 23 s for 50,000 commits on the development machine.
    for (let i = 0; i < result.commits.length; i += 10_000) {
      options.heartbeat?.();
      const rows = JSON.stringify(
        result.commits.slice(i, i + 10_000).map((c) => ({
          sha: c.sha,
          author: c.author,
          author_name: c.authorName,
          message: c.message,
          timestamp: c.timestamp.toISOString(),
          parents: c.parents,
          files_changed: c.filesChanged,
          insertions: c.insertions,
          deletions: c.deletions,
          branches: c.branches,
        })),
      );
      await db.$executeRaw`
        INSERT INTO visualization_commits (visualization_id, sha, author, author_name, message, "timestamp", parents, files_changed, insertions, deletions, branches)
        SELECT ${id}, r.sha, r.author, r.author_name, r.message, r."timestamp", r.parents, r.files_changed, r.insertions, r.deletions, r.branches
        FROM jsonb_to_recordset(${rows}::jsonb) AS r(sha text, author text, author_name text, message text, "timestamp" timestamptz, parents text[], files_changed int, insertions int, deletions int, branches text[])`;
    }
  }
  // Json columns take plain objects.
  const stats: object = result.stats;
  const nodes: object[] = result.nodes;
  const edges: object[] = result.edges;
  const timeline: object[] = result.timeline;
  await db.visualization.update({
    where: { id },
    data: {
      status: 'completed',
      resolvedBranch: result.branch,
      headSha: result.headSha,
      stats,
      nodes,
      edges,
      timeline,
      completedAt: new Date(),
    },
  });
}

/** Ends the visualization as failed with a reason safe to show (after retries ran out, or a repository problem). */
export async function failVisualization(deps: Pick<ServiceDeps, 'db' | 'bus' | 'logger'>, id: string, message: string): Promise<void> {
  const { count } = await deps.db.visualization.updateMany({ where: { id, status: 'processing' }, data: { status: 'failed', error: message, completedAt: new Date() } });
  if (!count) return;
  deps.logger.info({ visualizationId: id, status: 'failed', reason: message }, 'visualization failed');
  await emit(deps, id, 'visualization', 'terminal', { status: 'failed', progress: 100, message });
}

/** Progress events after `since`, then live until the visualization ends. */
export function streamVisualizationEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, since: number) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: id, since, isTerminal: (e: StoredEvent) => e.type === 'visualization' });
}

export type { Visualization, VisualizationComment, VisualizationCommit, VisualizationShare };
