/** /v1/visualize/* (repository visualizations) and /v1/shared/{share_id} (a share link's data, no credential). */
import { z } from 'zod';
import { boundedIntParam, INT32_MAX, intForService } from '../../bounded-int.js';
import { COMMITS_PAGE_DEFAULT, COMMITS_PAGE_MAX, MAX_COMMITS_LIMIT, SHARE_MAX_DAYS, VISUALIZATION_PAGE_MAX } from '../../services/visualizations/visualizations.js';
import { isDateOrDateTime } from '../../services/dates.js';
import { defineRoute, idempotencyKey, lower, oneOf, present, upper } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';
import { statusParam } from '../list-filters.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';

const VisualizationFields = graphql(`
  fragment RestVisualization on Visualization {
    id status repository branch analysisDepth error createdAt completedAt estimatedDurationSeconds previewUrl shareUrl embedCode
    options { includeCommits includeBranches includeContributors maxCommits }
    stats { totalCommits totalFiles totalContributors linesOfCode languages { name percent } languagesMethod branches headSha authoredEdgesTotal coChangedEdgesTotal }
    nodes { id type name path parent language size lines files email insertions deletions churn commits firstCommitAt lastCommitAt }
    edges { source target type commits churn firstCommitAt }
    timeline { periodStart granularity commits insertions deletions filesChanged contributors }
  }
`);

const VisualizationSummaryFields = graphql(`
  fragment RestVisualizationSummary on Visualization {
    id status repository branch analysisDepth teamId error createdAt completedAt previewUrl
    stats { totalCommits totalFiles totalContributors linesOfCode }
  }
`);

const statuses = ['processing', 'completed', 'failed'] as const;

/** A visualization in a list: what it is and how it went, without the graph (GET it for that). */
/** What a visualization's list item and its full JSON both start with, and their outcome fields. */
const visualizationHead = {
  visualization_id: z.string(),
  status: z.enum(statuses),
  repository: z.string(),
  branch: z.string().nullable(),
  analysis_depth: z.string(),
};
const visualizationOutcome = {
  error: z.string().nullable(),
  created_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
};

const VisualizationSummaryJson = z.object({
  ...visualizationHead,
  team_id: z.string().nullable(),
  ...visualizationOutcome,
  stats: z
    .object({ total_commits: z.number().int(), total_files: z.number().int(), total_contributors: z.number().int(), lines_of_code: z.number().int() })
    .nullable()
    .describe('null until completed'),
  result_url: z.string(),
  preview_url: z.string(),
});

function visualizationSummaryJson(v: ResultOf<typeof VisualizationSummaryFields>): z.input<typeof VisualizationSummaryJson> {
  const s = v.stats;
  return {
    visualization_id: v.id,
    status: lower(v.status),
    repository: v.repository,
    branch: v.branch,
    analysis_depth: v.analysisDepth,
    team_id: v.teamId,
    error: v.error,
    created_at: v.createdAt,
    completed_at: v.completedAt,
    stats: s && { total_commits: s.totalCommits, total_files: s.totalFiles, total_contributors: s.totalContributors, lines_of_code: s.linesOfCode },
    result_url: `/v1/visualize/${v.id}`,
    preview_url: v.previewUrl,
  };
}

const isoDate = z
  .string()
  .refine(isDateOrDateTime, 'must be an ISO 8601 date or timestamp, e.g. 2025-11-01 or 2025-11-01T15:30:00Z');

const nodeTypes = ['file', 'directory', 'contributor'] as const;

const NodeJson = z.object({
  id: z.string(),
  type: z.enum(nodeTypes),
  name: z.string(),
  path: z.string().optional(),
  parent: z.string().nullable().optional(),
  language: z.string().optional(),
  size: z.number().int().optional(),
  lines: z.number().int().optional(),
  files: z.number().int().optional(),
  email: z.string().optional(),
  insertions: z.number().int().optional(),
  deletions: z.number().int().optional(),
  churn: z.number().int(),
  commits: z.number().int(),
  first_commit_at: z.iso.datetime().nullable(),
  last_commit_at: z.iso.datetime().nullable(),
});

const VisualizationJson = z.object({
  ...visualizationHead,
  options: z.object({ include_commits: z.boolean(), include_branches: z.boolean(), include_contributors: z.boolean(), max_commits: z.number().int() }),
  ...visualizationOutcome,
  stats: z
    .object({
      total_commits: z.number().int(),
      total_files: z.number().int(),
      total_contributors: z.number().int(),
      lines_of_code: z.number().int(),
      languages: z.record(z.string(), z.number()).describe('Percent of lines per language, largest first.'),
      languages_method: z.string(),
      branches: z.array(z.string()),
      head_sha: z.string(),
      edges_total: z.object({ authored: z.number().int(), co_changed: z.number().int() }).describe('Edges before keeping the strongest (5,000 authored, 1,000 co_changed).'),
    })
    .nullable()
    .describe('null until completed'),
  data: z.object({
    nodes: z.array(NodeJson),
    edges: z.array(z.object({ source: z.string(), target: z.string(), type: z.enum(['authored', 'co_changed']), commits: z.number().int(), churn: z.number().int().optional(), first_commit_at: z.iso.datetime().nullable() })),
    timeline: z.array(
      z.object({
        period_start: z.iso.datetime(),
        granularity: z.enum(['day', 'week', 'month']),
        commits: z.number().int(),
        insertions: z.number().int(),
        deletions: z.number().int(),
        files_changed: z.number().int(),
        contributors: z.number().int(),
      }),
    ),
  }),
  preview_url: z.string(),
  share_url: z.string(),
  embed_code: z.string().describe("An iframe for other sites: the visualization's longest-lived live share link; without one, the visualization itself, which only this server's pages may frame (create a share link to embed it elsewhere)."),
});

/** `T` with its nullable fields optional and never null. */
type Compact<T> = { [K in keyof T as null extends T[K] ? never : K]: T[K] } & { [K in keyof T as null extends T[K] ? K : never]?: Exclude<T[K], null> };

/** Drops null fields (a node carries only the fields of its type). */
function compact<T extends Record<string, unknown>>(o: T): Compact<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) as Compact<T>;
}

function visualizationJson(v: ResultOf<typeof VisualizationFields>): z.input<typeof VisualizationJson> {
  const s = v.stats;
  return {
    visualization_id: v.id,
    status: lower(v.status),
    repository: v.repository,
    branch: v.branch,
    analysis_depth: v.analysisDepth,
    options: { include_commits: v.options.includeCommits, include_branches: v.options.includeBranches, include_contributors: v.options.includeContributors, max_commits: v.options.maxCommits },
    error: v.error,
    created_at: v.createdAt,
    completed_at: v.completedAt,
    stats: s && {
      total_commits: s.totalCommits,
      total_files: s.totalFiles,
      total_contributors: s.totalContributors,
      lines_of_code: s.linesOfCode,
      languages: Object.fromEntries(s.languages.map((l) => [l.name, l.percent])),
      languages_method: s.languagesMethod,
      branches: s.branches,
      head_sha: s.headSha,
      edges_total: { authored: s.authoredEdgesTotal, co_changed: s.coChangedEdgesTotal },
    },
    data: {
      nodes: v.nodes.map((n) => ({
        ...compact({ id: n.id, type: oneOf(nodeTypes, n.type), name: n.name, path: n.path, parent: n.parent, language: n.language, size: n.size, lines: n.lines, files: n.files, email: n.email, insertions: n.insertions, deletions: n.deletions }),
        ...(n.type !== 'contributor' ? { parent: n.parent } : {}),
        churn: n.churn,
        commits: n.commits,
        first_commit_at: n.firstCommitAt,
        last_commit_at: n.lastCommitAt,
      })),
      edges: v.edges.map((e) => ({ ...compact({ source: e.source, target: e.target, type: oneOf(['authored', 'co_changed'], e.type), commits: e.commits, churn: e.churn }), first_commit_at: e.firstCommitAt })),
      timeline: v.timeline.map((p) => ({
        period_start: p.periodStart,
        granularity: oneOf(['day', 'week', 'month'], p.granularity),
        commits: p.commits,
        insertions: p.insertions,
        deletions: p.deletions,
        files_changed: p.filesChanged,
        contributors: p.contributors,
      })),
    },
    preview_url: v.previewUrl,
    share_url: v.shareUrl,
    embed_code: v.embedCode,
  };
}

const IdParams = z.object({ visualization_id: z.string() });

export const visualizationRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/visualize/repository',
    operationId: 'startVisualization',
    summary: "Clone a repository and analyse its history (files, contributors, activity over time); follow the progress, then GET the result",
    tag: 'Visualization',
    successStatus: 202,
    idempotent: true,
    body: z
      .object({
        repository_url: z.string(),
        branch: z.string().optional(),
        analysis_depth: z.string().optional().describe('full (default).'),
        options: z
          .object({
            include_commits: z.boolean().optional(),
            include_branches: z.boolean().optional(),
            include_contributors: z.boolean().optional(),
            max_commits: intForService(1, MAX_COMMITS_LIMIT).optional().describe(`1 to ${MAX_COMMITS_LIMIT} (default ${MAX_COMMITS_LIMIT}).`),
          })
          .strict()
          .optional(),
        team_id: z.string().optional(),
      })
      .strict(),
    response: z.object({
      visualization_id: z.string(),
      status: z.literal('processing'),
      estimated_duration_seconds: z.number().int(),
      result_url: z.string(),
      preview_url: z.string(),
    }),
    errors: ['idempotency_conflict', 'service_unavailable'],
    document: graphql(`
  mutation StartVisualization($input: StartVisualizationInput!, $idempotencyKey: String) {
    startVisualization(input: $input, idempotencyKey: $idempotencyKey) { replayed visualization { id status createdAt estimatedDurationSeconds previewUrl } }
  }
`),
    variables: ({ body, headers }) => ({
      input: {
        repositoryUrl: body.repository_url,
        branch: body.branch,
        analysisDepth: body.analysis_depth,
        options: body.options && {
          includeCommits: body.options.include_commits,
          includeBranches: body.options.include_branches,
          includeContributors: body.options.include_contributors,
          maxCommits: body.options.max_commits,
        },
        teamId: body.team_id,
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => {
      const v = data.startVisualization.visualization;
      return {
        visualization_id: v.id,
        status: 'processing' as const,
        estimated_duration_seconds: v.estimatedDurationSeconds,
        result_url: `/v1/visualize/${v.id}`,
        preview_url: v.previewUrl,
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/visualize',
    operationId: 'listVisualizations',
    summary: "Your visualizations (or a team's with team_id), newest first, at most 50 a page, with the total count",
    tag: 'Visualization',
    successStatus: 200,
    query: listQuery(VISUALIZATION_PAGE_MAX, 'visualization')
      .extend({
        status: statusParam(statuses),
        team_id: z.string().optional().describe('A team you belong to.'),
      })
      .strict(),
    response: listResponse(VisualizationSummaryJson).extend({ total_count: z.number().int().describe('Visualizations matching the filter, all pages together.') }),
    document: graphql(`
  query ListVisualizations($filter: VisualizationFilter, $first: Int, $after: String, $last: Int, $before: String) {
    visualizations(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { node { ...RestVisualizationSummary } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [VisualizationSummaryFields]),
    variables: ({ query }) => ({
      ...pageVariables(query),
      filter: { status: query.status?.length ? query.status.map((s) => upper(s)) : null, teamId: query.team_id ?? null },
    }),
    reply: (data, req) => ({ ...pageReply(data.visualizations, visualizationSummaryJson, '/v1/visualize', req.query), total_count: data.visualizations.totalCount }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/visualize/{visualization_id}',
    operationId: 'getVisualization',
    summary: 'Status, stats, the graph (files, directories, contributors; authored and co-change edges) and the timeline',
    tag: 'Visualization',
    successStatus: 200,
    params: IdParams,
    response: VisualizationJson,
    document: graphql(`query GetVisualization($id: ID!) { visualization(id: $id) { ...RestVisualization } }`, [VisualizationFields]),
    variables: ({ params }) => ({ id: params.visualization_id }),
    reply: (data) => visualizationJson(data.visualization),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/visualize/{visualization_id}/commits',
    operationId: 'listVisualizationCommits',
    summary: 'Commits of the visualization, newest first, filtered by date, author and branch',
    tag: 'Visualization',
    successStatus: 200,
    params: IdParams,
    query: z
      .object({
        from: isoDate.optional().describe('Author date on or after (ISO 8601).'),
        to: isoDate.optional().describe('Author date on or before (ISO 8601; a date alone means the end of that day).'),
        author: z.string().optional().describe('Author e-mail.'),
        branch: z.string().optional(),
        limit: boundedIntParam(1, COMMITS_PAGE_MAX).default(COMMITS_PAGE_DEFAULT),
        offset: boundedIntParam(0, INT32_MAX).default(0),
      })
      .strict(),
    response: z.object({
      visualization_id: z.string(),
      commits: z.array(
        z.object({
          sha: z.string(),
          author: z.string(),
          message: z.string(),
          timestamp: z.iso.datetime(),
          files_changed: z.number().int(),
          insertions: z.number().int(),
          deletions: z.number().int(),
          branch: z.string(),
          comments: z.array(z.object({ comment_id: z.string(), author: z.string(), content: z.string(), created_at: z.iso.datetime() })),
        }),
      ),
      total: z.number().int(),
      limit: z.number().int(),
      offset: z.number().int(),
      has_more: z.boolean(),
    }),
    document: graphql(`
  query ListVisualizationCommits($id: ID!, $first: Int!, $offset: Int, $from: DateOrDateTime, $to: DateOrDateTime, $author: String, $branch: String) {
    visualization(id: $id) {
      id
      commits(first: $first, offset: $offset, from: $from, to: $to, author: $author, branch: $branch) {
        totalCount
        pageInfo { hasNextPage }
        edges { node { sha author message timestamp filesChanged insertions deletions branch comments { id author content createdAt } } }
      }
    }
  }
`),
    variables: ({ params, query }) => ({
      id: params.visualization_id,
      first: query.limit,
      offset: query.offset,
      from: query.from ?? null,
      to: query.to ?? null,
      author: query.author ?? null,
      branch: query.branch ?? null,
    }),
    reply: (data, req) => {
      const c = data.visualization.commits;
      return {
        visualization_id: data.visualization.id,
        commits: c.edges.map(({ node: n }) => ({
          sha: n.sha,
          author: n.author,
          message: n.message,
          timestamp: n.timestamp,
          files_changed: n.filesChanged,
          insertions: n.insertions,
          deletions: n.deletions,
          branch: n.branch,
          comments: n.comments.map((m) => ({ comment_id: m.id, author: m.author, content: m.content, created_at: m.createdAt })),
        })),
        total: c.totalCount,
        limit: req.query.limit,
        offset: req.query.offset,
        has_more: c.pageInfo.hasNextPage,
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/visualize/{visualization_id}/comment',
    operationId: 'addVisualizationComment',
    summary: 'Comment on a commit of the visualization',
    tag: 'Visualization',
    successStatus: 201,
    idempotent: true,
    params: IdParams,
    body: z.object({ commit_sha: z.string(), content: z.string(), author: z.string().optional() }).strict(),
    response: z.object({ comment_id: z.string(), visualization_id: z.string(), commit_sha: z.string(), content: z.string(), author: z.string(), created_at: z.iso.datetime() }),
    errors: ['idempotency_conflict'],
    document: graphql(`
  mutation AddVisualizationComment($visualizationId: ID!, $input: AddVisualizationCommentInput!, $idempotencyKey: String) {
    addVisualizationComment(visualizationId: $visualizationId, input: $input, idempotencyKey: $idempotencyKey) {
      replayed comment { id visualizationId commitSha content author createdAt }
    }
  }
`),
    variables: ({ params, body, headers }) => ({
      visualizationId: params.visualization_id,
      input: { commitSha: body.commit_sha, content: body.content, author: body.author },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => {
      const c = data.addVisualizationComment.comment;
      return { comment_id: c.id, visualization_id: c.visualizationId, commit_sha: c.commitSha, content: c.content, author: c.author, created_at: c.createdAt };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/visualize/{visualization_id}/share',
    operationId: 'createVisualizationShare',
    summary: 'A read-only link to the visualization that works without a credential until it expires or is revoked',
    tag: 'Visualization',
    successStatus: 201,
    idempotent: true,
    params: IdParams,
    body: z.object({ permissions: z.string().optional().describe('read (the only one).'), expires_in_days: intForService(1, SHARE_MAX_DAYS).optional().describe(`1 to ${SHARE_MAX_DAYS} (default 7).`) }).strict(),
    response: z.object({ share_id: z.string(), url: z.string(), expires_at: z.iso.datetime(), permissions: z.literal('read'), embed_code: z.string() }),
    errors: ['idempotency_conflict'],
    document: graphql(`
  mutation CreateVisualizationShare($visualizationId: ID!, $input: CreateVisualizationShareInput, $idempotencyKey: String) {
    createVisualizationShare(visualizationId: $visualizationId, input: $input, idempotencyKey: $idempotencyKey) {
      replayed share { id url permissions expiresAt embedCode }
    }
  }
`),
    variables: ({ params, body, headers }) => ({
      visualizationId: params.visualization_id,
      input: { permissions: body.permissions, expiresInDays: body.expires_in_days },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => {
      const s = data.createVisualizationShare.share;
      return { share_id: s.id, url: s.url, expires_at: s.expiresAt, permissions: oneOf(['read'], s.permissions), embed_code: s.embedCode };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/visualize/{visualization_id}/share/{share_id}',
    operationId: 'revokeVisualizationShare',
    summary: 'End a share link at once (as GraphQL revokeShare)',
    tag: 'Visualization',
    successStatus: 200,
    idempotent: true,
    params: z.object({ visualization_id: z.string(), share_id: z.string() }),
    response: z.object({ share_id: z.string(), url: z.string(), expires_at: z.iso.datetime(), permissions: z.string(), revoked_at: z.iso.datetime() }),
    document: graphql(`
  mutation RevokeVisualizationShare($id: ID!, $visualizationId: ID!, $idempotencyKey: String) {
    revokeShare(id: $id, visualizationId: $visualizationId, idempotencyKey: $idempotencyKey) { replayed id url permissions expiresAt revokedAt }
  }
`),
    variables: ({ params, headers }) => ({ id: params.share_id, visualizationId: params.visualization_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => {
      const s = data.revokeShare;
      return { share_id: s.id, url: s.url, expires_at: s.expiresAt, permissions: s.permissions, revoked_at: present(s.revokedAt, 'the revocation time') };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/shared/{share_id}',
    operationId: 'getSharedVisualization',
    summary: 'The visualization behind a share link, read-only, without a credential (410 share_expired / share_revoked once it ends)',
    tag: 'Visualization',
    successStatus: 200,
    public: true,
    params: z.object({ share_id: z.string() }),
    response: VisualizationJson.extend({ share: z.object({ share_id: z.string(), url: z.string(), expires_at: z.iso.datetime(), permissions: z.string() }) }),
    errors: ['share_expired', 'share_revoked'],
    document: graphql(`
  query GetSharedVisualization($shareId: ID!) {
    sharedVisualization(shareId: $shareId) {
      share { id url permissions expiresAt }
      visualization { ...RestVisualization }
    }
  }
`, [VisualizationFields]),
    variables: ({ params }) => ({ shareId: params.share_id }),
    reply: (data) => {
      const { share, visualization } = data.sharedVisualization;
      return { ...visualizationJson(visualization), share: { share_id: share.id, url: share.url, expires_at: share.expiresAt, permissions: share.permissions } };
    },
  }),
];
