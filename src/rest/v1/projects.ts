/** /v1/projects (issue #7): project configuration, its semantic index, index runs and search. */
import { z } from 'zod';
import { boundedIntParam, INT32_MAX } from '../../bounded-int.js';
import { INDEX_EVENTS_PAGE_MAX } from '../../services/projects/index-run.js';
import { PROJECT_PAGE_MAX } from '../../services/projects/projects.js';
import { SEARCH_LIMIT_MAX } from '../../services/projects/search.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, lower, oneOf } from '../route.js';
import { graphql, type ResultOf } from '../graphql.js';

const ProjectFields = graphql(`
  fragment RestProject on Project {
    id name description languages style ignoredPaths defaultAgents repositoryUrl teamId createdAt updatedAt
    index {
      status runId indexedAt files chunks symbols
      lastRun { source filesSeen filesIndexed filesUnchanged filesRemoved filesSkipped symbols chunks notes error }
    }
  }
`);

const indexStatuses = ['idle', 'indexing', 'ready', 'failed', 'cancelled'] as const;

const RunStatsJson = z.object({
  source: z.string().nullable(),
  files_seen: z.number().int(),
  files_indexed: z.number().int(),
  files_unchanged: z.number().int().describe('skipped: same content hash as already indexed'),
  files_removed: z.number().int(),
  files_skipped: z.array(z.string()),
  symbols: z.number().int(),
  chunks: z.number().int(),
  notes: z.array(z.string()),
  error: z.string().nullable(),
});

const ProjectJson = z.object({
  id: z.string(),
  object: z.literal('project'),
  name: z.string(),
  description: z.string(),
  languages: z.array(z.string()),
  style: z.record(z.string(), z.unknown()),
  ignored_paths: z.array(z.string()),
  default_agents: z.array(z.string()),
  repository_url: z.string().nullable(),
  team_id: z.string().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  index: z.object({
    status: z.enum(indexStatuses),
    run_id: z.string().nullable(),
    indexed_at: z.iso.datetime().nullable(),
    files: z.number().int(),
    chunks: z.number().int(),
    symbols: z.number().int(),
    last_run: RunStatsJson.nullable(),
  }),
});

type Project = ResultOf<typeof ProjectFields>;

function runStatsJson(r: NonNullable<Project['index']['lastRun']>): z.input<typeof RunStatsJson> {
  return {
    source: r.source,
    files_seen: r.filesSeen,
    files_indexed: r.filesIndexed,
    files_unchanged: r.filesUnchanged,
    files_removed: r.filesRemoved,
    files_skipped: r.filesSkipped,
    symbols: r.symbols,
    chunks: r.chunks,
    notes: r.notes,
    error: r.error,
  };
}

function projectJson(p: Project): z.input<typeof ProjectJson> {
  const i = p.index;
  const r = i.lastRun;
  return {
    id: p.id,
    object: 'project' as const,
    name: p.name,
    description: p.description,
    languages: p.languages,
    style: p.style,
    ignored_paths: p.ignoredPaths,
    default_agents: p.defaultAgents,
    repository_url: p.repositoryUrl,
    team_id: p.teamId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    index: {
      status: lower(i.status),
      run_id: i.runId,
      indexed_at: i.indexedAt,
      files: i.files,
      chunks: i.chunks,
      symbols: i.symbols,
      last_run: r && runStatsJson(r),
    },
  };
}

/** The settings of a project as GraphQL's input takes them, from a create or update body. */
const projectSettings = (body: {
  name?: string;
  description?: string;
  languages?: string[];
  style?: Record<string, unknown>;
  ignored_paths?: string[];
  default_agents?: string[];
  repository_url?: string | null;
}) => ({
  name: body.name,
  description: body.description,
  languages: body.languages,
  style: body.style,
  ignoredPaths: body.ignored_paths,
  defaultAgents: body.default_agents,
  repositoryUrl: body.repository_url,
});

/** A file of the index matching a text: search results, and the context of generations and reviews. */
export const FileHitJson = z.object({ path: z.string(), language: z.string().nullable(), score: z.number(), snippet: z.string(), start_line: z.number().int(), end_line: z.number().int() });
export const fileHitJson = (f: { path: string; language: string | null; score: number; snippet: string; startLine: number; endLine: number }): z.input<typeof FileHitJson> => ({ path: f.path, language: f.language, score: f.score, snippet: f.snippet, start_line: f.startLine, end_line: f.endLine });

const FileJson = z.object({ path: z.string(), content: z.string() }).strict();

const configBody = {
  description: z.string().optional(),
  languages: z.array(z.string()).optional().describe('Lower-case names: typescript, javascript, python, go, rust, java, …'),
  style: z.record(z.string(), z.unknown()).optional().describe('Style options (indent, quotes, line length, …): string, number or boolean values.'),
  ignored_paths: z.array(z.string()).optional().describe('Glob patterns the index skips, e.g. "dist/**".'),
  default_agents: z.array(z.string()).optional(),
};

const IdParams = z.object({ project_id: z.string() });

export const projectRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/projects',
    operationId: 'createProject',
    summary: 'Create a project; with files (a snapshot) or a repository_url its index is built at once',
    tag: 'Projects',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        name: z.string(),
        ...configBody,
        repository_url: z.string().optional().describe('https URL of a public git repository (or a path under the operator\'s REPOSITORY_ROOT).'),
        team_id: z.string().optional(),
        files: z.array(FileJson).optional().describe('Snapshot to index: total size up to PROJECT_SNAPSHOT_MAX_BYTES (5 MB by default), each file up to PROJECT_FILE_MAX_BYTES.'),
      })
      .strict(),
    response: ProjectJson,
    errors: ['idempotency_conflict', 'payload_too_large', 'service_unavailable'],
    document: graphql(`
  mutation CreateProject($input: CreateProjectInput!, $idempotencyKey: String) {
    createProject(input: $input, idempotencyKey: $idempotencyKey) { replayed project { ...RestProject } }
  }
`, [ProjectFields]),
    variables: ({ body, headers }) => ({
      input: {
        ...projectSettings(body),
        name: body.name,
        teamId: body.team_id,
        files: body.files,
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => projectJson(data.createProject.project),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/projects',
    operationId: 'listProjects',
    summary: 'Your projects (or a team\'s), newest first',
    tag: 'Projects',
    successStatus: 200,
    query: listQuery(PROJECT_PAGE_MAX, 'project').extend({ team_id: z.string().optional() }).strict(),
    response: listResponse(ProjectJson),
    document: graphql(`
  query ListProjects($teamId: ID, $first: Int, $after: String, $last: Int, $before: String) {
    projects(teamId: $teamId, first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestProject } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [ProjectFields]),
    variables: ({ query }) => ({ ...pageVariables(query), teamId: query.team_id ?? null }),
    reply: (data, req) => pageReply(data.projects, projectJson, '/v1/projects', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/projects/{project_id}',
    operationId: 'getProject',
    summary: 'A project: its configuration and the state of its index',
    tag: 'Projects',
    successStatus: 200,
    params: IdParams,
    response: ProjectJson,
    document: graphql(`
  query GetProject($id: ID!) {
    project(id: $id) { ...RestProject }
  }
`, [ProjectFields]),
    variables: ({ params }) => ({ id: params.project_id }),
    reply: (data) => projectJson(data.project),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/v1/projects/{project_id}',
    operationId: 'updateProject',
    summary: 'Change a project\'s configuration (fields left out keep their value; repository_url null removes it)',
    tag: 'Projects',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    body: z.object({ name: z.string().optional(), ...configBody, repository_url: z.string().nullable().optional() }).strict(),
    response: ProjectJson,
    document: graphql(`
  mutation UpdateProject($id: ID!, $input: UpdateProjectInput!, $idempotencyKey: String) {
    updateProject(id: $id, input: $input, idempotencyKey: $idempotencyKey) { replayed project { ...RestProject } }
  }
`, [ProjectFields]),
    variables: ({ params, body, headers }) => ({
      id: params.project_id,
      input: {
        ...projectSettings(body),
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => projectJson(data.updateProject.project),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/v1/projects/{project_id}',
    operationId: 'deleteProject',
    summary: 'Delete a project and its index; a running index run is cancelled',
    tag: 'Projects',
    successStatus: 200,
    idempotent: true,
    params: IdParams,
    response: z.object({ id: z.string(), object: z.literal('project'), deleted: z.literal(true) }),
    document: graphql(`
  mutation DeleteProject($id: ID!, $idempotencyKey: String) {
    deleteProject(id: $id, idempotencyKey: $idempotencyKey) { replayed deletedProjectId }
  }
`),
    variables: ({ params, headers }) => ({ id: params.project_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => ({ id: data.deleteProject.deletedProjectId, object: 'project' as const, deleted: true as const }),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/projects/{project_id}/index',
    operationId: 'indexProject',
    summary: 'Re-index from an uploaded snapshot (files) or the repository URL; unchanged files are skipped by content hash',
    tag: 'Projects',
    successStatus: 202,
    idempotent: true,
    params: IdParams,
    body: z
      .object({
        files: z.array(FileJson).optional().describe('Snapshot to index; left out: the project\'s repository_url is cloned.'),
        branch: z.string().optional().describe('Repository branch (default: the repository\'s default branch).'),
      })
      .strict(),
    response: z.object({ run_id: z.string(), status: z.literal('indexing'), project: ProjectJson, events_url: z.string() }),
    errors: ['index_in_progress', 'idempotency_conflict', 'payload_too_large', 'service_unavailable'],
    document: graphql(`
  mutation IndexProject($id: ID!, $files: [FileInput!], $branch: String, $idempotencyKey: String) {
    indexProject(id: $id, files: $files, branch: $branch, idempotencyKey: $idempotencyKey) { runId replayed project { ...RestProject } }
  }
`, [ProjectFields]),
    variables: ({ params, body, headers }) => ({ id: params.project_id, files: body.files ?? null, branch: body.branch ?? null, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => {
      const r = data.indexProject;
      return { run_id: r.runId, status: 'indexing' as const, project: projectJson(r.project), events_url: `/v1/projects/${r.project.id}/index/events` };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/projects/{project_id}/search',
    operationId: 'searchProject',
    summary: 'Full-text search of the index: files (with snippets) and symbols, best first',
    tag: 'Projects',
    successStatus: 200,
    params: IdParams,
    query: z
      .object({
        q: z.string().describe('Words or identifiers; "parse user" and "parseUser" both find parseUser.'),
        limit: boundedIntParam(1, SEARCH_LIMIT_MAX).optional().describe(`Results per kind, 1 to ${SEARCH_LIMIT_MAX} (default 10).`),
      })
      .strict(),
    response: z.object({
      object: z.literal('search_result'),
      project_id: z.string(),
      query: z.string(),
      files: z.array(FileHitJson),
      symbols: z.array(z.object({ name: z.string(), kind: z.string(), path: z.string(), line: z.number().int(), end_line: z.number().int(), exported: z.boolean(), signature: z.string(), score: z.number() })),
    }),
    document: graphql(`
  query SearchProject($id: ID!, $query: String!, $limit: Int) {
    project(id: $id) {
      id
      search(query: $query, limit: $limit) {
        files { path language score snippet startLine endLine }
        symbols { name kind path line endLine exported signature score }
      }
    }
  }
`),
    variables: ({ params, query }) => ({ id: params.project_id, query: query.q, limit: query.limit ?? 10 }),
    reply: (data, req) => ({
      object: 'search_result' as const,
      project_id: data.project.id,
      query: req.query.q,
      files: data.project.search.files.map(fileHitJson),
      symbols: data.project.search.symbols.map((s) => ({ name: s.name, kind: s.kind, path: s.path, line: s.line, end_line: s.endLine, exported: s.exported, signature: s.signature, score: s.score })),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/projects/{project_id}/index/events',
    operationId: 'listProjectIndexEvents',
    summary: 'Index progress events after since, oldest first: progress, then completed, failed or cancelled (poll with the last seq)',
    tag: 'Projects',
    successStatus: 200,
    params: IdParams,
    query: z
      .object({
        since: boundedIntParam(0, INT32_MAX).optional().describe('The last seq you saw (default 0: from the beginning).'),
        limit: boundedIntParam(1, INDEX_EVENTS_PAGE_MAX).optional().describe(`At most this many events (1 to ${INDEX_EVENTS_PAGE_MAX}, default 100).`),
      })
      .strict(),
    response: z.object({
      object: z.literal('list'),
      data: z.array(
        z.object({
          seq: z.number().int(),
          type: z.enum(['progress', 'completed', 'failed', 'cancelled']),
          run_id: z.string(),
          status: z.string(),
          progress: z.number().int(),
          message: z.string(),
          stats: RunStatsJson.nullable(),
          timestamp: z.iso.datetime(),
        }),
      ),
      last_seq: z.number().int().describe('Pass as since to read what comes next.'),
    }),
    document: graphql(`
  query ProjectIndexEvents($id: ID!, $since: Int, $first: Int) {
    project(id: $id) {
      id
      indexEvents(since: $since, first: $first) {
        seq type runId status progress message timestamp
        stats { source filesSeen filesIndexed filesUnchanged filesRemoved filesSkipped symbols chunks notes error }
      }
    }
  }
`),
    variables: ({ params, query }) => ({ id: params.project_id, since: query.since ?? 0, first: query.limit ?? 100 }),
    reply: (data, req) => {
      const events = data.project.indexEvents;
      return {
        object: 'list' as const,
        data: events.map((e) => ({ seq: e.seq, type: oneOf(['progress', 'completed', 'failed', 'cancelled'], e.type), run_id: e.runId, status: e.status, progress: e.progress, message: e.message, stats: e.stats && runStatsJson(e.stats), timestamp: e.timestamp })),
        last_seq: events.at(-1)?.seq ?? req.query.since ?? 0,
      };
    },
  }),
];
