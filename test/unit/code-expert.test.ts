/**
 * code_expert against fixtures whose expected findings are written in them (`expect: <rule>` on
 * the line, or `expect: <rule>@<line>`); clean.ts must produce none.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMPLEXITY_THRESHOLD, reviewFiles } from '../../src/agents/code-expert.js';

const dir = new URL('../fixtures/review/', import.meta.url);
const files = readdirSync(dir).map((name) => ({ path: name, content: readFileSync(new URL(name, dir), 'utf8') }));

function expected(file: { path: string; content: string }) {
  return file.content.split('\n').flatMap((text, i) => {
    const m = /expect: ([a-z-]+)(?:@(\d+))?/.exec(text);
    return m ? [{ file: file.path, ruleId: m[1], line: m[2] ? Number(m[2]) : i + 1 }] : [];
  });
}

describe('code_expert', () => {
  const findings = reviewFiles(files);

  it('finds exactly the expected problems, each on its line', () => {
    const got = findings.map((f) => ({ file: f.file, ruleId: f.ruleId, line: f.line }));
    const want = files.flatMap(expected);
    expect(want.length).toBe(7);
    expect(got.sort(byPosition)).toEqual(want.sort(byPosition));
  });

  it('reports nothing for clean code that handles errors, closes what it opens and returns early', () => {
    expect(findings.filter((f) => f.file === 'clean.ts')).toEqual([]);
  });

  it('states the complexity measure and points a duplicate at its first copy', () => {
    const complex = findings.find((f) => f.ruleId === 'high-complexity')!;
    const measure = Number(/complexity (\d+)\)/.exec(complex.title)![1]);
    expect(measure).toBeGreaterThan(COMPLEXITY_THRESHOLD);
    expect(complex.title).toContain('classify');
    expect(findings.find((f) => f.ruleId === 'duplicated-block')!.description).toContain('billing.py:2');
    for (const f of findings) expect(f.suggestion.length).toBeGreaterThan(20);
  });
});

function byPosition(a: { file: string; line: number; ruleId: string }, b: { file: string; line: number; ruleId: string }) {
  return a.file.localeCompare(b.file) || a.line - b.line || a.ruleId.localeCompare(b.ruleId);
}
