/**
 * Projects (issue #7): a codebase's configuration (languages, style options, ignored paths,
 * default agents, repository URL) and its semantic index. A project is personal or a team's, with
 * the same visibility rules as tasks; another account's project answers 404.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { agentCatalog, agentTypes } from '../../agents/catalog.js';
import type { Project } from '../../generated/prisma/client.js';
import { AppError, NotFoundError, ValidationError } from '../../errors.js';
import { idKind, newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { withIdempotency } from '../idempotency.js';
import { jsonBytes, requireStorage, storageAccount } from '../limits/storage.js';
import { paginate, type PageArgs } from '../pagination.js';
import { canSee, listScope, requireTeamRole } from '../teams.js';
import { fieldErrors } from '../tasks/task-input.js';
import { compileGlob, GlobError } from '../glob.js';
import { checkRepositoryUrl, RepositoryUrlError } from './repository.js';
import { LANGUAGE_NAMES } from './symbols.js';
import { checkIndexRequest, endRunOfDeletedProject, snapshotDigest, startIndexRun, snapshotSchema, type SnapshotFile } from './index-run.js';

export const PROJECT_PAGE_MAX = 100;

const patternSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(500, 'must be at most 500 characters')
  .superRefine((p, ctx) => {
    try {
      compileGlob(p);
    } catch (err) {
      if (!(err instanceof GlobError)) throw err;
      ctx.addIssue({ code: 'custom', message: `${err.message}; a glob pattern looks like "dist/**" or "**/*.min.js"` });
    }
  });

const configFields = {
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  description: z.string().max(2000, 'must be at most 2,000 characters'),
  languages: z
    .array(z.string().trim().toLowerCase().refine((l) => LANGUAGE_NAMES.includes(l), { message: `must be one of: ${LANGUAGE_NAMES.join(', ')}` }))
    .max(20, 'must name at most 20 languages')
    .refine((ls) => new Set(ls).size === ls.length, 'must not repeat a language'),
  style: z
    .record(z.string().max(100, 'option names must be at most 100 characters'), z.union([z.string().max(200), z.number(), z.boolean(), z.null()], { message: 'must be a string (up to 200 characters), number, boolean or null' }), {
      message: 'must be an object of options (string, number or boolean values)',
    })
    .refine((s) => Object.keys(s).length <= 50, 'must have at most 50 options'),
  // Each pattern is compiled to check it: the total bounds that work for one request.
  ignoredPaths: z
    .array(patternSchema)
    .max(200, 'must have at most 200 patterns')
    .refine((ps) => ps.reduce((n, p) => n + p.length, 0) <= 10_000, 'must hold at most 10,000 characters in all'),
  defaultAgents: z
    .array(z.string().refine((v) => v in agentCatalog, { message: `must be one of: ${agentTypes.join(', ')}` }))
    .max(20, 'must name at most 20 agents'),
  repositoryUrl: z.string().nullable(),
};

const createSchema = z.object({
  name: configFields.name,
  description: configFields.description.default(''),
  languages: configFields.languages.default([]),
  style: configFields.style.default({}),
  ignoredPaths: configFields.ignoredPaths.default([]),
  defaultAgents: configFields.defaultAgents.default([]),
  repositoryUrl: configFields.repositoryUrl.optional(),
  teamId: z.string().nullish(),
  files: snapshotSchema.optional(),
});

const updateSchema = z.object({
  name: configFields.name.optional(),
  description: configFields.description.optional(),
  languages: configFields.languages.optional(),
  style: configFields.style.optional(),
  ignoredPaths: configFields.ignoredPaths.optional(),
  defaultAgents: configFields.defaultAgents.optional(),
  repositoryUrl: configFields.repositoryUrl.optional(),
});

export type CreateProjectInput = z.input<typeof createSchema>;
export type UpdateProjectInput = z.input<typeof updateSchema>;

/** Checks a repository URL for storage (syntax, scheme, root, literal and resolvable addresses). */
async function checkedRepositoryUrl(deps: Pick<ServiceDeps, 'config'>, value: string | null | undefined): Promise<string | null | undefined> {
  if (value == null) return value;
  try {
    await checkRepositoryUrl(value, deps.config, true);
  } catch (err) {
    if (err instanceof RepositoryUrlError) throw new ValidationError([{ field: 'repositoryUrl', message: err.message }]);
    throw err;
  }
  return value.trim();
}

function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  return parsed.data;
}

/**
 * Creates a project. With `files` (a snapshot) or a `repositoryUrl` its first index run starts at
 * once. Every check runs before anything is written: a refused request leaves nothing behind.
 */
export async function createProject(deps: ServiceDeps, principal: Principal, raw: CreateProjectInput, idempotencyKey?: string | null): Promise<{ id: string; replayed: boolean }> {
  const input = parse(createSchema, raw);
  const snapshot = input.files ? checkSnapshotLimits(deps, input.files) : null;
  const repositoryUrl = await checkedRepositoryUrl(deps, input.repositoryUrl);
  const teamId = input.teamId ?? principal.teamId;
  if (teamId) await requireTeamRole(deps, principal, teamId, 'member');
  const request = { ...input };
  delete request.files; // it stands in the request as its snapshot's hash
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: 'createProject', request: { ...request, files: snapshot?.hash ?? null } },
    async () => {
      if (snapshot) await requireStorage(deps, storageAccount(principal), jsonBytes(snapshot.files), `this snapshot of ${snapshot.files.length} files`);
      const id = newId('project');
      await deps.db.project.create({
        data: {
          id,
          ownerId: principal.userId,
          teamId,
          name: input.name,
          description: input.description,
          languages: input.languages,
          style: input.style,
          ignoredPaths: input.ignoredPaths,
          defaultAgents: input.defaultAgents,
          repositoryUrl: repositoryUrl ?? null,
        },
      });
      if (snapshot || repositoryUrl) {
        try {
          await startIndexRun(deps, id, { files: snapshot?.files ?? null, branch: null });
        } catch (err) {
          await deps.db.project.delete({ where: { id } });
          throw err;
        }
      }
      return id;
    },
  );
  return { id: resourceId, replayed };
}

/** Checks a snapshot against the operator's limits; 413 over the total or file count, 422 for one file. */
export function checkSnapshotLimits(deps: Pick<ServiceDeps, 'config'>, files: SnapshotFile[]) {
  const { PROJECT_SNAPSHOT_MAX_BYTES: maxBytes, PROJECT_MAX_FILES: maxFiles, PROJECT_FILE_MAX_BYTES: maxFile } = deps.config;
  if (files.length > maxFiles) {
    throw new AppError('payload_too_large', 413, `The snapshot has ${files.length} files; a project indexes at most ${maxFiles} (PROJECT_MAX_FILES). Leave out generated and vendored files, or index from a repository URL.`);
  }
  let total = 0;
  const errors = [];
  const seen = new Set<string>();
  for (const [i, f] of files.entries()) {
    const size = Buffer.byteLength(f.content, 'utf8');
    total += size;
    if (size > maxFile) errors.push({ field: `files.${i}.content`, message: `is ${size} bytes; files are indexed up to ${maxFile} bytes (PROJECT_FILE_MAX_BYTES)` });
    if (seen.has(f.path)) errors.push({ field: `files.${i}.path`, message: `repeats ${f.path}; each path may appear once` });
    seen.add(f.path);
  }
  if (total > maxBytes) {
    throw new AppError('payload_too_large', 413, `The snapshot is ${total} bytes; the limit is ${maxBytes} bytes (PROJECT_SNAPSHOT_MAX_BYTES). Upload fewer or smaller files, or index from a repository URL.`, { size_bytes: total, limit_bytes: maxBytes });
  }
  if (errors.length) throw new ValidationError(errors);
  return { files, hash: snapshotDigest(files) };
}

/** The project if the caller may see it (its owner, or a member of its team); else 404. */
export async function getProject(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Project> {
  const p = idKind(id) === 'project' ? await deps.db.project.findUnique({ where: { id } }) : null;
  if (!p || !(await canSee(deps, principal, p))) throw new NotFoundError('project', id);
  return p;
}

/** The project if the caller may change it (owner, or team member and up); 404 when it cannot see it. */
export async function getProjectForChange(deps: Pick<ServiceDeps, 'db'>, principal: Principal, id: string): Promise<Project> {
  const p = await getProject(deps, principal, id);
  if (p.teamId) await requireTeamRole(deps, principal, p.teamId, 'member');
  return p;
}

export async function listProjects(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs & { teamId?: string | null }) {
  const base = await listScope(deps, principal, args.teamId);
  return paginate(args, PROJECT_PAGE_MAX, 'project', (cursor, order, take) =>
    deps.db.project.findMany({ where: { ...base, ...cursor }, orderBy: { id: order }, take }),
  );
}

/** Changes a project's configuration; fields left out keep their value. The index is not rebuilt. */
export async function updateProject(deps: ServiceDeps, principal: Principal, id: string, raw: UpdateProjectInput): Promise<Project> {
  const input = parse(updateSchema, raw);
  await getProjectForChange(deps, principal, id);
  const repositoryUrl = await checkedRepositoryUrl(deps, input.repositoryUrl);
  const data = Object.fromEntries(Object.entries({ ...input, repositoryUrl }).filter(([, v]) => v !== undefined));
  if (Object.keys(data).length === 0) return deps.db.project.findUniqueOrThrow({ where: { id } });
  return deps.db.project.update({ where: { id }, data });
}

/**
 * Deletes a project: its running index workflow is cancelled, then the project and its index
 * (files, chunks, symbols, pending snapshots: foreign keys cascade) go; a running index run's
 * event stream ends with a `cancelled` event.
 */
export async function deleteProject(deps: ServiceDeps, principal: Principal, id: string): Promise<Project> {
  const p = await getProjectForChange(deps, principal, id);
  if (p.indexStatus === 'indexing' && p.indexRunId) {
    try {
      await deps.temporal.workflow.getHandle(p.indexRunId).cancel();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  await deps.db.project.delete({ where: { id } });
  if (p.indexStatus === 'indexing' && p.indexRunId) {
    // The run's own end is never recorded for a deleted project: end its stream here, so live
    // subscribers stop. The stream stays readable by nobody (the project answers 404).
    await endRunOfDeletedProject(deps, id, p.indexRunId);
  }
  return p;
}

/**
 * Starts a re-index of a project: from an uploaded snapshot (`files`), or from its repository URL
 * (optionally a `branch`). Unchanged files are skipped by content hash. Returns the run id.
 */
export async function reindexProject(
  deps: ServiceDeps,
  principal: Principal,
  id: string,
  input: { files?: unknown; branch?: string | null },
  idempotencyKey?: string | null,
): Promise<{ runId: string; replayed: boolean }> {
  const project = await getProjectForChange(deps, principal, id);
  const request = checkIndexRequest(project, input);
  if (request.files) checkSnapshotLimits(deps, request.files);
  const { resourceId, replayed } = await withIdempotency(
    deps.db,
    { principalId: principal.userId, key: idempotencyKey, operation: `indexProject:${id}`, request: { files: request.files ? snapshotDigest(request.files) : null, branch: request.branch } },
    async () => {
      if (request.files) await requireStorage(deps, storageAccount(principal), jsonBytes(request.files), `this snapshot of ${request.files.length} files`);
      return startIndexRun(deps, id, request);
    },
  );
  return { runId: resourceId, replayed };
}
