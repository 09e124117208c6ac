/**
 * Search over a project's index with PostgreSQL full-text search: the identifier-split terms of
 * chunks and symbols (generated tsvector columns, GIN indexes), ranked with ts_rank. Files are
 * ranked by the sum of their matching chunks plus their matching symbols; each comes with the
 * lines of its best chunk that match. `relevantFiles` is what generations and reviews call to get
 * a project's context for a prompt.
 */
import { ValidationError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { getProject } from './projects.js';
import { identifierParts, searchQuery } from './terms.js';

export const SEARCH_LIMIT_MAX = 50;

export interface FileHit {
  path: string;
  language: string | null;
  score: number;
  /** The matching lines of the file's best chunk (with a little context). */
  snippet: string;
  startLine: number;
  endLine: number;
}

export interface SymbolHit {
  name: string;
  kind: string;
  path: string;
  line: number;
  endLine: number;
  exported: boolean;
  signature: string;
  score: number;
}

type Db = Pick<ServiceDeps, 'db'>;

async function fileHits(deps: Db, projectId: string, tsquery: string, limit: number, words: string[]): Promise<FileHit[]> {
  const rows = await deps.db.$queryRaw<Array<{ path: string; language: string | null; start_line: number; end_line: number; content: string; score: number }>>`
    WITH q AS (SELECT to_tsquery('simple', ${tsquery}) AS q),
    hits AS (
      SELECT c.path, c.start_line, c.end_line, c.content, ts_rank(c.search, q.q) AS rank
      FROM project_chunks c, q WHERE c.project_id = ${projectId} AND c.search @@ q.q
    ),
    best AS (
      SELECT DISTINCT ON (path) path, start_line, end_line, content, SUM(rank) OVER (PARTITION BY path) AS total
      FROM hits ORDER BY path, rank DESC, start_line
    ),
    sym AS (
      SELECT s.path, SUM(ts_rank(s.search, q.q)) AS srank
      FROM project_symbols s, q WHERE s.project_id = ${projectId} AND s.search @@ q.q GROUP BY s.path
    )
    SELECT b.path, f.language, b.start_line, b.end_line, b.content, (b.total + COALESCE(sym.srank, 0))::float8 AS score
    FROM best b
    JOIN project_files f ON f.project_id = ${projectId} AND f.path = b.path
    LEFT JOIN sym ON sym.path = b.path
    ORDER BY score DESC, b.path
    LIMIT ${limit}`;
  return rows.map((r) => ({ path: r.path, language: r.language, score: round(r.score), ...snippetOf(r.content, r.start_line, words) }));
}

async function symbolHits(deps: Db, projectId: string, tsquery: string, limit: number, raw: string): Promise<SymbolHit[]> {
  const rows = await deps.db.$queryRaw<Array<{ name: string; kind: string; path: string; line: number; end_line: number; exported: boolean; signature: string; score: number }>>`
    SELECT s.name, s.kind, s.path, s.line, s.end_line, s.exported, s.signature,
      (ts_rank(s.search, q) + CASE WHEN lower(s.name) = lower(${raw}) THEN 1 ELSE 0 END + CASE WHEN s.exported THEN 0.01 ELSE 0 END)::float8 AS score
    FROM project_symbols s, to_tsquery('simple', ${tsquery}) q
    WHERE s.project_id = ${projectId} AND s.search @@ q
    ORDER BY score DESC, s.path, s.line
    LIMIT ${limit}`;
  return rows.map((r) => ({ name: r.name, kind: r.kind, path: r.path, line: r.line, endLine: r.end_line, exported: r.exported, signature: r.signature, score: round(r.score) }));
}

const round = (n: number) => Math.round(Number(n) * 10_000) / 10_000;

/** The lines of a chunk that mention a query word, with one line of context, at most 12 lines. */
function snippetOf(content: string, startLine: number, words: string[]) {
  const lines = content.split('\n');
  const wanted = new Set(words);
  const hit = (l: string) => [...l.matchAll(/[A-Za-z0-9_$]+/g)].some((m) => identifierParts(m[0]).some((p) => wanted.has(p)) || wanted.has(identifierParts(m[0]).join('')));
  const first = lines.findIndex(hit);
  const from = Math.max(0, (first < 0 ? 0 : first) - 1);
  const to = Math.min(lines.length, from + 12);
  return { snippet: lines.slice(from, to).join('\n'), startLine: startLine + from, endLine: startLine + to - 1 };
}

function queryWords(query: string) {
  return [...query.matchAll(/[A-Za-z0-9_$]+/g)].flatMap((m) => {
    const parts = identifierParts(m[0]);
    return parts.length > 1 ? [...parts, parts.join('')] : parts;
  });
}

/**
 * Searches a project's index: files (with snippets) and symbols matching every word of the
 * query; when nothing matches every word, those matching any, ranked.
 */
export async function searchProject(deps: Db, principal: Principal, projectId: string, query: string, limit = 10): Promise<{ files: FileHit[]; symbols: SymbolHit[] }> {
  const errors = [];
  if (query.length > 1000) errors.push({ field: 'query', message: 'must be at most 1,000 characters' });
  else if (!searchQuery(query, 'all')) errors.push({ field: 'query', message: 'must contain at least one letter or digit (a word or an identifier such as parseUser)' });
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX) errors.push({ field: 'limit', message: `must be between 1 and ${SEARCH_LIMIT_MAX}` });
  if (errors.length) throw new ValidationError(errors);
  const project = await getProject(deps, principal, projectId);
  const words = queryWords(query);
  const raw = query.trim();
  for (const mode of ['all', 'any'] as const) {
    const tsquery = searchQuery(query, mode);
    if (!tsquery) continue;
    const [files, symbols] = await Promise.all([fileHits(deps, project.id, tsquery, limit, words), symbolHits(deps, project.id, tsquery, limit, raw)]);
    if (files.length || symbols.length || mode === 'any') return { files, symbols };
  }
  return { files: [], symbols: [] };
}

/**
 * The files of a project most relevant to a text (a generation prompt, a review's diff), best
 * first: `{ path, score, snippet }` (plus language and the snippet's lines). Checks that the
 * caller may see the project (404 otherwise). Any word may match; common English words are
 * ignored. Empty when nothing matches or the project has no index yet.
 */
export async function relevantFiles(deps: Db, principal: Principal, projectId: string, query: string, limit = 5): Promise<FileHit[]> {
  const project = await getProject(deps, principal, projectId);
  const tsquery = searchQuery(query.slice(0, 20_000), 'any');
  if (!tsquery) return [];
  return fileHits(deps, project.id, tsquery, Math.min(Math.max(1, Math.floor(limit)), SEARCH_LIMIT_MAX), queryWords(query.slice(0, 20_000)));
}

/**
 * The text of an indexed file, put back together from its chunks (each at its own lines; lines
 * of blank chunks stay blank). null when the project has no such file in its index.
 */
export async function indexedFileText(deps: Db, projectId: string, path: string): Promise<string | null> {
  const chunks = await deps.db.projectChunk.findMany({ where: { projectId, path }, orderBy: { startLine: 'asc' }, select: { startLine: true, content: true } });
  if (chunks.length === 0) return null;
  const lines: string[] = [];
  for (const c of chunks) c.content.split('\n').forEach((text, i) => (lines[c.startLine - 1 + i] = text));
  return Array.from(lines, (l) => l ?? '').join('\n');
}
