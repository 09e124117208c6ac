/**
 * Reviews (issue #6, POST/GET/LIST/PATCH /v1/reviews, POST /v1/reviews/{id}/approve): the service
 * creates the review and starts its workflow (workflow id = review id), which runs the reviewer
 * one file at a time (run-review.ts). Findings and the final summary are events on the review's
 * stream, so SSE and the GraphQL subscription share one resumable sequence.
 */
import { compareFindings } from '../../agents/reviewer.js';
import type { Review, ReviewIssue } from '../../generated/prisma/client.js';
import { poolOf, poolRows } from '../../db/client.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import type { StoredEvent } from '../../events/event-store.js';
import { streamEvents } from '../../events/event-stream.js';
import { idKind, newId } from '../../ids.js';
import { reviewWorkflow, type ReviewWorkflowInput } from '../../../workflows/review.js';
import { start, startForRow } from '../../temporal/start-for-row.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { paginate, type PageArgs } from '../pagination.js';
import { canSee, listScope, requireTeamRole } from '../teams.js';
import { fieldErrors } from '../tasks/task-input.js';
import { relevantFiles, type FileHit } from '../projects/search.js';
import { filesOf, parseIssueFilter, parseReviewInput, REVIEW_STATUSES, reviewUpdateSchema, type IssueFilter, type StoredReviewInput } from './review-input.js';
import { getProject } from '../projects/projects.js';
import { mayReadObject, readableFilter, requireRead } from '../auth/read-resources.js';

export const REVIEW_PAGE_MAX = 50;

/**
 * A review as answers read it: every column but the submitted code (up to REVIEW_MAX_INPUT_BYTES,
 * which only the review activity reads).
 */
export type ReviewRow = Omit<Review, 'input'>;
const withoutInput = { input: true } as const;

/** Stream event types: one `issue` per finding, then exactly one `completed` or `failed`. */
export const isTerminalReviewEvent = (e: StoredEvent) => e.type === 'completed' || e.type === 'failed';


/** Files of the project given as context, besides the reviewed ones. */
const CONTEXT_FILES = 5;

/** The project's indexed files most relevant to the reviewed code, the reviewed paths left out. */
async function projectContext(deps: Pick<ServiceDeps, 'db'>, principal: Principal, projectId: string, stored: StoredReviewInput): Promise<FileHit[]> {
  const text = 'diff' in stored ? stored.diff : stored.files.map((f) => `${f.path}\n${f.content}`).join('\n');
  const reviewed = new Set('diff' in stored ? filesOf(stored).files.map((f) => f.path) : stored.files.map((f) => f.path));
  const hits = await relevantFiles(deps, principal, projectId, text, CONTEXT_FILES + reviewed.size);
  return hits.filter((h) => !reviewed.has(h.path)).slice(0, CONTEXT_FILES);
}

/** Creates the review and starts its workflow (once per idempotency key). */
export async function createReview(deps: ServiceDeps, principal: Principal, raw: unknown, idempotencyKey?: string | null): Promise<{ id: string; replayed: boolean }> {
  const { input, mode, stored } = parseReviewInput(raw, { maxFiles: deps.config.REVIEW_MAX_FILES, maxBytes: deps.config.REVIEW_MAX_INPUT_BYTES });
  if (input.projectId) requireRead(principal, 'project_search', "a project's files as context");
  const project = input.projectId ? await getProject(deps, principal, input.projectId) : null;
  const teamId = input.teamId ?? project?.teamId ?? principal.teamId;
  if (project && (project.teamId ?? null) !== (teamId ?? null)) {
    throw new ValidationError([{ field: 'teamId', message: `must be the project's team (${project.teamId ?? 'none: a personal project'})` }]);
  }
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const contextFiles = project ? await projectContext(deps, principal, project.id, stored) : [];
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'createReview', request: input },
    async () => {
      const id = newId('review');
      await insertReview(deps.db, {
        id,
        ownerId: principal.userId,
        teamId: teamId ?? null,
        createdByKeyId: principal.method === 'api_key' ? principal.credentialId : null,
        projectId: project?.id ?? null,
        mode,
        input: stored,
        categories: input.categories,
        minConfidence: input.minConfidence,
        title: input.title ?? null,
        metadata: input.metadata,
        contextFiles,
      });
      const undo = () => deps.db.review.delete({ where: { id } });
      await startForRow(deps, { id, what: 'the review was not created', undo }, () => startReviewWorkflow(deps, id));
      return id;
    },
  );
  return { id: resourceId, replayed };
}

/**
 * Stores a new review (status queued). The submitted code goes to PostgreSQL as one JSON text
 * parameter on the pool under Prisma: Prisma's create serialises a 1 MB value several times over
 * (its query protocol, the compiler, the driver), about three times the cost of the insert itself.
 */
async function insertReview(
  db: ServiceDeps['db'],
  r: Pick<Review, 'id' | 'ownerId' | 'teamId' | 'createdByKeyId' | 'projectId' | 'mode' | 'categories' | 'minConfidence' | 'title'> & { input: StoredReviewInput; metadata: Record<string, string>; contextFiles: FileHit[] },
): Promise<void> {
  const pool = poolOf(db);
  if (!pool) throw new Error('insertReview: the client was not made by createDb');
  await poolRows(
    pool,
    `INSERT INTO reviews (id, owner_id, team_id, created_by_key_id, project_id, mode, input, categories, min_confidence, title, metadata, context_files)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::text[], $9, $10, $11::jsonb, $12::jsonb)`,
    [r.id, r.ownerId, r.teamId, r.createdByKeyId, r.projectId, r.mode, JSON.stringify(r.input), r.categories, r.minConfidence, r.title, JSON.stringify(r.metadata), JSON.stringify(r.contextFiles)],
  );
}

/**
 * Starts the workflow of a stored review (workflow id = review id). With `rejectDuplicate` a
 * review whose workflow ever existed is refused (the reconciler's restart of a lost start).
 */
export async function startReviewWorkflow(deps: Pick<ServiceDeps, 'temporal' | 'config'>, reviewId: string, options: { rejectDuplicate?: boolean } = {}): Promise<void> {
  const workflowInput: ReviewWorkflowInput = { reviewId };
  await start(deps, reviewWorkflow, { workflowId: reviewId, args: [workflowInput], rejectDuplicate: options.rejectDuplicate });
}

/** The review if the caller may see it (its owner, or a member of its team); else 404. */
export async function getReview(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<ReviewRow> {
  const review = idKind(id) === 'review' ? await deps.db.review.findUnique({ where: { id }, omit: withoutInput }) : null;
  if (!review || !mayReadObject(principal, 'reviews', review.createdByKeyId) || !(await canSee(deps, principal, review))) throw new NotFoundError('review', id);
  return review;
}

/** Waits up to `ms` for the review to finish (woken by its events), then returns it as it is. */
export async function waitForReview(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, ms: number): Promise<ReviewRow> {
  const deadline = Date.now() + ms;
  let wake: (() => void) | null = null;
  const unsubscribe = deps.bus.subscribe(id, () => wake?.());
  try {
    for (;;) {
      const review = await deps.db.review.findUniqueOrThrow({ where: { id }, omit: withoutInput });
      const left = deadline - Date.now();
      if (review.status === 'completed' || review.status === 'failed' || left <= 0) return review;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    unsubscribe();
  }
}

export async function listReviews(
  deps: Pick<ServiceDeps, 'db'>,
  principal: Principal,
  args: PageArgs & { teamId?: string | null; projectId?: string | null; status?: string | null },
) {
  if (args.status != null && !(REVIEW_STATUSES as readonly string[]).includes(args.status)) {
    throw new ValidationError([{ field: 'status', message: `must be one of: ${REVIEW_STATUSES.join(', ')}` }]);
  }
  if (args.projectId != null) await getProject(deps, principal, args.projectId);
  const base = await listScope(deps, principal, args.teamId);
  const filter = { ...(args.projectId != null ? { projectId: args.projectId } : {}), ...(args.status != null ? { status: args.status as Review['status'] } : {}) };
  return paginate(args, REVIEW_PAGE_MAX, 'review', (cursor, order, take) =>
    // Each review's issue count comes with it (one statement for the page, not one per review).
    deps.db.review.findMany({ where: { ...base, ...filter, ...readableFilter(principal, 'reviews'), ...cursor }, orderBy: { id: order }, take, omit: withoutInput, include: { _count: { select: { issues: true } } } }),
  );
}

/** A review's issues, most severe first, optionally filtered (confidence, categories, severities, statuses). */
export async function reviewIssues(deps: Pick<ServiceDeps, 'db'>, reviewId: string, rawFilter: unknown = {}): Promise<ReviewIssue[]> {
  return (await issuesOfReviews(deps, [reviewId], rawFilter))[0];
}

/** The issues of each review that pass one filter, most severe first, in one statement. */
export async function issuesOfReviews(deps: Pick<ServiceDeps, 'db'>, reviewIds: readonly string[], rawFilter: unknown = {}): Promise<ReviewIssue[][]> {
  const filter: IssueFilter = parseIssueFilter(rawFilter);
  const rows = await deps.db.reviewIssue.findMany({
    where: {
      reviewId: { in: [...reviewIds] },
      ...(filter.minConfidence != null ? { confidence: { gte: filter.minConfidence } } : {}),
      ...(filter.categories ? { category: { in: filter.categories } } : {}),
      ...(filter.severities ? { severity: { in: filter.severities } } : {}),
      ...(filter.statuses ? { status: { in: filter.statuses } } : {}),
    },
  });
  rows.sort(compareFindings);
  return reviewIds.map((id) => rows.filter((r) => r.reviewId === id));
}

/** How many issues a review has (all statuses); a review read by listReviews already knows. */
export async function countReviewIssues(deps: Pick<ServiceDeps, 'db'>, review: ReviewRow & { _count?: { issues: number } }) {
  return review._count?.issues ?? deps.db.reviewIssue.count({ where: { reviewId: review.id } });
}

/** Changes title, metadata and issue statuses (team reviews: member role); never the findings themselves. */
export async function updateReview(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string, raw: unknown): Promise<ReviewRow> {
  const review = await getReview(deps, principal, id);
  if (review.teamId) await requireTeamRole(deps, principal, review.teamId, 'member');
  const parsed = reviewUpdateSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const update = parsed.data;
  const issues = update.issues ?? [];
  if (issues.length) {
    const ids = [...new Set(issues.map((i) => i.id))];
    const known = new Set((await deps.db.reviewIssue.findMany({ where: { reviewId: id, id: { in: ids } }, select: { id: true } })).map((r) => r.id));
    const unknown = issues.map((issue, index) => ({ issue, index })).filter(({ issue }) => !known.has(issue.id));
    if (unknown.length) {
      throw new ValidationError(unknown.map(({ issue, index }) => ({ field: `issues.${index}.id`, message: `is not an issue of review ${id} (${issue.id})` })));
    }
  }
  await deps.db.$transaction([
    ...issues.map((i) =>
      deps.db.reviewIssue.update({ where: { id: i.id }, data: { status: i.status, ...(i.note !== undefined ? { note: i.note } : {}) } }),
    ),
    deps.db.review.update({
      where: { id },
      select: { id: true },
      data: { ...(update.title !== undefined ? { title: update.title } : {}), ...(update.metadata !== undefined ? { metadata: update.metadata } : {}) },
    }),
  ]);
  return deps.db.review.findUniqueOrThrow({ where: { id }, omit: withoutInput });
}

/** Records who approved a completed review and when; a review is approved once. */
export async function approveReview(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<ReviewRow> {
  const review = await getReview(deps, principal, id);
  if (review.teamId) await requireTeamRole(deps, principal, review.teamId, 'member');
  if (review.status !== 'completed') {
    throw new ConflictError('review_not_completed', `Review ${id} is ${review.status}; only a completed review can be approved. Wait for it to finish.`, { status: review.status });
  }
  const { count } = await deps.db.review.updateMany({ where: { id, approvedAt: null }, data: { approvedById: principal.userId, approvedAt: new Date() } });
  if (count === 0) {
    const now = await deps.db.review.findUniqueOrThrow({ where: { id }, omit: withoutInput });
    // Approving again as the same user is a retry: it answers the approval on record.
    if (now.approvedById === principal.userId) return now;
    throw new ConflictError('review_already_approved', `Review ${id} was already approved by ${now.approvedById} at ${now.approvedAt?.toISOString()}.`, {
      approved_by: now.approvedById,
      approved_at: now.approvedAt?.toISOString(),
    });
  }
  return deps.db.review.findUniqueOrThrow({ where: { id }, omit: withoutInput });
}

/** The review's events after `since` (its findings as found, then its end), live until it ends. */
export function streamReviewEvents(deps: Pick<ServiceDeps, 'db' | 'bus'>, id: string, since: number, signal?: AbortSignal) {
  return streamEvents({ db: deps.db, bus: deps.bus, streamId: id, since, isTerminal: isTerminalReviewEvent, signal });
}
