/**
 * The reviewer behind the reviews API: the built-in analyzers (security_expert's line rules,
 * code_expert's syntax rules with the review rule set, duplicated blocks across files) with each
 * rule given a category and a confidence, one file at a time so findings can be streamed as
 * they are found. Plain functions: no database, no Temporal.
 */
import { createHash } from 'node:crypto';
import { DuplicateIndex, reviewFile } from './code-expert.js';
import { scanFile, type Finding, type Severity, type SourceFile } from './security-expert.js';

export const REVIEW_CATEGORIES = ['bug', 'security', 'performance', 'style', 'maintainability'] as const;
export type ReviewCategory = (typeof REVIEW_CATEGORIES)[number];
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];

/**
 * Category and confidence of every rule. The confidence is how often a finding of the rule is a
 * real problem: 1.0 for measures (complexity, duplication, `var`), lower where the rule reads a
 * pattern without knowing the data (taint through other files, intended sequential awaits).
 */
export const RULE_CATALOG: Readonly<Record<string, { category: ReviewCategory; confidence: number }>> = {
  'hardcoded-secret': { category: 'security', confidence: 0.8 },
  'sql-injection': { category: 'security', confidence: 0.85 },
  'command-injection': { category: 'security', confidence: 0.9 },
  'code-eval': { category: 'security', confidence: 0.9 },
  'weak-password-hash': { category: 'security', confidence: 0.9 },
  'tls-verification-disabled': { category: 'security', confidence: 0.95 },
  'path-traversal': { category: 'security', confidence: 0.75 },
  'swallowed-error': { category: 'bug', confidence: 0.9 },
  'unhandled-promise': { category: 'bug', confidence: 0.8 },
  'unreachable-code': { category: 'bug', confidence: 0.95 },
  'resource-leak': { category: 'bug', confidence: 0.7 },
  'high-complexity': { category: 'maintainability', confidence: 1 },
  'duplicated-block': { category: 'maintainability', confidence: 1 },
  'await-in-loop': { category: 'performance', confidence: 0.6 },
  'sync-io-in-async': { category: 'performance', confidence: 0.75 },
  'no-var': { category: 'style', confidence: 1 },
  'loose-equality': { category: 'style', confidence: 0.9 },
};

/** One finding as the reviews API reports it. */
export interface ReviewFinding {
  /** Stable: the same review, path, rule, line and message always give the same id. */
  id: string;
  path: string;
  startLine: number;
  endLine: number;
  severity: Severity;
  category: ReviewCategory;
  ruleId: string;
  title: string;
  message: string;
  suggestedFix: string;
  confidence: number;
}

/** What a review checks and reports. */
export interface ReviewScope {
  categories: readonly ReviewCategory[];
  minConfidence: number;
  /** Diff mode: per path, the new-side lines that were added or changed; only findings starting on one count. */
  changedLines?: ReadonlyMap<string, ReadonlySet<number>>;
}

/** The deterministic id of a finding: a retried analysis writes the same id again. */
export function findingId(reviewId: string, f: { path: string; ruleId: string; startLine: number; message: string }): string {
  const hash = createHash('sha256').update(JSON.stringify([reviewId, f.path, f.ruleId, f.startLine, f.message])).digest('hex');
  return `fnd_${hash.slice(0, 32)}`;
}

function toReviewFinding(reviewId: string, f: Finding): ReviewFinding | null {
  const rule = RULE_CATALOG[f.ruleId];
  if (!rule) return null;
  const base = { path: f.file, ruleId: f.ruleId, startLine: f.line, message: f.description };
  return {
    id: findingId(reviewId, base),
    ...base,
    endLine: f.endLine ?? f.line,
    severity: f.severity,
    category: rule.category,
    title: f.title,
    suggestedFix: f.suggestion,
    confidence: rule.confidence,
  };
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3 };

type Rankable = { severity: string; confidence: number; path: string; startLine: number; ruleId: string };
const rankOf = (severity: string) => SEVERITY_RANK[severity as Severity] ?? SEVERITIES.length;

/** Most severe first, then most confident, then by place. */
export function compareFindings(a: Rankable, b: Rankable): number {
  return (
    rankOf(a.severity) - rankOf(b.severity) ||
    b.confidence - a.confidence ||
    a.path.localeCompare(b.path) ||
    a.startLine - b.startLine ||
    a.ruleId.localeCompare(b.ruleId)
  );
}

/**
 * Reviews files one at a time (`next`), remembering what cross-file rules need. Findings come
 * back filtered by the scope (categories, confidence, changed lines), in line order per file.
 */
export class Reviewer {
  private readonly duplicates = new DuplicateIndex();

  constructor(
    private readonly reviewId: string,
    private readonly scope: ReviewScope,
  ) {}

  /**
   * Code the reviewed files are compared with but not reviewed (a project's related files): a
   * block copied from it into a reviewed file is reported as a duplicate of it.
   */
  compareWith(files: SourceFile[]): void {
    for (const f of files) this.duplicates.add(f);
  }

  next(file: SourceFile): ReviewFinding[] {
    const raw = [...scanFile(file), ...reviewFile(file, 'review'), ...this.duplicates.add(file)];
    const changed = this.scope.changedLines?.get(file.path);
    const seen = new Set<string>();
    const out: ReviewFinding[] = [];
    for (const f of raw) {
      const finding = toReviewFinding(this.reviewId, f);
      if (!finding || seen.has(finding.id)) continue;
      if (!this.scope.categories.includes(finding.category) || finding.confidence < this.scope.minConfidence) continue;
      if (this.scope.changedLines && !changed?.has(finding.startLine)) continue;
      seen.add(finding.id);
      out.push(finding);
    }
    return out.sort((a, b) => a.startLine - b.startLine || a.ruleId.localeCompare(b.ruleId));
  }
}

/** Points each severity takes off the score, times the finding's confidence. */
export const SCORE_WEIGHTS: Readonly<Record<Severity, number>> = { critical: 20, high: 10, medium: 5, low: 1 };

/** score = max(0, round(100 − Σ weight(severity) × confidence)) over the reported findings. */
export function reviewScore(findings: ReadonlyArray<Pick<ReviewFinding, 'severity' | 'confidence'>>): number {
  const penalty = findings.reduce((sum, f) => sum + SCORE_WEIGHTS[f.severity] * f.confidence, 0);
  return Math.max(0, Math.round(100 - penalty));
}

/** A paragraph about the review: what was read, what was found, by severity and category, and the score. */
export function reviewSummary(input: { mode: string; files: number; lines: number }, findings: ReadonlyArray<ReviewFinding>, score: number): string {
  const what = input.mode === 'diff' ? `the changed lines of ${input.files} ${input.files === 1 ? 'file' : 'files'}` : `${input.files} ${input.files === 1 ? 'file' : 'files'} (${input.lines} lines)`;
  if (findings.length === 0) return `Reviewed ${what} and found no issues. Score ${score}/100.`;
  const count = <K extends string>(keys: readonly K[], of: (f: ReviewFinding) => K) =>
    keys.map((k) => [k, findings.filter((f) => of(f) === k).length] as const).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
  const worst = [...findings].sort(compareFindings)[0];
  return (
    `Reviewed ${what} and found ${findings.length} ${findings.length === 1 ? 'issue' : 'issues'} (${count(SEVERITIES, (f) => f.severity)}; ` +
    `by category: ${count(REVIEW_CATEGORIES, (f) => f.category)}). The most severe: ${worst.title} at ${worst.path}:${worst.startLine}. Score ${score}/100.`
  );
}
