/**
 * /v1/reviews: submit a diff, a file or a snapshot; get, list, update and
 * approve reviews. POST and GET stream with `Accept: text/event-stream` (findings as found, then
 * the summary; resumable with Last-Event-ID). GET ?format=sarif answers a SARIF 2.1.0 log.
 */
import { z } from 'zod';
import { REVIEW_CATEGORIES, SCORE_WEIGHTS, SEVERITIES } from '../../agents/reviewer.js';
import { ISSUE_STATUSES, REVIEW_STATUSES } from '../../services/reviews/review-input.js';
import { REVIEW_PAGE_MAX } from '../../services/reviews/reviews.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { FileHitJson, fileHitJson } from './projects.js';
import { defineEventStream, defineRoute, idempotencyKey, lower, oneOf, present } from '../route.js';
import { wantsEventStream } from '../sse.js';
import { graphql, type ResultOf } from '../graphql.js';

const ReviewIssueFields = graphql(`
  fragment RestReviewIssue on ReviewIssue {
    id path startLine endLine severity category ruleId title message suggestedFix confidence status note
  }
`);
const ReviewFields = graphql(`
  fragment RestReview on Review {
    id status mode title metadata { key value } summary score categories minConfidence filesReviewed issueCount ignoredFiles
    contextFiles { path language score snippet startLine endLine }
    error { code message } projectId teamId approvedById approvedAt createdAt updatedAt completedAt
  }
`);

export const SCORE_FORMULA =
  `score = max(0, round(100 − Σ weight(severity) × confidence)) over the reported issues, with weights ` +
  `${Object.entries(SCORE_WEIGHTS).map(([s, w]) => `${s} ${w}`).join(', ')}. It is fixed when the review completes; dismissing issues later does not change it.`;

const IssueJson = z.object({
  id: z.string().describe('Stable: a hash of the review id, path, rule, line and message.'),
  path: z.string(),
  start_line: z.number().int(),
  end_line: z.number().int(),
  severity: z.enum(SEVERITIES as ['critical', 'high', 'medium', 'low']),
  category: z.enum(REVIEW_CATEGORIES),
  rule_id: z.string(),
  title: z.string(),
  message: z.string(),
  suggested_fix: z.string(),
  confidence: z.number().describe('0 to 1: how likely the issue is real.'),
  status: z.enum(ISSUE_STATUSES),
  note: z.string().nullable(),
});

const ReviewJson = z.object({
  id: z.string(),
  object: z.literal('review'),
  status: z.enum(REVIEW_STATUSES),
  mode: z.enum(['diff', 'file', 'snapshot']),
  title: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
  summary: z.string().nullable().describe('A paragraph overview; null until completed.'),
  score: z.number().int().nullable().describe(`0–100; null until completed. ${SCORE_FORMULA}`),
  issues: z.array(IssueJson).optional().describe('Most severe first (omitted in lists).'),
  issue_count: z.number().int(),
  files_reviewed: z.number().int(),
  context_files: z.array(FileHitJson).describe("With project_id: the project's indexed files most relevant to the reviewed code; blocks copied from them are reported as duplicated-block"),
  ignored_files: z.array(z.string()).describe("With project_id: reviewed paths the project's ignored_paths left out"),
  categories: z.array(z.enum(REVIEW_CATEGORIES)),
  min_confidence: z.number(),
  project_id: z.string().nullable(),
  team_id: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  approved_by: z.string().nullable(),
  approved_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
  url: z.string(),
  sarif_url: z.string(),
});

type Issue = ResultOf<typeof ReviewIssueFields>;
/** A `RestReview`, with its issues where the operation selected them. */
type Review = ResultOf<typeof ReviewFields> & { issues?: readonly Issue[] | null };

const modes = ['diff', 'file', 'snapshot'] as const;

export function issueJson(i: Issue): z.input<typeof IssueJson> {
  return {
    id: i.id,
    path: i.path,
    start_line: i.startLine,
    end_line: i.endLine,
    severity: oneOf(SEVERITIES, i.severity),
    category: oneOf(REVIEW_CATEGORIES, i.category),
    rule_id: i.ruleId,
    title: i.title,
    message: i.message,
    suggested_fix: i.suggestedFix,
    confidence: i.confidence,
    status: oneOf(ISSUE_STATUSES, i.status),
    note: i.note ?? null,
  };
}

export function reviewJson(r: Review): z.input<typeof ReviewJson> {
  return {
    id: r.id,
    object: 'review' as const,
    status: lower(r.status),
    mode: oneOf(modes, r.mode),
    title: r.title,
    metadata: Object.fromEntries(r.metadata.map((e) => [e.key, e.value])),
    summary: r.summary,
    score: r.score,
    ...(r.issues ? { issues: r.issues.map(issueJson) } : {}),
    issue_count: r.issueCount,
    files_reviewed: r.filesReviewed,
    context_files: r.contextFiles.map(fileHitJson),
    ignored_files: r.ignoredFiles,
    categories: r.categories.map((c) => oneOf(REVIEW_CATEGORIES, c)),
    min_confidence: r.minConfidence,
    project_id: r.projectId,
    team_id: r.teamId,
    error: r.error,
    approved_by: r.approvedById,
    approved_at: r.approvedAt,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    completed_at: r.completedAt,
    url: `/v1/reviews/${r.id}`,
    sarif_url: `/v1/reviews/${r.id}?format=sarif`,
  };
}

const ReviewEvents = graphql(`
  subscription ReviewEvents($id: ID!, $since: Int) {
    reviewEvents(id: $id, since: $since) {
      seq type status summary score issueCount filesReviewed error { code message } timestamp
      issue { ...RestReviewIssue }
    }
  }
`, [ReviewIssueFields]);

/** The SSE events of a review: `issue` (id = seq), then `summary` or `error` (the review failed). */
function reviewEvent(e: ResultOf<typeof ReviewEvents>['reviewEvents']): { id: string; event: string; data: unknown } {
  const id = String(e.seq);
  if (e.type === 'issue') return { id, event: 'issue', data: issueJson(present(e.issue, 'the issue of an issue event')) };
  if (e.type === 'failed') return { id, event: 'error', data: { status: 'failed', error: e.error } };
  return { id, event: 'summary', data: { status: e.status, summary: e.summary, score: e.score, issue_count: e.issueCount, files_reviewed: e.filesReviewed } };
}

/** `resumes` says whether Last-Event-ID applies: not to a review this very request created. */
const reviewStream = <D>(pick: (data: D) => Review, resumes: (data: D) => boolean = () => true) =>
  defineEventStream({
    document: ReviewEvents,
    variables: (data: D, _req, lastEventId) => ({ id: pick(data).id, since: resumes(data) ? lastEventId : 0 }),
    opening: (data) => {
      const review = reviewJson(pick(data));
      delete review.issues; // the opening event is the review without its issues
      return { event: 'review', data: review };
    },
    event: reviewEvent,
  });

const CreateReview = graphql(`
  mutation CreateReview($input: CreateReviewInput!, $idempotencyKey: String, $wait: Boolean) {
    createReview(input: $input, idempotencyKey: $idempotencyKey, wait: $wait) { replayed review { ...RestReview issues { ...RestReviewIssue } } }
  }
`, [ReviewFields, ReviewIssueFields]);
const GetReview = graphql(`
  query GetReview($id: ID!, $withIssues: Boolean!, $sarif: Boolean!, $minConfidence: Float, $categories: [String!], $severities: [String!], $statuses: [String!]) {
    review(id: $id) {
      ...RestReview
      issues(minConfidence: $minConfidence, categories: $categories, severities: $severities, statuses: $statuses) @include(if: $withIssues) { ...RestReviewIssue }
      sarif(minConfidence: $minConfidence, categories: $categories, severities: $severities, statuses: $statuses) @include(if: $sarif)
    }
  }
`, [ReviewFields, ReviewIssueFields]);

const csv = <T extends string>(values: readonly T[], what: string) =>
  z
    .string()
    .transform((s) => s.split(',').map((v) => v.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values as [T, ...T[]], { message: `must be ${what}: ${values.join(', ')}` })));

const File = z.object({ path: z.string(), content: z.string() }).strict();
const IdParams = z.object({ review_id: z.string() });
const Metadata = z.record(z.string(), z.string()).describe('Your own string key-value pairs (at most 50).');
const STREAM_NOTE =
  ' With "Accept: text/event-stream" the answer is Server-Sent Events: `review` (the review, no id), one `issue` per finding as it is found, then `summary` ' +
  '(or `error`); each event after the first has an id: reconnect with "Last-Event-ID: <id>" (POST: same Idempotency-Key, or GET /v1/reviews/{id}) to resume with nothing lost or repeated.';

export const reviewRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/reviews',
    operationId: 'createReview',
    summary: 'Review a unified diff, one file, or a repository snapshot',
    description:
      'Send exactly one of `diff` (only issues on added or changed lines are reported), `file` or `files`. The JSON answer waits up to REVIEW_WAIT_SECONDS ' +
      'for the review (status completed, with summary, issues and score); a longer one answers with status running: follow `url`. ' +
      `Issues below \`min_confidence\` are not reported. Credits: a diff or one file 1, a snapshot 5, more than 500 files 10. ${SCORE_FORMULA}${STREAM_NOTE}`,
    tag: 'Reviews',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        diff: z.string().optional().describe('A unified diff (git diff, diff -u).'),
        file: File.optional(),
        files: z.array(File).optional().describe('A repository snapshot.'),
        categories: z.array(z.string()).optional().describe(`Categories to check (default all): ${REVIEW_CATEGORIES.join(', ')}.`),
        min_confidence: z.number().optional().describe('0 to 1: findings less confident than this are not reported (CI: 0.85).'),
        title: z.string().optional(),
        metadata: Metadata.optional(),
        project_id: z.string().optional(),
        team_id: z.string().optional(),
      })
      .strict(),
    response: ReviewJson,
    errors: ['idempotency_conflict', 'payload_too_large', 'service_unavailable', 'permission_denied'],
    document: CreateReview,
    variables: ({ body, headers }) => ({
      input: {
        diff: body.diff,
        file: body.file,
        files: body.files,
        categories: body.categories,
        minConfidence: body.min_confidence,
        title: body.title,
        metadata: body.metadata && Object.entries(body.metadata).map(([key, value]) => ({ key, value })),
        projectId: body.project_id,
        teamId: body.team_id,
      },
      idempotencyKey: idempotencyKey(headers),
      wait: !wantsEventStream(headers),
    }),
    reply: (data) => reviewJson(data.createReview.review),
    // A reconnect resends the POST with the same Idempotency-Key: the replayed review resumes after Last-Event-ID.
    eventStream: reviewStream((data: ResultOf<typeof CreateReview>) => data.createReview.review, (data) => data.createReview.replayed),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/reviews',
    operationId: 'listReviews',
    summary: 'Your reviews (or a team\'s), newest first; issues are omitted (GET one for them)',
    tag: 'Reviews',
    successStatus: 200,
    query: listQuery(REVIEW_PAGE_MAX, 'review')
      .extend({
        team_id: z.string().optional(),
        project_id: z.string().optional(),
        status: z.enum(REVIEW_STATUSES, { message: `must be one of: ${REVIEW_STATUSES.join(', ')}` }).optional(),
      })
      .strict(),
    response: listResponse(ReviewJson),
    document: graphql(`
  query ListReviews($teamId: ID, $projectId: ID, $status: String, $first: Int, $after: String, $last: Int, $before: String) {
    reviews(teamId: $teamId, projectId: $projectId, status: $status, first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestReview } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [ReviewFields]),
    variables: ({ query }) => ({ ...pageVariables(query), teamId: query.team_id ?? null, projectId: query.project_id ?? null, status: query.status ?? null }),
    reply: (data, req) => pageReply(data.reviews, reviewJson, '/v1/reviews', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/reviews/{review_id}',
    operationId: 'getReview',
    summary: 'A review with its issues (filterable), or its SARIF 2.1.0 log with ?format=sarif',
    description: `Filters apply to the issues (and the SARIF results). ${SCORE_FORMULA}${STREAM_NOTE}`,
    tag: 'Reviews',
    successStatus: 200,
    params: IdParams,
    query: z
      .object({
        format: z.enum(['json', 'sarif'], { message: 'must be json or sarif' }).optional(),
        min_confidence: z.coerce.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
        category: csv(REVIEW_CATEGORIES, 'comma-separated categories among').optional().describe('Comma-separated categories.'),
        severity: csv(SEVERITIES, 'comma-separated severities among').optional().describe('Comma-separated severities.'),
        status: csv(ISSUE_STATUSES, 'comma-separated issue statuses among').optional().describe('Comma-separated issue statuses.'),
      })
      .strict(),
    response: ReviewJson,
    document: GetReview,
    variables: ({ params, query, headers }) => ({
      id: params.review_id,
      withIssues: query.format !== 'sarif' && !wantsEventStream(headers),
      sarif: query.format === 'sarif',
      minConfidence: query.min_confidence ?? null,
      categories: query.category ?? null,
      severities: query.severity ?? null,
      statuses: query.status ?? null,
    }),
    reply: (data, req) =>
      req.query.format === 'sarif'
        ? // ?format=sarif answers the SARIF log itself, not the review JSON the response schema describes
          (JSON.parse(present(data.review.sarif, 'the SARIF log')) as z.input<typeof ReviewJson>)
        : reviewJson(data.review),
    eventStream: reviewStream((data: ResultOf<typeof GetReview>) => data.review),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/reviews/{review_id}',
    operationId: 'updateReview',
    summary: 'Change the title, metadata and per-issue status (open, dismissed, resolved); findings never change',
    tag: 'Reviews',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    body: z
      .object({
        title: z.string().nullable().optional(),
        metadata: Metadata.optional(),
        issues: z.array(z.object({ id: z.string(), status: z.string(), note: z.string().nullable().optional() }).strict()).optional(),
      })
      .strict(),
    response: ReviewJson,
    errors: ['permission_denied'],
    document: graphql(`
  mutation UpdateReview($id: ID!, $input: UpdateReviewInput!, $idempotencyKey: String) {
    updateReview(id: $id, input: $input, idempotencyKey: $idempotencyKey) { replayed review { ...RestReview issues { ...RestReviewIssue } } }
  }
`, [ReviewFields, ReviewIssueFields]),
    variables: ({ params, body, headers }) => ({
      id: params.review_id,
      input: {
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.metadata !== undefined ? { metadata: Object.entries(body.metadata).map(([key, value]) => ({ key, value })) } : {}),
        ...(body.issues !== undefined ? { issues: body.issues } : {}),
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => reviewJson(data.updateReview.review),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/reviews/{review_id}/approve',
    operationId: 'approveReview',
    summary: 'Approve a completed review: records who approved it and when',
    tag: 'Reviews',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: ReviewJson,
    errors: ['review_not_completed', 'review_already_approved', 'permission_denied'],
    document: graphql(`mutation ApproveReview($id: ID!, $idempotencyKey: String) { approveReview(id: $id, idempotencyKey: $idempotencyKey) { replayed review { ...RestReview } } }`, [ReviewFields]),
    variables: ({ params, headers }) => ({ id: params.review_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => reviewJson(data.approveReview.review),
  }),
];
