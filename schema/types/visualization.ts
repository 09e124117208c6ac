// Repository visualizations: the analysed history, its commits with comments, share links, progress events.
import { callerOf, type GraphQLContext } from '../../src/context.js';
import type { StoredEvent } from '../../src/events/event-store.js';
import { ValidationError } from '../../src/errors.js';
import type { TimelineEntry, VizEdge, VizNode, VizStats } from '../../src/services/visualizations/analyze-repository.js';
import {
  addComment,
  COMMITS_PAGE_DEFAULT,
  COMMITS_PAGE_MAX,
  commentsByCommit,
  createShare,
  embeddableShare,
  estimateSeconds,
  getSharedVisualization,
  getVisualization,
  listComments,
  listShares,
  listCommits,
  listVisualizations,
  revokeShare,
  startVisualization,
  streamVisualizationEvents,
  type Visualization,
  type VisualizationComment,
  type VisualizationCommit,
  type VisualizationOptions,
  type VisualizationShare,
} from '../../src/services/visualizations/visualizations.js';
import { offsetAfter, offsetCursor } from '../../src/services/pagination.js';
import { builder, type BuilderTypes } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { countedConnection, countedConnectionOf } from '../connection.js';

/** Links point at PUBLIC_URL (default http://HOST:PORT), never at the request's Host header, which the caller chooses. */
export function publicBase(ctx: GraphQLContext): string {
  return ctx.deps.config.publicUrl;
}

const VisualizationStatus = builder.enumType('VisualizationStatus', {
  values: {
    PROCESSING: { value: 'processing' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed', description: 'See error for the reason.' },
  } as const,
});

const Options = builder.objectRef<VisualizationOptions>('VisualizationOptions').implement({
  fields: (t) => ({
    includeCommits: t.exposeBoolean('includeCommits', { description: 'Whether the commits are stored (and listed by commits).' }),
    includeBranches: t.exposeBoolean('includeBranches', { description: 'Whether every branch was analysed, not only the requested one.' }),
    includeContributors: t.exposeBoolean('includeContributors', { description: 'Whether contributors are nodes with edges to the files they changed.' }),
    maxCommits: t.exposeInt('maxCommits'),
  }),
});

const LanguageShare = builder.objectRef<{ name: string; percent: number }>('LanguageShare').implement({
  fields: (t) => ({ name: t.exposeString('name'), percent: t.exposeFloat('percent') }),
});

const Stats = builder.objectRef<VizStats>('VisualizationStats').implement({
  fields: (t) => ({
    totalCommits: t.exposeInt('total_commits', { description: 'Commits analysed (at most max_commits).' }),
    totalFiles: t.exposeInt('total_files', { description: 'Files at the tip of the analysed branch.' }),
    totalContributors: t.exposeInt('total_contributors', { description: 'Distinct author e-mails (after .mailmap) of the analysed commits.' }),
    linesOfCode: t.exposeInt('lines_of_code', { description: 'Lines of the text files at the tip.' }),
    languages: t.field({ type: [LanguageShare], description: 'Percent of lines per language, largest first.', resolve: (s) => s.languages }),
    languagesMethod: t.exposeString('languages_method'),
    branches: t.exposeStringList('branches', { description: 'Branches analysed, the requested one first.' }),
    headSha: t.exposeString('head_sha'),
    authoredEdgesTotal: t.int({ description: 'Contributor-file pairs before keeping the strongest 5,000 as edges.', resolve: (s) => s.edges_total.authored }),
    coChangedEdgesTotal: t.int({ description: 'File pairs changed together at least twice, before keeping the strongest 1,000.', resolve: (s) => s.edges_total.co_changed }),
  }),
});

const NodeType = builder.objectRef<VizNode>('VisualizationNode').implement({
  description: 'A file or directory at the tip (with size and churn), or a contributor.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'f:<path>, d:<path> or c:<e-mail>.' }),
    type: t.exposeString('type', { description: 'file, directory or contributor.' }),
    name: t.exposeString('name'),
    path: t.string({ nullable: true, resolve: (n) => n.path ?? null }),
    parent: t.string({ nullable: true, description: 'The parent directory node id.', resolve: (n) => n.parent ?? null }),
    language: t.string({ nullable: true, resolve: (n) => n.language ?? null }),
    size: t.int({ nullable: true, description: 'Bytes at the tip (directories: of all their files).', resolve: (n) => n.size ?? null }),
    lines: t.int({ nullable: true, resolve: (n) => n.lines ?? null }),
    files: t.int({ nullable: true, resolve: (n) => n.files ?? null }),
    email: t.string({ nullable: true, resolve: (n) => n.email ?? null }),
    insertions: t.int({ nullable: true, description: 'Contributors: lines they added.', resolve: (n) => n.insertions ?? null }),
    deletions: t.int({ nullable: true, description: 'Contributors: lines they deleted.', resolve: (n) => n.deletions ?? null }),
    churn: t.exposeInt('churn', { description: 'Lines added plus lines deleted over the analysed history (renames followed).' }),
    commits: t.exposeInt('commits'),
    firstCommitAt: t.field({ type: 'DateTime', nullable: true, resolve: (n) => (n.first_commit_at ? new Date(n.first_commit_at) : null) }),
    lastCommitAt: t.field({ type: 'DateTime', nullable: true, resolve: (n) => (n.last_commit_at ? new Date(n.last_commit_at) : null) }),
  }),
});

const EdgeType = builder.objectRef<VizEdge>('VisualizationEdge').implement({
  description: 'authored: a contributor changed a file; co_changed: two files changed together in at least two commits.',
  fields: (t) => ({
    source: t.exposeString('source'),
    target: t.exposeString('target'),
    type: t.exposeString('type'),
    commits: t.exposeInt('commits'),
    churn: t.int({ nullable: true, resolve: (e) => e.churn ?? null }),
    firstCommitAt: t.field({ type: 'DateTime', nullable: true, resolve: (e) => (e.first_commit_at ? new Date(e.first_commit_at) : null) }),
  }),
});

const Timeline = builder.objectRef<TimelineEntry>('VisualizationPeriod').implement({
  description: 'Activity in one day, week (from Monday) or month, UTC.',
  fields: (t) => ({
    periodStart: t.field({ type: 'DateTime', resolve: (p) => new Date(p.period_start) }),
    granularity: t.exposeString('granularity'),
    commits: t.exposeInt('commits'),
    insertions: t.exposeInt('insertions'),
    deletions: t.exposeInt('deletions'),
    filesChanged: t.exposeInt('files_changed'),
    contributors: t.exposeInt('contributors'),
  }),
});

export const CommentRef = builder.objectRef<VisualizationComment>('VisualizationComment').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    visualizationId: t.exposeID('visualizationId'),
    commitSha: t.exposeString('commitSha'),
    content: t.exposeString('content'),
    author: t.exposeString('author'),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
  }),
});

type CommitWithComments = VisualizationCommit & { prefetchedComments?: VisualizationComment[] };

const CommitRef = builder.objectRef<CommitWithComments>('VisualizationCommit').implement({
  fields: (t) => ({
    sha: t.exposeString('sha'),
    author: t.exposeString('author', { description: 'Author e-mail, lower-cased (after .mailmap).' }),
    authorName: t.exposeString('authorName'),
    message: t.exposeString('message', { description: 'Subject line.' }),
    timestamp: t.field({ type: 'DateTime', description: 'Author date.', resolve: (c) => c.timestamp }),
    filesChanged: t.exposeInt('filesChanged', { description: 'Files changed against the first parent; merge commits list none (their changes count on the merged commits).' }),
    insertions: t.exposeInt('insertions'),
    deletions: t.exposeInt('deletions'),
    branch: t.string({ description: 'The requested branch when it contains the commit, else the first analysed branch that does.', resolve: (c) => c.branches[0] ?? '' }),
    branches: t.exposeStringList('branches'),
    parents: t.exposeStringList('parents'),
    comments: t.field({
      type: [CommentRef],
      resolve: async (c, _a, ctx) => c.prefetchedComments ?? (await commentsByCommit(ctx.deps, c.visualizationId, [c.sha])).get(c.sha) ?? [],
    }),
  }),
});

/** The fields of a share link, for VisualizationShare and for what revokeShare answers. */
const shareFields = <S extends VisualizationShare>(t: PothosSchemaTypes.ObjectFieldBuilder<BuilderTypes, S>) => ({
  id: t.id({ resolve: (s) => s.id }),
  visualizationId: t.id({ resolve: (s) => s.visualizationId }),
  url: t.string({ resolve: (s, _a, ctx) => `${publicBase(ctx)}/share/${s.id}` }),
  embedCode: t.string({ resolve: (s, _a, ctx) => embedCode(publicBase(ctx), s.id) }),
  permissions: t.string({ resolve: (s) => s.permissions }),
  createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
  expiresAt: t.field({ type: 'DateTime', resolve: (s) => s.expiresAt }),
  revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.revokedAt }),
});

export const ShareRef = builder.objectRef<VisualizationShare>('VisualizationShare').implement({
  description: 'A read-only link that works without a credential until it expires or is revoked.',
  fields: shareFields,
});

const RevokedShareRef = builder.objectRef<VisualizationShare & { replayed?: boolean }>('RevokedVisualizationShare').implement({
  description: 'The share link revokeShare ended (the fields of VisualizationShare), and whether the answer was a replay.',
  fields: (t) => ({ ...shareFields(t), replayed: replayedField(t) }),
});

function embedCode(base: string, id: string): string {
  return `<iframe src="${base}/embed/${id}" width="100%" height="600" style="border:0" title="Repository visualization"></iframe>`;
}

/** A visualization as its reader reached it: through a share link (`viaShareId`) or with a credential. */
type ShownVisualization = Visualization & { viaShareId?: string };

/**
 * The id an embed points at. Other sites may frame only a share link's embed (the keyed viewer
 * asks for a key, and is framed by this origin only), so: the share link the reader came by, else
 * the visualization's longest-lived live share link, else (none yet) the visualization itself.
 */
async function embeddedId(ctx: GraphQLContext, v: ShownVisualization): Promise<string> {
  return v.viaShareId ?? (await embeddableShare(ctx.deps, ctx.principal, v.id))?.id ?? v.id;
}

export const VisualizationRef = builder.objectRef<ShownVisualization>('Visualization');

builder.node(VisualizationRef, {
  authScopes: { sees: 'visualizations' },
  description: "A repository's history analysed by git: stats, a graph of files, directories and contributors, activity over time, commits.",
  id: { resolve: (v) => v.id },
  loadOne: (id, ctx) => getVisualization(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    status: t.field({ type: VisualizationStatus, resolve: (v) => v.status }),
    repository: t.exposeString('repositoryUrl', { description: 'The repository URL or path as given.' }),
    branch: t.string({ nullable: true, description: 'The analysed branch (the default branch when none was named, once known).', resolve: (v) => v.resolvedBranch ?? v.branch }),
    analysisDepth: t.exposeString('analysisDepth'),
    options: t.field({ type: Options, resolve: (v) => v.options as VisualizationOptions }),
    teamId: t.exposeID('teamId', { nullable: true }),
    error: t.exposeString('error', { nullable: true, description: 'Why it failed.' }),
    estimatedDurationSeconds: t.int({ resolve: (v) => estimateSeconds((v.options as VisualizationOptions).maxCommits) }),
    createdAt: t.field({ type: 'DateTime', resolve: (v) => v.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (v) => v.completedAt }),
    stats: t.field({ type: Stats, nullable: true, resolve: (v) => (v.stats as VizStats | null) ?? null }),
    nodes: t.field({ type: [NodeType], resolve: (v) => (v.nodes as VizNode[] | null) ?? [] }),
    edges: t.field({ type: [EdgeType], resolve: (v) => (v.edges as VizEdge[] | null) ?? [] }),
    timeline: t.field({ type: [Timeline], resolve: (v) => (v.timeline as TimelineEntry[] | null) ?? [] }),
    previewUrl: t.string({ description: 'The interactive viewer (needs a credential: the page asks for a key).', resolve: (v, _a, ctx) => `${publicBase(ctx)}/viz/${v.id}` }),
    shareUrl: t.string({ description: 'The viewer page; create a share link (createVisualizationShare) for people without a key.', resolve: (v, _a, ctx) => `${publicBase(ctx)}/viz/${v.id}` }),
    embedCode: t.string({
      description:
        "An iframe with the viewer for other sites: it shows the visualization's live share link that lasts longest (the one the reader came by, for a share link's visitor). Without a share link it names the visualization itself, which only this server's own pages may frame: create one (createVisualizationShare) to embed it elsewhere.",
      resolve: async (v, _a, ctx) => embedCode(publicBase(ctx), await embeddedId(ctx, v)),
    }),
    comments: t.field({ type: [CommentRef], description: 'Every comment, oldest first.', resolve: (v, _a, ctx) => listComments(ctx.deps, v.id) }),
    shares: t.field({ type: [ShareRef], description: 'Its share links, revoked and expired ones included (empty for visitors of a share link).', resolve: (v, _a, ctx) => listShares(ctx.deps, ctx.principal, v.id) }),
    commits: t.connection(
      {
        type: CommitRef,
        description: 'Commits, newest first (author date), filtered by date, author and branch; pages of up to 10,000.',
        args: {
          from: t.arg({ type: 'DateOrDateTime', description: 'Author date on or after (a date alone: from the start of that day, UTC).' }),
          to: t.arg({ type: 'DateOrDateTime', description: 'Author date on or before (a date alone: to the end of that day, UTC).' }),
          author: t.arg.string({ description: 'Author e-mail (case does not matter).' }),
          branch: t.arg.string(),
          offset: t.arg.int({ description: 'Skip this many matching commits (instead of after): page by position.' }),
        },
        resolve: async (v, args, ctx) => {
          if (args.last != null || args.before != null) {
            throw new ValidationError([{ field: args.last != null ? 'last' : 'before', message: 'is not supported here: page forwards with first and after' }]);
          }
          if (args.offset != null && args.after != null) throw new ValidationError([{ field: 'offset', message: 'cannot be combined with after: give one of them' }]);
          const offset = args.offset ?? (args.after != null ? offsetAfter(args.after, 'after') : 0);
          const limit = args.first ?? COMMITS_PAGE_DEFAULT;
          if (limit < 1 || limit > COMMITS_PAGE_MAX) throw new ValidationError([{ field: 'first', message: `must be between 1 and ${COMMITS_PAGE_MAX}` }]);
          const { total, rows } = await listCommits(ctx.deps, v.id, args, { offset, limit });
          const comments = await commentsByCommit(ctx.deps, v.id, rows.map((r) => r.sha));
          return {
            totalCount: total,
            edges: rows.map((r, i) => ({ node: { ...r, prefetchedComments: comments.get(r.sha) ?? [] }, cursor: offsetCursor(offset + i) })),
            pageInfo: {
              hasNextPage: offset + rows.length < total,
              hasPreviousPage: offset > 0,
              startCursor: rows.length ? offsetCursor(offset) : null,
              endCursor: rows.length ? offsetCursor(offset + rows.length - 1) : null,
            },
          };
        },
      },
      { name: 'VisualizationCommitConnection', fields: (t) => ({ totalCount: t.int({ description: 'Commits that match the filters.', resolve: (c) => (c as unknown as { totalCount: number }).totalCount }) }) },
    ),
  }),
});

const VisualizationFilter = builder.inputType('VisualizationFilter', {
  description: 'Narrows a visualization list; the fields combine with AND.',
  fields: (t) => ({
    status: t.field({ type: [VisualizationStatus], description: 'Any of these statuses.' }),
    teamId: t.id({ description: "A team's visualizations (you must belong to it) instead of your own." }),
  }),
});

const SharedVisualization = builder.objectRef<{ share: VisualizationShare; visualization: Visualization }>('SharedVisualization').implement({
  fields: (t) => ({
    share: t.field({ type: ShareRef, resolve: (s) => s.share }),
    visualization: t.field({ type: VisualizationRef, resolve: (s) => ({ ...s.visualization, viaShareId: s.share.id }) }),
  }),
});

builder.queryFields((t) => ({
  visualization: t.field({
    type: VisualizationRef,
    authScopes: { $all: { read: true, sees: 'visualizations' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getVisualization(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  visualizations: t.connection(
    {
      type: VisualizationRef,
      description: "Your own visualizations, or a team's with filter.teamId; newest first (at most 50 per page).",
      authScopes: { $all: { read: true, sees: 'visualizations' } },
      args: { filter: t.arg({ type: VisualizationFilter }) },
      resolve: async (_r, args, ctx) => {
        const f = args.filter;
        const filter = { status: f?.status ?? null, teamId: f?.teamId == null ? null : String(f.teamId) };
        const page = await listVisualizations(ctx.deps, callerOf(ctx), { filter, first: args.first, after: args.after, last: args.last, before: args.before });
        return countedConnectionOf(page);
      },
    },
    countedConnection('VisualizationConnection', 'Visualizations'),
  ),
  sharedVisualization: t.field({
    type: SharedVisualization,
    description: 'A visualization through its share link, without a credential (read-only); SHARE_EXPIRED or SHARE_REVOKED once it no longer works.',
    authScopes: { public: true },
    skipTypeScopes: true,
    args: { shareId: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getSharedVisualization(ctx.deps, String(args.shareId)),
  }),
}));

const OptionsInput = builder.inputType('VisualizationOptionsInput', {
  fields: (t) => ({
    includeCommits: t.boolean({ description: 'Store the commits (default true).' }),
    includeBranches: t.boolean({ description: 'Analyse every branch, not only the requested one (default false).' }),
    includeContributors: t.boolean({ description: 'Contributors as nodes with edges to their files (default true).' }),
    maxCommits: t.int({ description: 'At most this many commits, newest first (1 to 50,000; default 50,000).' }),
  }),
});

const StartVisualizationInput = builder.inputType('StartVisualizationInput', {
  fields: (t) => ({
    repositoryUrl: t.string({ required: true, description: 'https URL (ssh, or a local path under the server\'s REPOSITORY_ROOT, where the operator allows them).' }),
    branch: t.string({ description: 'Default: the repository\'s default branch.' }),
    analysisDepth: t.string({ description: 'full (default).' }),
    options: t.field({ type: OptionsInput }),
    teamId: t.id(),
  }),
});

const StartPayload = builder.objectRef<{ visualization: Visualization; replayed: boolean }>('StartVisualizationPayload').implement({
  fields: (t) => ({ visualization: t.field({ type: VisualizationRef, resolve: (p) => p.visualization }), replayed: t.exposeBoolean('replayed') }),
});
const CommentPayload = builder.objectRef<{ comment: VisualizationComment; replayed: boolean }>('AddVisualizationCommentPayload').implement({
  fields: (t) => ({ comment: t.field({ type: CommentRef, resolve: (p) => p.comment }), replayed: t.exposeBoolean('replayed') }),
});
const SharePayload = builder.objectRef<{ share: VisualizationShare; replayed: boolean }>('VisualizationSharePayload').implement({
  fields: (t) => ({ share: t.field({ type: ShareRef, resolve: (p) => p.share }), replayed: t.exposeBoolean('replayed') }),
});

const CommentInput = builder.inputType('AddVisualizationCommentInput', {
  fields: (t) => ({
    commitSha: t.string({ required: true, description: 'A commit of this visualization (full sha, or an unambiguous prefix).' }),
    content: t.string({ required: true }),
    author: t.string({ description: 'Shown as the comment\'s author (default: your name; share-link visitors see it too).' }),
  }),
});
const ShareInput = builder.inputType('CreateVisualizationShareInput', {
  fields: (t) => ({
    permissions: t.string({ description: 'read (the only one).' }),
    expiresInDays: t.int({ description: '1 to 365 (default 7).' }),
  }),
});

builder.mutationFields((t) => ({
  startVisualization: t.field({
    type: StartPayload,
    description: 'Clones the repository and analyses its history; follow visualizationEvents for progress.',
    extensions: { cost: 5 }, // as POST /v1/visualize/repository: a clone and a pass over up to 50,000 commits
    args: { input: t.arg({ type: StartVisualizationInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const o = input.options;
      const { id, replayed } = await startVisualization(
        ctx.deps,
        caller,
        {
          repositoryUrl: input.repositoryUrl,
          branch: input.branch,
          analysisDepth: input.analysisDepth ?? undefined,
          options: o
            ? { includeCommits: o.includeCommits ?? undefined, includeBranches: o.includeBranches ?? undefined, includeContributors: o.includeContributors ?? undefined, maxCommits: o.maxCommits ?? undefined }
            : undefined,
          teamId: input.teamId == null ? null : String(input.teamId),
        },
        idempotencyKey,
      );
      return { visualization: await getVisualization(ctx.deps, caller, id), replayed };
    },
  }),
  addVisualizationComment: t.field({
    type: CommentPayload,
    description: 'Comments on a commit of the visualization (an unknown commit is RESOURCE_NOT_FOUND).',
    args: { visualizationId: t.arg.id({ required: true }), input: t.arg({ type: CommentInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { visualizationId, input, idempotencyKey }, ctx) => {
      return addComment(ctx.deps, callerOf(ctx), String(visualizationId), input, idempotencyKey);
    },
  }),
  createVisualizationShare: t.field({
    type: SharePayload,
    description: 'A read-only link to the visualization that works without a credential until it expires or is revoked.',
    args: { visualizationId: t.arg.id({ required: true }), input: t.arg({ type: ShareInput }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { visualizationId, input, idempotencyKey }, ctx) => {
      const raw = { permissions: input?.permissions ?? undefined, expiresInDays: input?.expiresInDays ?? undefined };
      return createShare(ctx.deps, callerOf(ctx), String(visualizationId), raw, idempotencyKey);
    },
  }),
  revokeShare: t.field({
    type: RevokedShareRef,
    description: 'Ends a share link at once.',
    args: {
      id: t.arg.id({ required: true }),
      visualizationId: t.arg.id({ description: 'When given, only a share of this visualization (else RESOURCE_NOT_FOUND).' }),
      idempotencyKey: t.arg.string(),
    },
    resolve: (_r, args, ctx) =>
      changeOnceFor(
        ctx,
        'revokeShare',
        args,
        () => revokeShare(ctx.deps, callerOf(ctx), String(args.id), args.visualizationId == null ? null : String(args.visualizationId)),
        (share) => share.id,
        (id) => ctx.deps.db.visualizationShare.findUniqueOrThrow({ where: { id } }),
      ),
  }),
}));

const EventRef = builder.objectRef<StoredEvent>('VisualizationEvent').implement({
  description: 'Progress of an analysis; the last one (type VISUALIZATION) says how it ended.',
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Per-visualization sequence number; resume with since.' }),
    type: t.string({ description: 'progress, or visualization (the end).', resolve: (e) => e.type }),
    status: t.string({ resolve: (e) => String(e.data.status) }),
    progress: t.int({ resolve: (e) => Number(e.data.progress ?? 0) }),
    message: t.string({ resolve: (e) => String((e.data.message as string | null | undefined) ?? '') }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

builder.subscriptionField('visualizationEvents', (t) =>
  t.field({
    type: EventRef,
    description: 'Progress of the analysis, then its end; resumable with since.',
    authScopes: { $all: { read: true, sees: 'visualizations' } },
    args: { id: t.arg.id({ required: true }), since: t.arg.int({ defaultValue: 0 }) },
    subscribe: async (_r, args, ctx) => {
      const v = await getVisualization(ctx.deps, callerOf(ctx), String(args.id));
      return streamVisualizationEvents(ctx.deps, v.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);
