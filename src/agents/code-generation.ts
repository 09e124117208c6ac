/**
 * Code generation with a model: the messages sent, the parsing of its answer, the built-in
 * analyzers' findings as warnings, and the confidence score. Plain functions, no I/O.
 *
 * The model is asked for one JSON object {language, code, explanation, confidence}. Models do not
 * always comply, so the answer is read in this order: the whole answer as JSON, a ```json fence,
 * the outermost {...}; then fenced code blocks (the one in the requested language, else the
 * longest), with the prose around them as the explanation; then an unterminated fence (an answer
 * cut off by max tokens). An answer with no code at all is a failure, never a guess.
 */
import { reviewFiles } from './code-expert.js';
import type { ChatMessage } from './model-client.js';
import { analyzeFiles, type Finding, type Severity } from './security-expert.js';

/** Languages a generation may ask for, with the file extension the analyzers read it by. */
export const GENERATION_LANGUAGES: Readonly<Record<string, string>> = {
  typescript: 'ts',
  javascript: 'js',
  python: 'py',
  go: 'go',
  java: 'java',
  rust: 'rs',
  c: 'c',
  cpp: 'cpp',
  csharp: 'cs',
  ruby: 'rb',
  php: 'php',
  kotlin: 'kt',
  swift: 'swift',
  scala: 'scala',
  shell: 'sh',
  sql: 'sql',
  html: 'html',
  css: 'css',
};

/** Other names models put on fences (```ts, ```py, …) mapped to ours. */
const ALIASES: Record<string, string> = {
  ts: 'typescript', tsx: 'typescript', js: 'javascript', jsx: 'javascript', node: 'javascript', py: 'python', python3: 'python',
  golang: 'go', rs: 'rust', 'c++': 'cpp', cxx: 'cpp', cc: 'cpp', cs: 'csharp', 'c#': 'csharp', rb: 'ruby', kt: 'kotlin',
  sh: 'shell', bash: 'shell', zsh: 'shell', postgresql: 'sql', psql: 'sql',
};

/** Our name for a language name or fence tag, or null when we do not know it. */
export function normalizeLanguage(name: string | null | undefined): string | null {
  if (!name) return null;
  const n = name.trim().toLowerCase();
  if (n in GENERATION_LANGUAGES) return n;
  return ALIASES[n] ?? null;
}

export const VERBOSITY = ['concise', 'normal', 'detailed'] as const;

export interface GenerationOptions {
  style?: string;
  verbosity?: (typeof VERBOSITY)[number];
  /** On (default): the model is told to refuse harmful code and the security analyzer runs on the result. */
  safety_filters?: boolean;
}

/** What the model is told for one generation. */
export function generationMessages(input: {
  prompt: string;
  language: string | null;
  options: GenerationOptions;
  project?: { name: string; description: string; style: unknown } | null;
  /** The project's files most relevant to the prompt (its semantic index). */
  contextFiles?: Array<{ path: string; snippet: string; startLine: number; endLine: number }>;
}): ChatMessage[] {
  const { options } = input;
  const verbosity = options.verbosity ?? 'normal';
  const rules = [
    'You write source code. Answer with exactly one JSON object and nothing else, of the form',
    '{"language": "<language of the code>", "code": "<the complete source, ready to save as one file>", "explanation": "<one paragraph on the design decisions>", "confidence": <a number from 0 to 1: how sure you are that the code does what was asked>}.',
    input.language ? `Write the code in ${input.language}.` : `Choose the most suitable language, one of: ${Object.keys(GENERATION_LANGUAGES).join(', ')}.`,
    verbosity === 'concise'
      ? 'Keep the code minimal, without comments, and the explanation to one or two sentences.'
      : verbosity === 'detailed'
        ? 'Comment the code where it helps a reader, and explain the design decisions in detail.'
        : 'Comment only what is not obvious.',
    'Handle errors explicitly; do not use deprecated APIs.',
  ];
  if (options.style) rules.push(`Follow this style: ${options.style}.`);
  if (options.safety_filters !== false) {
    rules.push('Refuse (with empty code and the reason as the explanation) to write malware, credential theft or code meant to attack systems; never hard-code secrets; validate untrusted input.');
  }
  let user = input.prompt;
  if (input.project) {
    const style = input.project.style && typeof input.project.style === 'object' && Object.keys(input.project.style).length ? `\nProject style: ${JSON.stringify(input.project.style)}` : '';
    user += `\n\nThe code belongs to the project "${input.project.name}"${input.project.description ? `: ${input.project.description}` : ''}.${style}`;
  }
  if (input.contextFiles?.length) {
    user += '\n\nRelevant code from the project (fit the new code to it):';
    for (const f of input.contextFiles) user += `\n--- ${f.path} (lines ${f.startLine}-${f.endLine})\n${f.snippet}`;
  }
  return [
    { role: 'system', content: rules.join(' ') },
    { role: 'user', content: user },
  ];
}

/** The code read out of a model's answer. */
export interface ParsedAnswer {
  code: string;
  /** The language the answer names (normalized), or null. */
  language: string | null;
  explanation: string;
  /** The model's own confidence, when it gave a usable one. */
  modelConfidence: number | null;
  /** How the code was found: the JSON object asked for, a fenced block, or a fence cut off at the end. */
  format: 'json' | 'fence' | 'unterminated_fence';
  /** Fenced code blocks in the answer (more than one makes the choice less certain). */
  blocks: number;
}

const FENCE = /```([^\n`]*)\n([\s\S]*?)```/g;

function tryJson(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function confidenceOf(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return null;
  if (n >= 0 && n <= 1) return n;
  if (n > 1 && n <= 100) return n / 100; // "85" meaning percent
  return null;
}

function stripFence(code: string): string {
  const m = /^\s*```[^\n]*\n([\s\S]*?)\n?```\s*$/.exec(code);
  return m ? m[1] : code;
}

/** Reads the code, language, explanation and confidence out of a model's answer; null when it holds no code. */
export function parseModelAnswer(answer: string, requested: string | null): ParsedAnswer | null {
  const text = answer.trim();
  const fences = [...text.matchAll(FENCE)].map((m) => ({ tag: m[1].trim().split(/\s+/)[0] ?? '', body: m[2].replace(/\n$/, '') }));
  const jsonFence = fences.find((f) => f.tag.toLowerCase() === 'json');
  const object =
    tryJson(text) ??
    (jsonFence ? tryJson(jsonFence.body) : null) ??
    (text.indexOf('{') >= 0 ? tryJson(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) : null);
  if (object && typeof object.code === 'string' && object.code.trim()) {
    return {
      code: stripFence(object.code),
      language: normalizeLanguage(typeof object.language === 'string' ? object.language : null),
      explanation: typeof object.explanation === 'string' ? object.explanation.trim() : '',
      modelConfidence: confidenceOf(object.confidence),
      format: 'json',
      blocks: 1,
    };
  }
  const codeBlocks = fences.filter((f) => f.tag.toLowerCase() !== 'json' && f.body.trim());
  if (codeBlocks.length) {
    const chosen =
      codeBlocks.find((f) => requested && normalizeLanguage(f.tag) === requested) ?? codeBlocks.reduce((a, b) => (b.body.length > a.body.length ? b : a));
    const prose = text.replace(FENCE, ' ').replace(/\s+/g, ' ').trim();
    const stated = /confidence\W{0,3}(\d+(?:\.\d+)?)\s*(%?)/i.exec(prose);
    return {
      code: chosen.body,
      language: normalizeLanguage(chosen.tag),
      explanation: prose,
      modelConfidence: stated ? confidenceOf(stated[2] ? Number(stated[1]) / 100 : Number(stated[1])) : null,
      format: 'fence',
      blocks: codeBlocks.length,
    };
  }
  const open = /```([^\n`]*)\n([\s\S]+)$/.exec(text);
  if (open && open[2].trim()) {
    return {
      code: open[2].replace(/\n$/, ''),
      language: normalizeLanguage(open[1].trim()),
      explanation: text.slice(0, open.index).replace(/\s+/g, ' ').trim(),
      modelConfidence: null,
      format: 'unterminated_fence',
      blocks: 1,
    };
  }
  return null;
}

/** One warning on generated code, from the built-in analyzers. */
export interface GenerationWarning {
  severity: Severity;
  category: 'security' | 'quality';
  rule_id: string;
  message: string;
  line: number;
  suggestion: string;
}

/** The built-in analyzers' findings on the code (security only when safety filters are on). */
export function analyzeGeneratedCode(code: string, language: string, options: GenerationOptions): GenerationWarning[] {
  const file = { path: `generated.${GENERATION_LANGUAGES[language] ?? 'txt'}`, content: code };
  const toWarning = (category: GenerationWarning['category']) => (f: Finding): GenerationWarning => ({
    severity: f.severity,
    category,
    rule_id: f.ruleId,
    message: f.title === f.description || !f.description ? f.title : `${f.title}: ${f.description}`,
    line: f.line,
    suggestion: f.suggestion,
  });
  const security = options.safety_filters === false ? [] : analyzeFiles([file]).map(toWarning('security'));
  const quality = reviewFiles([file]).map(toWarning('quality'));
  return [...security, ...quality].sort((a, b) => a.line - b.line);
}

const PENALTY: Record<Severity, number> = { critical: 0.3, high: 0.2, medium: 0.1, low: 0.05 };

/**
 * The confidence of a generation: the model's own figure when it gave one; otherwise computed from
 * what we can observe: 0.85 for an answer in the asked-for JSON form, 0.7 for a fenced block, 0.5
 * for a block cut off at the end; minus 0.1 when the answer held several code blocks (we chose
 * one), minus 0.15 when its language is not the one asked for, minus each warning's penalty
 * (critical 0.3, high 0.2, medium 0.1, low 0.05); kept within 0.05 to 0.95, two decimals.
 */
export function generationConfidence(parsed: ParsedAnswer, requested: string | null, warnings: GenerationWarning[]): number {
  if (parsed.modelConfidence !== null) return Math.round(parsed.modelConfidence * 100) / 100;
  let score = parsed.format === 'json' ? 0.85 : parsed.format === 'fence' ? 0.7 : 0.5;
  if (parsed.blocks > 1) score -= 0.1;
  if (requested && parsed.language && parsed.language !== requested) score -= 0.15;
  for (const w of warnings) score -= PENALTY[w.severity];
  return Math.round(Math.min(0.95, Math.max(0.05, score)) * 100) / 100;
}
