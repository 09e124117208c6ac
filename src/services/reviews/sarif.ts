/**
 * A review's findings as a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange Format),
 * which GitHub code scanning, Azure DevOps and most CI dashboards read. Severity maps to `level`
 * (critical/high → error, medium → warning, low → note); dismissed and resolved issues carry a
 * suppression; the finding id is a partial fingerprint, so re-uploads match the same result.
 */
import { readFileSync } from 'node:fs';
import type { Log, ReportingDescriptor, Result } from 'sarif';
import { RULE_CATALOG } from '../../agents/reviewer.js';
import type { Review, ReviewIssue } from '../../generated/prisma/client.js';

const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const LEVEL: Record<string, Result.level> = { critical: 'error', high: 'error', medium: 'warning', low: 'note' };
/** GitHub code scanning reads this property (0.0 to 10.0) to rank security results. */
const SECURITY_SEVERITY: Record<string, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '2.0' };

/** The SARIF log of a review and its issues (in the order given). */
export function reviewSarif(review: Omit<Review, 'input'>, issues: ReviewIssue[], toolVersion = VERSION): Log {
  const rules: ReportingDescriptor[] = [];
  const ruleIndex = new Map<string, number>();
  for (const issue of issues) {
    if (ruleIndex.has(issue.ruleId)) continue;
    ruleIndex.set(issue.ruleId, rules.length);
    const meta = RULE_CATALOG[issue.ruleId];
    rules.push({
      id: issue.ruleId,
      name: issue.ruleId.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase()).replace(/^\w/, (c) => c.toUpperCase()),
      shortDescription: { text: issue.title },
      defaultConfiguration: { level: LEVEL[issue.severity] ?? 'warning' },
      properties: {
        category: meta?.category ?? issue.category,
        precision: (meta?.confidence ?? issue.confidence) >= 0.9 ? 'very-high' : (meta?.confidence ?? issue.confidence) >= 0.8 ? 'high' : 'medium',
        tags: [meta?.category ?? issue.category],
        ...(issue.category === 'security' ? { 'security-severity': SECURITY_SEVERITY[issue.severity] } : {}),
      },
    });
  }
  const results: Result[] = issues.map((issue) => ({
    ruleId: issue.ruleId,
    ruleIndex: ruleIndex.get(issue.ruleId)!,
    level: LEVEL[issue.severity] ?? 'warning',
    message: { text: `${issue.message} Suggested fix: ${issue.suggestedFix}` },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: encodeURI(issue.path), uriBaseId: '%SRCROOT%' },
          region: { startLine: issue.startLine, endLine: Math.max(issue.startLine, issue.endLine) },
        },
      },
    ],
    partialFingerprints: { 'codexFindingId/v1': issue.id },
    ...(issue.status !== 'open'
      ? { suppressions: [{ kind: 'external' as const, status: 'accepted' as const, justification: issue.note ?? `Marked ${issue.status} in the review.` }] }
      : {}),
    properties: { id: issue.id, severity: issue.severity, category: issue.category, confidence: issue.confidence, status: issue.status },
  }));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'codex-reviewer', version: toolVersion, informationUri: 'https://codex.gr.com/documentation.html', rules } },
        automationDetails: { id: `codex-review/${review.id}` },
        originalUriBaseIds: { '%SRCROOT%': { description: { text: 'The root of the reviewed repository.' } } },
        results,
        properties: { reviewId: review.id, score: review.score, summary: review.summary, status: review.status },
      },
    ],
  };
}
