/**
 * Where an agent task's files come from: `context.files` given inline, `context.repository` (and
 * `branch`) cloned by the agent's activity through the same guarded git path as projects (https
 * on a public host, or a local path under REPOSITORY_ROOT; no git options, no transport helpers,
 * pinned addresses, clone time and size caps), or `project_id`, the files of a project's index.
 * `context.paths` narrows any of them. Inline files given with a repository stand in for the
 * repository's files at the same paths (a working copy's changes, reviewed with the rest).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { SourceFile } from '../../agents/security-expert.js';
import type { Config } from '../../config.js';
import type { Db } from '../../db/client.js';
import { ValidationError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { compileGlobs, isValidGlob } from '../glob.js';
import { getProject } from '../projects/projects.js';
import { checkRepositoryUrl, cloneRepository, readRepositoryFiles, RepositoryUrlError } from '../projects/repository.js';

/** The most entries of `context.paths`. */
export const MAX_TASK_PATHS = 100;

/** One entry of `context.paths`: a path or glob relative to the repository root. */
export const taskPathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1,000 characters')
  .refine((p) => !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '..' && s !== '.'), {
    message: 'must be a path inside the repository, relative to its root with "/" separators and no "." or ".." segments (e.g. src or src/**/*.ts)',
  })
  .refine((p) => isValidGlob(p.replace(/\/+$/, '')), { message: 'is not a valid glob pattern' });

/** The source fields of a task input, as the task's stored input holds them. */
export interface TaskSource {
  context: { files: SourceFile[]; repository?: string | null; branch?: string | null; paths?: string[] | null };
  projectId?: string | null;
}

/** A test of `context.paths`: a file is kept when it is a given path, lies under one, or matches one as a glob. */
export function pathFilter(paths: string[] | null | undefined): (path: string) => boolean {
  if (!paths?.length) return () => true;
  const prefixes = paths.map((p) => p.replace(/\/+$/, ''));
  const glob = compileGlobs(prefixes);
  return (path) => prefixes.some((p) => path === p || path.startsWith(`${p}/`)) || glob(path);
}

/**
 * Checks where a task's files come from, at submission: exactly one of files, repository and
 * project (files may accompany a repository), the repository URL without resolving its host (the
 * activity resolves and pins it), and the project as the caller may see it (404 otherwise).
 * Throws a ValidationError that says what to send instead.
 */
export async function checkTaskSource(deps: Pick<ServiceDeps, 'db' | 'config'>, principal: Principal, input: TaskSource, field = 'context'): Promise<void> {
  const { files, repository, branch, paths } = input.context;
  if (input.projectId != null) {
    if (repository != null || files.length > 0) {
      throw new ValidationError([{ field: 'projectId', message: `names the files to analyse, so leave out ${field}.files and ${field}.repository (or leave out projectId)` }]);
    }
    if (branch != null) throw new ValidationError([{ field: `${field}.branch`, message: 'applies to a repository only; a project is analysed as it was last indexed' }]);
    const project = await getProject(deps, principal, input.projectId);
    if ((await deps.db.projectFile.count({ where: { projectId: project.id } })) === 0) {
      throw new ValidationError([{ field: 'projectId', message: `project ${project.id} has no indexed files yet: index it first (POST /v1/projects/${project.id}/index), then run the task` }]);
    }
    return;
  }
  if (repository != null) {
    try {
      await checkRepositoryUrl(repository, deps.config, false);
    } catch (err) {
      if (err instanceof RepositoryUrlError) throw new ValidationError([{ field: `${field}.repository`, message: err.message }]);
      throw err;
    }
    return;
  }
  if (branch != null) throw new ValidationError([{ field: `${field}.branch`, message: `applies to ${field}.repository only; send the repository too, or leave the branch out` }]);
  if (files.length === 0) {
    throw new ValidationError([
      { field: `${field}.files`, message: `must contain at least one file, or send ${field}.repository (an https URL${deps.config.REPOSITORY_ROOT ? ' or a path under the server\'s repository root' : ''}) or projectId for the agents to analyse` },
    ]);
  }
  if (paths?.length && files.every((f) => !pathFilter(paths)(f.path))) {
    throw new ValidationError([{ field: `${field}.paths`, message: `matches none of the ${files.length} files given` }]);
  }
}

/** A source that cannot be read (clone refused or failed, nothing left under `paths`, project gone); the message is safe to show. */
export class TaskSourceError extends Error {}

type SourceConfig = Pick<Config, 'REPOSITORY_ROOT' | 'REPOSITORY_ALLOW_PRIVATE_HOSTS' | 'REPOSITORY_CLONE_TIMEOUT_SECONDS' | 'PROJECT_MAX_FILES' | 'PROJECT_FILE_MAX_BYTES' | 'AGENT_REPOSITORY_MAX_BYTES'>;

/** What the agent analyses, and a line about where it came from (for the task's progress). */
export interface LoadedSource {
  files: SourceFile[];
  description: string | null;
}

/** The text of an indexed file, rebuilt from its chunks at their lines (blank runs were not stored). */
async function projectFiles(db: Db, projectId: string): Promise<SourceFile[]> {
  const chunks = await db.projectChunk.findMany({ where: { projectId }, select: { path: true, startLine: true, content: true }, orderBy: [{ path: 'asc' }, { startLine: 'asc' }] });
  const byPath = new Map<string, string[]>();
  for (const c of chunks) {
    const lines = byPath.get(c.path) ?? [];
    while (lines.length < c.startLine - 1) lines.push('');
    lines.push(...c.content.split('\n'));
    byPath.set(c.path, lines);
  }
  return [...byPath].map(([path, lines]) => ({ path, content: lines.join('\n') }));
}

/**
 * Reads a stored task's files (in the activity): clones its repository into a temporary folder
 * that is removed afterwards, or reads its project's index; applies `paths`. `beat` is called
 * while git runs so the activity stays alive. Throws TaskSourceError for a source that cannot be read.
 */
export async function loadTaskFiles(deps: { db: Db; config: SourceConfig }, stored: unknown, options: { signal?: AbortSignal; beat?: () => void } = {}): Promise<LoadedSource> {
  const input = stored as Partial<TaskSource>;
  const context = input.context ?? { files: [] };
  const given = (context.files ?? []);
  const keep = pathFilter(context.paths);
  let files: SourceFile[];
  let description: string | null = null;
  if (input.projectId) {
    const project = await deps.db.project.findUnique({ where: { id: input.projectId }, select: { id: true } });
    if (!project) throw new TaskSourceError(`Project ${input.projectId} was deleted before the task ran.`);
    files = (await projectFiles(deps.db, project.id)).filter((f) => keep(f.path));
    description = `Read ${files.length} indexed files of project ${project.id}`;
  } else if (context.repository) {
    const dir = await mkdtemp(join(tmpdir(), 'codex-task-'));
    const timer = options.beat ? setInterval(options.beat, 1000) : null;
    const skipped: string[] = [];
    try {
      await cloneRepository(context.repository, context.branch ?? null, join(dir, 'repo'), deps.config, options.signal);
      const read = await readRepositoryFiles(
        join(dir, 'repo'),
        { maxFiles: deps.config.PROJECT_MAX_FILES, maxFileBytes: deps.config.PROJECT_FILE_MAX_BYTES, maxTotalBytes: deps.config.AGENT_REPOSITORY_MAX_BYTES },
        (p) => !keep(p) && !isDirectoryPrefix(p, context.paths),
        skipped,
      );
      // Files given inline stand in for the clone's at the same path (a working copy's changes).
      const inline = new Map(given.filter((f) => keep(f.path)).map((f) => [f.path, f]));
      files = [...read.filter((f) => keep(f.path) && !inline.has(f.path)), ...inline.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
    } catch (err) {
      if (err instanceof RepositoryUrlError) throw new TaskSourceError(err.message.startsWith('The repository') ? err.message : `The repository ${err.message}.`);
      throw err;
    } finally {
      if (timer) clearInterval(timer);
      await rm(dir, { recursive: true, force: true });
    }
    description = `Cloned ${context.branch ? `branch ${context.branch} of ` : ''}the repository: ${files.length} files to analyse${skipped.length ? `, ${skipped.length} skipped by the size caps` : ''}`;
  } else {
    files = given.filter((f) => keep(f.path));
  }
  if (files.length === 0) {
    throw new TaskSourceError(context.paths?.length ? `No text file of the source lies under context.paths (${context.paths.join(', ')}).` : 'The source has no text files to analyse.');
  }
  return { files, description };
}

/** Whether a directory path may still hold files that `paths` names (so the walk goes into it). */
function isDirectoryPrefix(dir: string, paths: string[] | null | undefined): boolean {
  if (!paths?.length) return true;
  // A directory is skipped only when no entry can lie under it: a glob may match anywhere.
  return paths.some((p) => /[*?[{]/.test(p) || p.replace(/\/+$/, '').startsWith(`${dir.replace(/\/+$/, '')}/`));
}
