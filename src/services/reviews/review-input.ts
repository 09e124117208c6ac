/**
 * What a review request must satisfy, shared by REST and GraphQL (both call the service), and the
 * unified-diff reading (jsdiff's parsePatch) that turns a diff into the files to analyse and the
 * lines it added or changed.
 */
import { parsePatch } from 'diff';
import { z } from 'zod';
import type { SourceFile } from '../../agents/security-expert.js';
import { REVIEW_CATEGORIES, SEVERITIES, type ReviewCategory } from '../../agents/reviewer.js';
import { AppError, ValidationError } from '../../errors.js';
import { fieldErrors } from '../tasks/task-input.js';
import { storableText } from '../text.js';

export const ISSUE_STATUSES = ['open', 'dismissed', 'resolved'] as const;
export const REVIEW_STATUSES = ['queued', 'running', 'completed', 'failed'] as const;

const path = storableText()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..') && !p.includes('\0'), 'must be a relative path inside the repository (no leading /, no ..)');
const file = z.object({ path, content: storableText('leave binary files out') }).strict();
const categories = z
  .array(z.enum(REVIEW_CATEGORIES, { message: `must be one of: ${REVIEW_CATEGORIES.join(', ')}` }))
  .min(1, 'must name at least one category');
const confidence = z.number({ message: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const metadata = z
  .record(z.string().max(40, 'keys must be at most 40 characters'), z.string().max(500, 'values must be strings of at most 500 characters'))
  .refine((m) => Object.keys(m).length <= 50, 'must have at most 50 keys');

export function reviewInputSchema(maxFiles: number) {
  return z
    .object({
      diff: storableText().min(1, 'must not be empty').optional(),
      file: file.optional(),
      files: z.array(file).min(1, 'must contain at least one file').max(maxFiles, `must have at most ${maxFiles} files (REVIEW_MAX_FILES)`).optional(),
      categories: categories.default([...REVIEW_CATEGORIES]),
      minConfidence: confidence.default(0),
      title: storableText().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
      metadata: metadata.default({}),
      projectId: z.string().optional(),
      teamId: z.string().optional(),
    })
    .superRefine((v, ctx) => {
      const given = (['diff', 'file', 'files'] as const).filter((k) => v[k] !== undefined);
      if (given.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: given.length ? [given[1]] : ['diff'],
          message: given.length
            ? `cannot be combined with ${given[0]}: send exactly one of diff, file or files`
            : 'is required: send exactly one of diff (a unified diff), file ({path, content}) or files (a repository snapshot)',
        });
      }
      const seen = new Set<string>();
      v.files?.forEach((f, i) => {
        if (seen.has(f.path)) ctx.addIssue({ code: 'custom', path: ['files', i, 'path'], message: `repeats ${f.path}: each path once` });
        seen.add(f.path);
      });
    });
}

export type ReviewInput = z.infer<ReturnType<typeof reviewInputSchema>>;
export type ReviewMode = 'diff' | 'file' | 'snapshot';

/** What is stored and later analysed: the diff text, or the files. */
export type StoredReviewInput = { diff: string } | { files: SourceFile[] };

/** Checks a request; bad fields answer 422 with every problem, a too large input 413. */
export function parseReviewInput(raw: unknown, limits: { maxFiles: number; maxBytes: number }): { input: ReviewInput; mode: ReviewMode; stored: StoredReviewInput } {
  const parsed = reviewInputSchema(limits.maxFiles).safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const input = parsed.data;
  const files = input.files ?? (input.file ? [input.file] : []);
  const bytes = input.diff !== undefined ? Buffer.byteLength(input.diff) : files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
  if (bytes > limits.maxBytes) {
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    throw new AppError(
      'payload_too_large',
      413,
      `The code to review is ${mb(bytes)} MB; a review takes at most ${mb(limits.maxBytes)} MB (REVIEW_MAX_INPUT_BYTES). Split the snapshot into several reviews, or send a diff of what changed.`,
      { size_bytes: bytes, limit_bytes: limits.maxBytes },
    );
  }
  if (input.diff !== undefined) {
    readDiff(input.diff); // a malformed diff is refused now, not when the review runs
    return { input, mode: 'diff', stored: { diff: input.diff } };
  }
  return { input, mode: input.file ? 'file' : 'snapshot', stored: { files } };
}

const stripPrefix = (name: string) => name.replace(/^[ab]\//, '');

/**
 * The new side of each file a unified diff touches (context and added lines at their line numbers,
 * other lines blank) and the lines it added or changed. Deleted files have no new side and are
 * skipped. A text that is not a unified diff, or whose hunks do not add up, is a 422 on `diff`.
 */
/** Lines the files of one diff may span in all, counting the unchanged ones before each hunk. */
const MAX_DIFF_LINES = 2_000_000;

export function readDiff(text: string): { files: SourceFile[]; changedLines: Map<string, Set<number>> } {
  let patches;
  try {
    patches = parsePatch(text);
  } catch (err) {
    throw new ValidationError([{ field: 'diff', message: `is not a valid unified diff (${(err as Error).message.trim()}); send the output of git diff or diff -u` }]);
  }
  const files: SourceFile[] = [];
  const changedLines = new Map<string, Set<number>>();
  let totalLines = 0;
  for (const patch of patches) {
    if (!patch.newFileName && !patch.oldFileName) continue;
    if (!patch.newFileName || patch.hunks.length === 0) {
      throw new ValidationError([{ field: 'diff', message: `has a file header (${patch.oldFileName ?? patch.newFileName}) without a +++ line or without @@ hunks; send the output of git diff or diff -u` }]);
    }
    if (patch.newFileName === '/dev/null') continue; // deleted: nothing left to review
    const name = stripPrefix(patch.newFileName);
    const lines: string[] = [];
    const added = changedLines.get(name) ?? new Set<number>();
    for (const hunk of patch.hunks) {
      // The lines before a hunk are made (blank) in memory: all files together may not reach past MAX_DIFF_LINES.
      totalLines += Math.max(0, hunk.newStart + hunk.newLines - 1 - lines.length);
      if (totalLines > MAX_DIFF_LINES) {
        throw new ValidationError([{ field: 'diff', message: `reaches line ${hunk.newStart} of ${name}; the files of one diff may span at most ${MAX_DIFF_LINES.toLocaleString('en')} lines in all` }]);
      }
      let line = hunk.newStart;
      for (const l of hunk.lines) {
        if (l.startsWith('-') || l.startsWith('\\')) continue;
        while (lines.length < line - 1) lines.push('');
        lines[line - 1] = l.slice(1);
        if (l.startsWith('+')) added.add(line);
        line++;
      }
    }
    changedLines.set(name, added);
    files.push({ path: name, content: lines.join('\n') });
  }
  if (files.length === 0 && ![...patches].some((p) => p.newFileName === '/dev/null')) {
    throw new ValidationError([{ field: 'diff', message: 'contains no file changes: expected "--- a/<path>" and "+++ b/<path>" headers followed by "@@" hunks (the output of git diff or diff -u)' }]);
  }
  return { files, changedLines };
}

/** The files of a stored input, and for a diff the changed lines. */
export function filesOf(stored: StoredReviewInput): { files: SourceFile[]; changedLines?: Map<string, Set<number>> } {
  return 'diff' in stored ? readDiff(stored.diff) : { files: stored.files };
}

/** Filters on a review's issues (GET ?category=…, GraphQL arguments). */
export const issueFilterSchema = z.object({
  minConfidence: confidence.optional(),
  categories: z.array(z.enum(REVIEW_CATEGORIES, { message: `must be one of: ${REVIEW_CATEGORIES.join(', ')}` })).optional(),
  severities: z.array(z.enum(SEVERITIES as ['critical', 'high', 'medium', 'low'], { message: `must be one of: ${SEVERITIES.join(', ')}` })).optional(),
  statuses: z.array(z.enum(ISSUE_STATUSES, { message: `must be one of: ${ISSUE_STATUSES.join(', ')}` })).optional(),
});
export type IssueFilter = { minConfidence?: number; categories?: ReviewCategory[]; severities?: string[]; statuses?: string[] };

export function parseIssueFilter(raw: unknown): IssueFilter {
  const parsed = issueFilterSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  return parsed.data;
}

/** PATCH /v1/reviews/{id}: metadata, title and per-issue status; findings themselves never change. */
export const reviewUpdateSchema = z
  .object({
    title: storableText().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').nullable().optional(),
    metadata: metadata.optional(),
    issues: z
      .array(
        z
          .object({
            id: z.string().min(1, 'must not be empty'),
            status: z.enum(ISSUE_STATUSES, { message: `must be one of: ${ISSUE_STATUSES.join(', ')}` }),
            note: z.string().max(1000, 'must be at most 1000 characters').nullable().optional(),
          })
          .strict(),
      )
      .max(1000, 'must have at most 1000 entries')
      .optional(),
  })
  .refine((v) => v.title !== undefined || v.metadata !== undefined || v.issues !== undefined, { message: 'must change something: title, metadata or issues', path: ['title'] });
export type ReviewUpdate = z.infer<typeof reviewUpdateSchema>;

/**
 * Credits a review costs (the spec: multi-file operations cost 5–10): a diff or one file 1, a
 * snapshot 5, a snapshot of more than 500 files 10.
 */
export function reviewCost(input: { files?: unknown[] | null } | null | undefined): number {
  const files = input?.files;
  if (!Array.isArray(files)) return 1;
  return files.length > 500 ? 10 : 5;
}
