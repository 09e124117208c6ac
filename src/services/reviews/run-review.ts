/**
 * Runs a review: the reviewer reads one file at a time and each file's findings are written at
 * once (rows, then one `issue` event each), so a stream shows them while the review goes on.
 * Finding ids are deterministic and events are keyed by them: an attempt retried after a crash
 * writes the same rows and events again, which the database keeps once.
 */
import { Reviewer, reviewScore, reviewSummary, type ReviewCategory, type ReviewFinding } from '../../agents/reviewer.js';
import type { Severity } from '../../agents/security-expert.js';
import { appendEvent, appendEvents } from '../../events/event-store.js';
import type { Prisma, Review } from '../../generated/prisma/client.js';
import type { ServiceDeps } from '../deps.js';
import { changeWithWebhookEvent } from '../webhooks/events.js';
import { ignoreMatcher } from '../projects/index-run.js';
import { indexedFileText, type FileHit } from '../projects/search.js';
import { filesOf, type StoredReviewInput } from './review-input.js';

type Deps = Pick<ServiceDeps, 'db' | 'bus'>;

/**
 * Findings are written in batches: the first at once (a stream's first finding comes as soon as
 * it is found), then whatever was found in the last FLUSH_MS, so a large review costs a few
 * statements per batch instead of a few per finding.
 */
const FLUSH_MS = 50;
const FLUSH_MAX = 500;

export interface RunOptions {
  /** Pause before each file (REVIEW_FILE_DELAY_MS: demos and tests of streaming). */
  fileDelayMs: number;
  /** Called after each file (the activity heartbeats). */
  onFile?: (index: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** The issue as events carry it: the finding as found, open. */
export function issueEventData(f: ReviewFinding) {
  return { ...f, status: 'open', note: null };
}

/** Reviews every file and completes the review; a review already over is left as it is. */
export async function runReview(deps: Deps, reviewId: string, options: RunOptions): Promise<'completed' | 'failed'> {
  const review = await deps.db.review.findUnique({ where: { id: reviewId } });
  if (!review) return 'failed'; // deleted under it (its project or team went): nothing left to do
  if (review.status === 'completed' || review.status === 'failed') {
    // An earlier attempt ended it; its final event may not have been written before that attempt died.
    await appendTerminalEvent(deps, review);
    return review.status;
  }
  await deps.db.review.updateMany({ where: { id: reviewId, status: 'queued' }, data: { status: 'running' } });
  const input = filesOf(review.input as unknown as StoredReviewInput);
  const reviewer = new Reviewer(reviewId, { categories: review.categories as ReviewCategory[], minConfidence: review.minConfidence, changedLines: input.changedLines });
  let files = input.files;
  const project = review.projectId ? await deps.db.project.findUnique({ where: { id: review.projectId }, select: { ignoredPaths: true } }) : null;
  if (project) {
    // The project's ignored paths are not reviewed; its related files are compared with.
    const ignored = ignoreMatcher(project.ignoredPaths);
    const ignoredFiles = files.filter((f) => ignored(f.path)).map((f) => f.path);
    files = files.filter((f) => !ignored(f.path));
    if (ignoredFiles.length) await deps.db.review.update({ where: { id: reviewId }, data: { ignoredFiles } });
    const context = await Promise.all(
      (review.contextFiles as unknown as FileHit[]).map(async (f) => ({ path: f.path, content: (await indexedFileText(deps, review.projectId!, f.path)) ?? '' })),
    );
    reviewer.compareWith(context);
  }
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let lines = 0;
  let pending: ReviewFinding[] = [];
  let lastFlush = -Infinity;
  // Writes run one after another, overlapping the analysis of the next files (the first is awaited:
  // the first finding goes out at once). A failed write fails the attempt; the retry rewrites
  // everything, and deterministic ids keep each finding once.
  let writing: Promise<void> = Promise.resolve();
  let writeError = null as Error | null; // set by the write chain's catch, below
  const write = async (batch: ReviewFinding[]) => {
    if (writeError) return;
    await deps.db.reviewIssue.createMany({ data: batch.map((f) => ({ ...f, reviewId })), skipDuplicates: true });
    await appendEvents(deps.db, deps.bus, reviewId, batch.map((f) => ({ type: 'issue', key: f.id, data: issueEventData(f) })));
  };
  const flush = () => {
    const batch = pending;
    pending = [];
    lastFlush = Date.now();
    if (batch.length) writing = writing.then(() => write(batch)).catch((err: Error) => void (writeError ??= err));
    return writing;
  };
  let flushed = false;
  for (const [index, file] of files.entries()) {
    if (options.fileDelayMs > 0) await sleep(options.fileDelayMs);
    lines += file.content.split('\n').length;
    pending.push(...reviewer.next(file));
    if (pending.length && (Date.now() - lastFlush >= FLUSH_MS || pending.length >= FLUSH_MAX)) {
      if (flushed) void flush();
      else await flush();
      flushed = true;
    }
    if (writeError) throw writeError;
    options.onFile?.(index);
    await new Promise((r) => setImmediate(r)); // let the writes and the stream make progress
  }
  await flush();
  if (writeError) throw writeError;
  // Every finding of this review, whichever attempt wrote it (the set is the same each time).
  const all = await deps.db.reviewIssue.findMany({ where: { reviewId } });
  const findings = all.map((r) => ({ ...r, severity: r.severity as Severity, category: r.category as ReviewCategory }));
  const score = reviewScore(findings);
  const summary = reviewSummary({ mode: review.mode, files: files.length, lines }, findings, score);
  await endReview(deps, review, 'completed', { summary, score, filesReviewed: files.length }, { score, issue_count: findings.length, files_reviewed: files.length });
  await appendTerminalEvent(deps, { ...review, status: 'completed', summary, score, filesReviewed: files.length }, findings.length);
  return 'completed';
}

/** The final event of an ended review, from its row (stored once: the key is the same every time). */
async function appendTerminalEvent(deps: Deps, review: Omit<Review, 'input'>, knownIssueCount?: number) {
  if (review.status === 'failed') {
    await appendEvent(deps.db, deps.bus, { streamId: review.id, type: 'failed', key: 'terminal', data: { status: 'failed', error: review.error } });
    return;
  }
  const issueCount = knownIssueCount ?? (await deps.db.reviewIssue.count({ where: { reviewId: review.id } }));
  await appendEvent(deps.db, deps.bus, {
    streamId: review.id,
    type: 'completed',
    key: 'terminal',
    data: { status: 'completed', summary: review.summary, score: review.score, issueCount, filesReviewed: review.filesReviewed },
  });
}

/** Ends an unfinished review, with its webhook event in the same transaction; 0 when it had already ended. */
function endReview(deps: Deps, review: Omit<Review, 'input'>, status: 'completed' | 'failed', data: Prisma.ReviewUpdateManyMutationInput, event: Record<string, unknown>): Promise<number> {
  return changeWithWebhookEvent(deps, async (tx) => {
    const { count } = await tx.review.updateMany({ where: { id: review.id, status: { in: ['queued', 'running'] } }, data: { ...data, status, completedAt: new Date() } });
    return {
      result: count,
      event: count
        ? { type: `review.${status}`, resourceId: review.id, ownerId: review.ownerId, teamId: review.teamId, projectId: review.projectId, data: { review_id: review.id, status, ...event } }
        : null,
    };
  });
}

/**
 * Ends a review that could not run as failed, with an error safe to show: its attempts ran out
 * (agent_error), or its workflow ended in the task engine without it (the reconciler's codes).
 */
export async function failReview(deps: Deps, reviewId: string, message: string, code = 'agent_error') {
  const error = { code, message };
  const review = await deps.db.review.findUnique({ where: { id: reviewId }, omit: { input: true } });
  if (!review) return; // deleted under it
  await endReview(deps, review, 'failed', { error }, { error });
  // Whoever ended it, its final event is written (again: the key keeps one).
  const ended = await deps.db.review.findUnique({ where: { id: reviewId }, omit: { input: true } });
  if (ended) await appendTerminalEvent(deps, ended);
}
