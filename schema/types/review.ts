// Code reviews: a diff, a file or a repository snapshot in; ranked findings, a summary and a score out.
import type { ArgBuilder } from '@pothos/core';
import { callerOf } from '../../src/context.js';
import type { ReviewIssue } from '../../src/generated/prisma/client.js';
import type { StoredEvent } from '../../src/events/event-store.js';
import {
  approveReview,
  countReviewIssues,
  createReview,
  getReview,
  listReviews,
  streamReviewEvents,
  updateReview,
  waitForReview,
  type ReviewRow,
} from '../../src/services/reviews/reviews.js';
import { withIdempotency } from '../../src/services/idempotency.js';
import { reviewCost } from '../../src/services/reviews/review-input.js';
import { reviewSarif } from '../../src/services/reviews/sarif.js';
import type { FileHit } from '../../src/services/projects/search.js';
import { builder, type BuilderTypes } from '../builder.js';
import { changeOnceFor } from '../change-once.js';
import { FileHitRef } from './project.js';
import { connectionOf } from '../connection.js';
import { FileInput } from './task.js';
import { mayReadObject } from '../../src/services/auth/read-resources.js';

const ReviewStatus = builder.enumType('ReviewStatus', {
  values: {
    QUEUED: { value: 'queued' },
    RUNNING: { value: 'running', description: 'Findings are being written (and streamed) as they are found.' },
    COMPLETED: { value: 'completed', description: 'Every file was reviewed; summary and score are set.' },
    FAILED: { value: 'failed' },
  } as const,
});

type MetadataEntry = { key: string; value: string };
const entriesOf = (metadata: unknown): MetadataEntry[] => Object.entries((metadata ?? {}) as Record<string, string>).map(([key, value]) => ({ key, value }));
const recordOf = (entries: MetadataEntry[] | null | undefined) => (entries == null ? undefined : Object.fromEntries(entries.map((e) => [e.key, e.value])));

const MetadataEntryRef = builder.objectRef<MetadataEntry>('MetadataEntry').implement({
  fields: (t) => ({ key: t.exposeString('key'), value: t.exposeString('value') }),
});
const MetadataEntryInput = builder.inputType('MetadataEntryInput', {
  fields: (t) => ({ key: t.string({ required: true }), value: t.string({ required: true }) }),
});

/** An issue as stored, or as an `issue` event carries it (the same fields). */
type IssueShape = Pick<ReviewIssue, 'id' | 'path' | 'startLine' | 'endLine' | 'severity' | 'category' | 'ruleId' | 'title' | 'message' | 'suggestedFix' | 'confidence' | 'status' | 'note'>;

export const ReviewIssueRef = builder.objectRef<IssueShape>('ReviewIssue').implement({
  description: 'One finding. Its id is stable: a hash of the review, path, rule, line and message.',
  fields: (t) => ({
    id: t.exposeID('id'),
    path: t.exposeString('path'),
    startLine: t.exposeInt('startLine'),
    endLine: t.exposeInt('endLine'),
    severity: t.exposeString('severity', { description: 'critical, high, medium or low.' }),
    category: t.exposeString('category', { description: 'bug, security, performance, style or maintainability.' }),
    ruleId: t.exposeString('ruleId'),
    title: t.exposeString('title'),
    message: t.exposeString('message'),
    suggestedFix: t.exposeString('suggestedFix'),
    confidence: t.exposeFloat('confidence', { description: 'How likely the finding is a real problem, 0 to 1.' }),
    status: t.exposeString('status', { description: 'open, dismissed or resolved (updateReview).' }),
    note: t.exposeString('note', { nullable: true }),
  }),
});

const ReviewErrorRef = builder.objectRef<{ code: string; message: string }>('ReviewError').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const issueFilterArgs = (t: { arg: ArgBuilder<BuilderTypes> }) => ({
  minConfidence: t.arg.float({ description: 'Only issues at least this confident (CI gates: 0.85).' }),
  categories: t.arg.stringList({ description: 'Only these categories.' }),
  severities: t.arg.stringList({ description: 'Only these severities.' }),
  statuses: t.arg.stringList({ description: 'Only issues in these statuses.' }),
});
const filterOf = (args: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(args).filter(([, v]) => v != null));

export const ReviewRef = builder.objectRef<ReviewRow>('Review');

builder.node(ReviewRef, {
  authScopes: (r, ctx) => mayReadObject(ctx.principal, 'reviews', r.createdByKeyId),
  description: 'A code review. Score = max(0, round(100 − Σ weight(severity) × confidence)), weights critical 20, high 10, medium 5, low 1.',
  id: { resolve: (r) => r.id },
  loadOne: (id, ctx) => getReview(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    status: t.field({ type: ReviewStatus, resolve: (r) => r.status }),
    mode: t.exposeString('mode', { description: 'diff, file or snapshot.' }),
    title: t.exposeString('title', { nullable: true }),
    metadata: t.field({ type: [MetadataEntryRef], resolve: (r) => entriesOf(r.metadata) }),
    summary: t.exposeString('summary', { nullable: true, description: 'A paragraph about the findings; null until completed.' }),
    score: t.exposeInt('score', { nullable: true, description: '0 to 100; null until completed.' }),
    categories: t.exposeStringList('categories'),
    minConfidence: t.exposeFloat('minConfidence'),
    filesReviewed: t.exposeInt('filesReviewed'),
    contextFiles: t.field({
      type: [FileHitRef],
      description: "With a project: its indexed files most relevant to the reviewed code; blocks copied from them are reported as duplicated-block.",
      resolve: (r) => r.contextFiles as unknown as FileHit[],
    }),
    ignoredFiles: t.exposeStringList('ignoredFiles', { description: "With a project: reviewed paths its ignored_paths left out." }),
    issues: t.field({
      type: [ReviewIssueRef],
      description: 'Findings, most severe first.',
      args: issueFilterArgs(t),
      resolve: (r, args, ctx) => ctx.loaders.reviewIssues.load({ id: r.id, filter: filterOf(args) }),
    }),
    issueCount: t.int({ resolve: (r, _a, ctx) => countReviewIssues(ctx.deps, r) }),
    sarif: t.string({
      description: 'The findings as a SARIF 2.1.0 log (JSON text), for code-scanning tools.',
      args: issueFilterArgs(t),
      resolve: async (r, args, ctx) => JSON.stringify(reviewSarif(r, await ctx.loaders.reviewIssues.load({ id: r.id, filter: filterOf(args) }))),
    }),
    error: t.field({ type: ReviewErrorRef, nullable: true, resolve: (r) => (r.error as { code: string; message: string } | null) ?? null }),
    projectId: t.exposeID('projectId', { nullable: true }),
    teamId: t.exposeID('teamId', { nullable: true }),
    approvedById: t.exposeID('approvedById', { nullable: true }),
    approvedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.approvedAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.completedAt }),
  }),
});

builder.queryFields((t) => ({
  review: t.field({
    type: ReviewRef,
    authScopes: { read: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getReview(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  reviews: t.connection({
    type: ReviewRef,
    description: 'Your reviews (or a team\'s), newest first; at most 50 per page.',
    authScopes: { read: true },
    args: { teamId: t.arg.id(), projectId: t.arg.id(), status: t.arg.string({ description: 'queued, running, completed or failed.' }) },
    resolve: async (_r, args, ctx) =>
      connectionOf(
        await listReviews(ctx.deps, callerOf(ctx), {
          ...args,
          teamId: args.teamId == null ? null : String(args.teamId),
          projectId: args.projectId == null ? null : String(args.projectId),
        }),
      ),
  }),
}));

const CreateReviewInput = builder.inputType('CreateReviewInput', {
  description: 'Exactly one of diff, file or files.',
  fields: (t) => ({
    diff: t.string({ description: 'A unified diff (git diff, diff -u): only issues on added or changed lines are reported.' }),
    file: t.field({ type: FileInput, description: 'One file.' }),
    files: t.field({ type: [FileInput], description: 'A repository snapshot.' }),
    categories: t.stringList({ description: 'Categories to check (default all): bug, security, performance, style, maintainability.' }),
    minConfidence: t.float({ description: 'Findings below this confidence (0 to 1) are not reported.' }),
    title: t.string(),
    metadata: t.field({ type: [MetadataEntryInput] }),
    projectId: t.id(),
    teamId: t.id(),
  }),
});

const IssueStatusInput = builder.inputType('ReviewIssueStatusInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    status: t.string({ required: true, description: 'open, dismissed or resolved.' }),
    note: t.string(),
  }),
});

const UpdateReviewInput = builder.inputType('UpdateReviewInput', {
  fields: (t) => ({
    title: t.string(),
    metadata: t.field({ type: [MetadataEntryInput], description: 'Replaces the metadata.' }),
    issues: t.field({ type: [IssueStatusInput], description: 'Status changes of issues; the findings themselves never change.' }),
  }),
});

const CreatePayload = builder.objectRef<{ review: ReviewRow; replayed: boolean }>('CreateReviewPayload').implement({
  fields: (t) => ({ review: t.field({ type: ReviewRef, resolve: (p) => p.review }), replayed: t.exposeBoolean('replayed') }),
});
const ReviewPayload = builder.objectRef<{ review: ReviewRow; replayed?: boolean }>('ReviewPayload').implement({
  fields: (t) => ({
    review: t.field({ type: ReviewRef, resolve: (p) => p.review }),
    replayed: t.boolean({ description: 'Whether this answered an earlier request with the same idempotencyKey (nothing changed again).', resolve: (p) => p.replayed ?? false }),
  }),
});

const defined = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));

builder.mutationFields((t) => ({
  createReview: t.field({
    type: CreatePayload,
    description: 'Starts a review; follow it with reviewEvents, or pass wait: true to get it finished (up to REVIEW_WAIT_SECONDS).',
    skipTypeScopes: true,
    authScopes: { generate: true },
    // A bulk operation by size: a diff or one file 1 credit, a snapshot 5, over 500 files 10.
    extensions: { cost: (args: { input?: { files?: unknown[] } }) => reviewCost(args.input) },
    args: { input: t.arg({ type: CreateReviewInput, required: true }), idempotencyKey: t.arg.string(), wait: t.arg.boolean({ defaultValue: false }) },
    resolve: async (_r, { input, idempotencyKey, wait }, ctx) => {
      const caller = callerOf(ctx);
      const raw = defined({
        ...input,
        metadata: recordOf(input.metadata),
        projectId: input.projectId == null ? undefined : String(input.projectId),
        teamId: input.teamId == null ? undefined : String(input.teamId),
      });
      const { id, replayed } = await createReview(ctx.deps, caller, raw, idempotencyKey);
      const review = wait ? await waitForReview(ctx.deps, id, ctx.deps.config.REVIEW_WAIT_SECONDS * 1000) : await getReview(ctx.deps, caller, id);
      return { review, replayed };
    },
  }),
  updateReview: t.field({
    type: ReviewPayload,
    description: 'Changes the title, metadata and issue statuses (e.g. dismissed); never the findings.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateReviewInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) => {
      const { input } = args;
      const raw: Record<string, unknown> = {};
      if (input.title !== undefined) raw.title = input.title;
      if (input.metadata != null) raw.metadata = recordOf(input.metadata);
      if (input.issues != null) raw.issues = input.issues.map((i) => defined({ ...i, id: String(i.id) }));
      return changeOnceFor(
        ctx,
        'updateReview',
        args,
        async () => ({ review: await updateReview(ctx.deps, callerOf(ctx), String(args.id), raw) }),
        (p) => p.review.id,
        async (reviewId) => ({ review: await getReview(ctx.deps, callerOf(ctx), reviewId) }),
      );
    },
  }),
  approveReview: t.field({
    type: ReviewPayload,
    description: 'Records that you approved the (completed) review, and when.',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { id, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { replayed } = await withIdempotency(ctx.deps.db, { principalId: caller.userId, key: idempotencyKey, operation: 'approveReview', request: { id: String(id) } }, async () => {
        return (await approveReview(ctx.deps, caller, String(id))).id;
      });
      return { review: await getReview(ctx.deps, caller, String(id)), replayed };
    },
  }),
}));

const ReviewEventRef = builder.objectRef<StoredEvent>('ReviewEvent').implement({
  description: 'One event of a review: a finding (ISSUE) as it is found, then COMPLETED (summary, score) or FAILED.',
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Per-review sequence number; resume with since (SSE: the event id, Last-Event-ID).' }),
    type: t.string({ description: 'issue, completed or failed.', resolve: (e) => e.type }),
    issue: t.field({ type: ReviewIssueRef, nullable: true, resolve: (e) => (e.type === 'issue' ? (e.data as unknown as IssueShape) : null) }),
    status: t.string({ resolve: (e) => String((e.data.status as string | null | undefined) ?? 'running') }),
    summary: t.string({ nullable: true, resolve: (e) => (e.data.summary as string | undefined) ?? null }),
    score: t.int({ nullable: true, resolve: (e) => (e.data.score as number | undefined) ?? null }),
    issueCount: t.int({ nullable: true, resolve: (e) => (e.data.issueCount as number | undefined) ?? null }),
    filesReviewed: t.int({ nullable: true, resolve: (e) => (e.data.filesReviewed as number | undefined) ?? null }),
    error: t.field({ type: ReviewErrorRef, nullable: true, resolve: (e) => (e.data.error as { code: string; message: string } | undefined) ?? null }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

builder.subscriptionField('reviewEvents', (t) =>
  t.field({
    type: ReviewEventRef,
    description: 'Findings as they are found, then the summary; resumable with since, completes after COMPLETED or FAILED.',
    authScopes: { read: true },
    args: { id: t.arg.id({ required: true }), since: t.arg.int({ defaultValue: 0, description: 'Resume after this sequence number.' }) },
    subscribe: async (_r, args, ctx) => {
      const review = await getReview(ctx.deps, callerOf(ctx), String(args.id));
      return streamReviewEvents(ctx.deps, review.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);
