import { describe, expect, it } from 'vitest';
import { analyzeGeneratedCode, generationConfidence, generationMessages, normalizeLanguage, parseModelAnswer } from '../../src/agents/code-generation.js';

const tsEval = 'export function calc(input: string): unknown {\n  return eval(input);\n}';

describe('parseModelAnswer', () => {
  it('reads the JSON object the model was asked for', () => {
    const answer = JSON.stringify({ language: 'TypeScript', code: 'export const a = 1;', explanation: 'A constant.', confidence: 0.8 });
    expect(parseModelAnswer(answer, 'typescript')).toEqual({
      code: 'export const a = 1;',
      language: 'typescript',
      explanation: 'A constant.',
      modelConfidence: 0.8,
      format: 'json',
      blocks: 1,
    });
  });

  it('reads a JSON object inside a ```json fence or surrounded by prose, and strips a fence inside code', () => {
    const inner = { code: '```python\nprint(1)\n```', explanation: 'Prints.', confidence: '85' };
    expect(parseModelAnswer('Here you go:\n```json\n' + JSON.stringify(inner) + '\n```', 'python')).toMatchObject({ code: 'print(1)', modelConfidence: 0.85, format: 'json' });
    expect(parseModelAnswer('Sure! ' + JSON.stringify({ code: 'x = 1' }) + ' Done.', null)).toMatchObject({ code: 'x = 1', modelConfidence: null, format: 'json' });
  });

  it('falls back to fenced blocks: the one in the requested language, prose as the explanation', () => {
    const answer = 'Install it:\n```sh\nnpm i left-pad\n```\nThen:\n```ts\nexport const pad = (s: string) => s.padStart(4);\n```\nIt pads.';
    expect(parseModelAnswer(answer, 'typescript')).toEqual({
      code: 'export const pad = (s: string) => s.padStart(4);',
      language: 'typescript',
      explanation: 'Install it: Then: It pads.',
      modelConfidence: null,
      format: 'fence',
      blocks: 2,
    });
  });

  it('takes the longest block when none is in the requested language, and a stated confidence in prose', () => {
    const answer = '```go\npackage main\nfunc main() {}\n```\n```go\nx\n```\nConfidence: 70%';
    expect(parseModelAnswer(answer, 'python')).toMatchObject({ code: 'package main\nfunc main() {}', language: 'go', modelConfidence: 0.7 });
  });

  it('reads a fence cut off at the end (max tokens), and refuses an answer with no code', () => {
    expect(parseModelAnswer('Here:\n```python\ndef f():\n    return 1\n', 'python')).toMatchObject({ code: 'def f():\n    return 1', format: 'unterminated_fence' });
    expect(parseModelAnswer('I cannot help with that.', 'python')).toBeNull();
    expect(parseModelAnswer(JSON.stringify({ code: '', explanation: 'Refused: malware.' }), 'python')).toBeNull();
  });
});

describe('warnings and confidence', () => {
  it('turns the security and code analyzers\' findings into warnings; safety filters off skips security', () => {
    const warnings = analyzeGeneratedCode(tsEval, 'typescript', {});
    expect(warnings).toEqual([expect.objectContaining({ severity: 'high', category: 'security', rule_id: 'code-eval', line: 2 })]);
    expect(analyzeGeneratedCode(tsEval, 'typescript', { safety_filters: false })).toEqual([]);
    const swallowed = 'export async function f(): Promise<void> {\n  try {\n    await g();\n  } catch {}\n}\ndeclare function g(): Promise<void>;';
    expect(analyzeGeneratedCode(swallowed, 'typescript', {}).map((w) => [w.category, w.rule_id])).toEqual([['quality', 'swallowed-error']]);
  });

  it("uses the model's confidence when given; otherwise computes it from the answer's form and the warnings", () => {
    const json = parseModelAnswer(JSON.stringify({ code: 'x' }), null)!;
    const fence = parseModelAnswer('```python\nx\n```', 'python')!;
    expect(generationConfidence({ ...json, modelConfidence: 0.42 }, null, [])).toBe(0.42);
    expect(generationConfidence(json, null, [])).toBe(0.85);
    expect(generationConfidence(fence, 'python', [])).toBe(0.7);
    expect(generationConfidence(fence, 'typescript', [])).toBe(0.55); // language differs from the one asked for
    const warnings = analyzeGeneratedCode(tsEval, 'typescript', {});
    expect(generationConfidence(json, null, warnings)).toBe(0.65);
  });
});

describe('prompting', () => {
  it('asks for JSON in the language, with verbosity, style and safety instructions', () => {
    const [system, user] = generationMessages({
      prompt: 'Parse a CSV line',
      language: 'python',
      options: { style: 'type hints everywhere', verbosity: 'concise' },
      project: { name: 'ingest', description: 'data loaders', style: { indent: 4 } },
    });
    expect(system.content).toContain('"code"');
    expect(system.content).toContain('Write the code in python.');
    expect(system.content).toContain('type hints everywhere');
    expect(system.content).toContain('minimal');
    expect(system.content).toContain('Refuse');
    expect(user.content).toContain('Parse a CSV line');
    expect(user.content).toContain('"ingest": data loaders');
    expect(user.content).toContain('{"indent":4}');
    expect(generationMessages({ prompt: 'x', language: null, options: { safety_filters: false } })[0].content).not.toContain('Refuse');
  });

  it('normalizes language names and fence tags', () => {
    expect(normalizeLanguage('TS')).toBe('typescript');
    expect(normalizeLanguage('c#')).toBe('csharp');
    expect(normalizeLanguage('Python')).toBe('python');
    expect(normalizeLanguage('klingon')).toBeNull();
  });
});
