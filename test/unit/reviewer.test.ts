/** The reviewer and the diff reading behind the reviews API, without database or Temporal. */
import { describe, expect, it } from 'vitest';
import { findingId, REVIEW_CATEGORIES, Reviewer, reviewScore } from '../../src/agents/reviewer.js';
import { ValidationError } from '../../src/errors.js';
import { parseReviewInput, readDiff } from '../../src/services/reviews/review-input.js';

const all = { categories: [...REVIEW_CATEGORIES], minConfidence: 0 };
const rules = (reviewer: Reviewer, path: string, content: string) => reviewer.next({ path, content }).map((f) => `${f.startLine}:${f.ruleId}`);

describe('readDiff', () => {
  const diff = [
    '--- a/src/a.ts',
    '+++ b/src/a.ts',
    '@@ -10,3 +10,4 @@ export function f() {',
    ' const a = 1;',
    '-const b = 2;',
    '+var b = 2;',
    '+var c = 3;',
    ' return a;',
    '--- /dev/null',
    '+++ b/src/new.js',
    '@@ -0,0 +1,2 @@',
    '+eval(x);',
    '+\\ No newline at end of file',
    '',
  ].join('\n');

  it('rebuilds the new side at its line numbers and knows the added lines', () => {
    const { files, changedLines } = readDiff(diff);
    expect(files.map((f) => f.path)).toEqual(['src/a.ts', 'src/new.js']);
    const lines = files[0].content.split('\n');
    expect(lines.slice(9)).toEqual(['const a = 1;', 'var b = 2;', 'var c = 3;', 'return a;']);
    expect([...changedLines.get('src/a.ts')!]).toEqual([11, 12]);
    expect([...changedLines.get('src/new.js')!]).toEqual([1, 2]);
  });

  it.each([
    ['not a diff at all', 'please review', /no file changes/],
    ['a hunk that does not add up', '--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n', /not a valid unified diff/],
    ['a header without hunks', '--- a/x\n+++ b/x\n', /without @@ hunks/],
  ])('refuses %s with a 422 on diff', (_n, text, message) => {
    try {
      readDiff(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).fieldErrors[0]).toMatchObject({ field: 'diff', message: expect.stringMatching(message) });
    }
  });
});

describe('Reviewer', () => {
  it('in diff mode reports only findings that start on changed lines', () => {
    const { files, changedLines } = readDiff('--- a/a.js\n+++ b/a.js\n@@ -1,2 +1,3 @@\n var old = 1;\n+var added = 2;\n if (old == added) {}\n');
    const reviewer = new Reviewer('rev_1', { ...all, changedLines });
    expect(rules(reviewer, files[0].path, files[0].content)).toEqual(['2:no-var']);
  });

  it('filters by category and confidence', () => {
    const code = 'var x = 1;\nif (x == 2) eval(x);\n';
    expect(rules(new Reviewer('rev_1', { categories: ['security'], minConfidence: 0 }), 'a.js', code)).toEqual(['2:code-eval']);
    expect(rules(new Reviewer('rev_1', { ...all, minConfidence: 0.95 }), 'a.js', code)).toEqual(['1:no-var']);
  });

  it('leaves alone what the performance and style rules must not flag', () => {
    const code = [
      'export async function f(items: AsyncIterable<number>, g: () => Promise<void>) {',
      '  for await (const i of items) console.log(i);',
      '  const all = await Promise.all([g(), g()]);',
      '  if (all == null) return;',
      '  try { await g(); } catch (e) { throw e; }',
      '}',
      'export function sync() { return require("fs").readFileSync("x"); }',
    ].join('\n');
    expect(rules(new Reviewer('rev_1', all), 'a.ts', code)).toEqual([]);
  });

  it('gives a finding the same id every time, and different findings different ids', () => {
    const a = new Reviewer('rev_1', all).next({ path: 'a.js', content: 'var x = 1;\nvar y = 2;\n' });
    const b = new Reviewer('rev_1', all).next({ path: 'a.js', content: 'var x = 1;\nvar y = 2;\n' });
    expect(a.map((f) => f.id)).toEqual(b.map((f) => f.id));
    expect(new Set(a.map((f) => f.id)).size).toBe(2);
    expect(findingId('rev_2', a[0])).not.toBe(a[0].id);
  });
});

describe('score', () => {
  it('is 100 minus the confidence-weighted severities, never below 0', () => {
    expect(reviewScore([])).toBe(100);
    expect(reviewScore([{ severity: 'critical', confidence: 0.85 }, { severity: 'low', confidence: 1 }])).toBe(82); // 100 − 17 − 1
    expect(reviewScore(Array(20).fill({ severity: 'high', confidence: 1 }))).toBe(0);
  });
});

describe('parseReviewInput', () => {
  it('refuses a snapshot over the byte limit with 413 payload_too_large', () => {
    expect(() => parseReviewInput({ files: [{ path: 'a.js', content: 'x'.repeat(2000) }] }, { maxFiles: 10, maxBytes: 1000 })).toThrow(/at most 0\.0 MB/);
    expect(() => parseReviewInput({ files: Array(11).fill(0).map((_, i) => ({ path: `f${i}`, content: '' })) }, { maxFiles: 10, maxBytes: 1000 })).toThrow(ValidationError);
  });
});
