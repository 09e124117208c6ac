// Projects (issue #7): configuration, the semantic index, search, and index progress events.
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { callerOf } from '../../src/context.js';
import type { Project } from '../../src/generated/prisma/client.js';
import type { StoredEvent } from '../../src/events/event-store.js';
import { listProjectIndexEvents, streamProjectIndexEvents, type IndexStats } from '../../src/services/projects/index-run.js';
import { createProject, deleteProject, getProject, getProjectForChange, listProjects, reindexProject, updateProject } from '../../src/services/projects/projects.js';
import { searchProject, type FileHit, type SymbolHit } from '../../src/services/projects/search.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { connectionOf } from '../connection.js';
import { FileInput } from './task.js';

const literal = (node: ValueNode): unknown => {
  switch (node.kind) {
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]));
    case Kind.LIST:
      return node.values.map(literal);
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.STRING:
    case Kind.ENUM:
      return node.value;
    case Kind.BOOLEAN:
      return node.value;
    default:
      return null;
  }
};

builder.scalarType('JSONObject', {
  description: 'A JSON object, e.g. {"indent": 2, "quotes": "single"}.',
  serialize: (value) => value,
  parseValue: (value) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new GraphQLError('JSONObject must be a JSON object.');
    return value as Record<string, unknown>;
  },
  parseLiteral: (node) => {
    if (node.kind !== Kind.OBJECT) throw new GraphQLError('JSONObject must be a JSON object.');
    return literal(node) as Record<string, unknown>;
  },
});

const IndexStatus = builder.enumType('ProjectIndexStatus', {
  values: {
    IDLE: { value: 'idle', description: 'Never indexed.' },
    INDEXING: { value: 'indexing' },
    READY: { value: 'completed', description: 'The last run completed.' },
    FAILED: { value: 'failed' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

const IndexRunStats = builder.objectRef<IndexStats>('ProjectIndexRunStats').implement({
  description: 'What the last index run did.',
  fields: (t) => ({
    source: t.string({ nullable: true, description: 'snapshot or repository.', resolve: (s) => s.source ?? null }),
    filesSeen: t.int({ resolve: (s) => s.files_seen ?? 0 }),
    filesIndexed: t.int({ resolve: (s) => s.files_indexed ?? 0 }),
    filesUnchanged: t.int({ description: 'Skipped: same content hash as already indexed.', resolve: (s) => s.files_unchanged ?? 0 }),
    filesRemoved: t.int({ resolve: (s) => s.files_removed ?? 0 }),
    filesSkipped: t.stringList({ description: 'Repository files left out (size, count), with the reason.', resolve: (s) => s.files_skipped ?? [] }),
    symbols: t.int({ resolve: (s) => s.symbols ?? 0 }),
    chunks: t.int({ resolve: (s) => s.chunks ?? 0 }),
    notes: t.stringList({ resolve: (s) => s.notes ?? [] }),
    error: t.string({ nullable: true, resolve: (s) => s.error ?? null }),
  }),
});

const ProjectIndexRef = builder.objectRef<Project>('ProjectIndex').implement({
  description: "The project's semantic index: files split into chunks, and symbols found by a parser.",
  fields: (t) => ({
    status: t.field({ type: IndexStatus, resolve: (p) => p.indexStatus as 'idle' }),
    runId: t.id({ nullable: true, description: 'The run in progress, or the last one.', resolve: (p) => p.indexRunId }),
    indexedAt: t.field({ type: 'DateTime', nullable: true, description: 'When a run last completed.', resolve: (p) => p.indexedAt }),
    files: t.int({ description: 'Counted when the last run ended.', resolve: (p) => p.indexFiles }),
    chunks: t.int({ resolve: (p) => p.indexChunks }),
    symbols: t.int({ resolve: (p) => p.indexSymbols }),
    lastRun: t.field({ type: IndexRunStats, nullable: true, resolve: (p) => (p.indexStats as IndexStats | null) ?? null }),
  }),
});

/** A file of a project's index matching a text (search, and the context given to generations and reviews). */
export const FileHitRef = builder.objectRef<FileHit>('ProjectFileHit').implement({
  fields: (t) => ({
    path: t.exposeString('path'),
    language: t.exposeString('language', { nullable: true }),
    score: t.exposeFloat('score', { description: 'ts_rank of the matching chunks and symbols; higher is better.' }),
    snippet: t.exposeString('snippet'),
    startLine: t.exposeInt('startLine'),
    endLine: t.exposeInt('endLine'),
  }),
});

const SymbolHitRef = builder.objectRef<SymbolHit>('ProjectSymbolHit').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    kind: t.exposeString('kind', { description: 'function, class, method, interface, type, enum or variable.' }),
    path: t.exposeString('path'),
    line: t.exposeInt('line'),
    endLine: t.exposeInt('endLine'),
    exported: t.exposeBoolean('exported'),
    signature: t.exposeString('signature'),
    score: t.exposeFloat('score'),
  }),
});

const SearchResultRef = builder.objectRef<{ files: FileHit[]; symbols: SymbolHit[] }>('ProjectSearchResult').implement({
  fields: (t) => ({
    files: t.field({ type: [FileHitRef], resolve: (r) => r.files }),
    symbols: t.field({ type: [SymbolHitRef], resolve: (r) => r.symbols }),
  }),
});

const IndexEventRef = builder.objectRef<StoredEvent>('ProjectIndexEvent').implement({
  description: 'Progress of an index run: progress events, then completed, failed or cancelled.',
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Per-project sequence number; resume with since.' }),
    type: t.string({ description: 'progress, completed, failed or cancelled.', resolve: (e) => e.type }),
    runId: t.id({ resolve: (e) => String(e.data.run_id) }),
    status: t.string({ description: 'queued, indexing, completed, failed or cancelled.', resolve: (e) => String(e.data.status) }),
    progress: t.int({ resolve: (e) => Number(e.data.progress ?? 0) }),
    message: t.string({ resolve: (e) => String((e.data.message as string | null | undefined) ?? '') }),
    stats: t.field({ type: IndexRunStats, nullable: true, resolve: (e) => (e.data.stats as IndexStats | undefined) ?? null }),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

export const ProjectRef = builder.objectRef<Project>('Project');

builder.node(ProjectRef, {
  authScopes: { sees: 'projects' },
  description: 'A codebase: its configuration and its semantic index.',
  id: { resolve: (p) => p.id },
  loadOne: (id, ctx) => getProject(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    languages: t.exposeStringList('languages'),
    style: t.field({ type: 'JSONObject', resolve: (p) => p.style }),
    ignoredPaths: t.exposeStringList('ignoredPaths'),
    defaultAgents: t.exposeStringList('defaultAgents'),
    repositoryUrl: t.exposeString('repositoryUrl', { nullable: true }),
    teamId: t.exposeID('teamId', { nullable: true }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (p) => p.updatedAt }),
    index: t.field({ type: ProjectIndexRef, resolve: (p) => p }),
    indexEvents: t.field({
      type: [IndexEventRef],
      description: 'Stored index events after since, oldest first (for polling; projectIndexEvents streams them live).',
      args: { since: t.arg.int({ defaultValue: 0 }), first: t.arg.int({ defaultValue: 100 }) },
      extensions: { cost: (args: { first?: number | null }) => Math.max(1, Math.ceil((args.first ?? 100) / 20)) }, // a page read, as a connection's
      resolve: (p, args, ctx) => listProjectIndexEvents(ctx.deps, p.id, args.since ?? 0, args.first ?? 100),
    }),
    search: t.field({
      type: SearchResultRef,
      authScopes: { sees: 'project_search' },
      description: 'Files and symbols matching the query (identifiers match by their parts: "parse user" finds parseUser), best first.',
      args: { query: t.arg.string({ required: true }), limit: t.arg.int({ defaultValue: 10 }) },
      extensions: { cost: 1 }, // a search over the project's index
      resolve: (p, args, ctx) => searchProject(ctx.deps, callerOf(ctx), p.id, args.query, args.limit ?? 10),
    }),
  }),
});

builder.queryFields((t) => ({
  project: t.field({
    type: ProjectRef,
    authScopes: { $all: { read: true, sees: 'projects' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getProject(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  projects: t.connection({
    type: ProjectRef,
    authScopes: { $all: { read: true, sees: 'projects' } },
    args: { teamId: t.arg.id() },
    resolve: async (_r, args, ctx) => connectionOf(await listProjects(ctx.deps, callerOf(ctx), { ...args, teamId: args.teamId == null ? null : String(args.teamId) })),
  }),
}));

const CreateProjectInput = builder.inputType('CreateProjectInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    languages: t.stringList({ description: 'Lower-case language names: typescript, python, go, …' }),
    style: t.field({ type: 'JSONObject', description: 'Style options for generations and reviews (indent, quotes, line length, …).' }),
    ignoredPaths: t.stringList({ description: 'Glob patterns the index skips, e.g. dist/** or **/*.min.js.' }),
    defaultAgents: t.stringList({ description: 'Agent types an orchestration for this project uses when it names none.' }),
    repositoryUrl: t.string({ description: 'https URL of a public git repository (or a path under the operator\'s REPOSITORY_ROOT); indexed at once when no files are given.' }),
    teamId: t.id(),
    files: t.field({ type: [FileInput], description: 'A snapshot of the files to index at once.' }),
  }),
});

const UpdateProjectInput = builder.inputType('UpdateProjectInput', {
  fields: (t) => ({
    name: t.string(),
    description: t.string(),
    languages: t.stringList(),
    style: t.field({ type: 'JSONObject' }),
    ignoredPaths: t.stringList(),
    defaultAgents: t.stringList(),
    repositoryUrl: t.string({ description: 'null removes it.' }),
  }),
});

const ProjectPayload = builder.objectRef<{ project: Project; replayed: boolean }>('ProjectPayload').implement({
  fields: (t) => ({ project: t.field({ type: ProjectRef, resolve: (p) => p.project }), replayed: t.exposeBoolean('replayed') }),
});
const IndexPayload = builder.objectRef<{ project: Project; runId: string; replayed: boolean }>('IndexProjectPayload').implement({
  fields: (t) => ({ project: t.field({ type: ProjectRef, resolve: (p) => p.project }), runId: t.exposeID('runId'), replayed: t.exposeBoolean('replayed') }),
});
const DeletePayload = builder.objectRef<{ project: Pick<Project, 'id' | 'name'>; replayed?: boolean }>('DeleteProjectPayload').implement({
  fields: (t) => ({ deletedProjectId: t.id({ resolve: (p) => p.project.id }), name: t.string({ resolve: (p) => p.project.name }), replayed: replayedField(t) }),
});

const orUndefined = <T>(v: T | null | undefined) => (v === null ? undefined : v);

builder.mutationFields((t) => ({
  createProject: t.field({
    type: ProjectPayload,
    description: 'Creates a project; with files or a repository URL its index is built at once.',
    args: { input: t.arg({ type: CreateProjectInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const { id, replayed } = await createProject(
        ctx.deps,
        caller,
        {
          name: input.name,
          description: orUndefined(input.description),
          languages: orUndefined(input.languages),
          style: orUndefined(input.style) as Record<string, string> | undefined,
          ignoredPaths: orUndefined(input.ignoredPaths),
          defaultAgents: orUndefined(input.defaultAgents),
          repositoryUrl: orUndefined(input.repositoryUrl),
          teamId: input.teamId == null ? undefined : String(input.teamId),
          files: orUndefined(input.files),
        },
        idempotencyKey,
      );
      return { project: await getProject(ctx.deps, caller, id), replayed };
    },
  }),
  updateProject: t.field({
    type: ProjectPayload,
    description: "Changes a project's configuration; fields left out keep their value.",
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateProjectInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) => {
      // null clears the repository URL; null elsewhere means "unchanged".
      const raw = Object.fromEntries(Object.entries(args.input as Record<string, unknown>).filter(([k, v]) => v !== null || k === 'repositoryUrl'));
      return changeOnceFor(
        ctx,
        'updateProject',
        args,
        async () => ({ project: await updateProject(ctx.deps, callerOf(ctx), String(args.id), raw) }),
        (p) => p.project.id,
        async (projectId) => ({ project: await getProject(ctx.deps, callerOf(ctx), projectId) }),
      );
    },
  }),
  deleteProject: t.field({
    type: DeletePayload,
    description: 'Deletes a project and its index, cancelling a running index run.',
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) =>
      changeOnceFor(
        ctx,
        'deleteProject',
        args,
        async (): Promise<{ project: Pick<Project, 'id' | 'name'> }> => ({ project: await deleteProject(ctx.deps, callerOf(ctx), String(args.id)) }),
        (p) => ({ id: p.project.id, name: p.project.name }),
        (project) => ({ project }),
      ),
  }),
  indexProject: t.field({
    type: IndexPayload,
    description: 'Re-indexes a project from an uploaded snapshot (files) or its repository URL; unchanged files are skipped.',
    args: { id: t.arg.id({ required: true }), files: t.arg({ type: [FileInput] }), branch: t.arg.string(), idempotencyKey: t.arg.string() },
    resolve: async (_r, args, ctx) => {
      const caller = callerOf(ctx);
      const { runId, replayed } = await reindexProject(ctx.deps, caller, String(args.id), { files: args.files ?? undefined, branch: args.branch ?? null }, args.idempotencyKey);
      return { project: await getProjectForChange(ctx.deps, caller, String(args.id)), runId, replayed };
    },
  }),
}));

builder.subscriptionField('projectIndexEvents', (t) =>
  t.field({
    type: IndexEventRef,
    description: "A project's index events after since, live, ending with the end of a run (completed, failed or cancelled).",
    authScopes: { $all: { read: true, sees: 'projects' } },
    args: { id: t.arg.id({ required: true }), since: t.arg.int({ defaultValue: 0 }) },
    subscribe: async (_r, args, ctx) => {
      const p = await getProject(ctx.deps, callerOf(ctx), String(args.id));
      return streamProjectIndexEvents(ctx.deps, p.id, Math.max(0, args.since ?? 0));
    },
    resolve: (event) => event,
  }),
);
