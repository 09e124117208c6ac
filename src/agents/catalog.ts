/** The agents this deployment runs: what each does, the task queue it needs, and its analysis. */
import { duplicatedBlocks, reviewFile, COMPLEXITY_THRESHOLD } from './code-expert.js';
import { scanFile, summarizeFindings, type Finding, type SourceFile } from './security-expert.js';
import { generateTests, type GeneratedFile } from './test-gen.js';

interface AgentBase {
  type: string;
  description: string;
  /** What it reads from the task's context. */
  inputs: string[];
  /** cpu: built-in analysis; gpu: model inference. */
  queue: 'cpu' | 'gpu';
  needsModel: boolean;
}

/** A built-in agent that reports findings. */
export interface AnalyzerAgent extends AgentBase {
  kind: 'analyzer';
  /** Findings for one file (the worker checkpoints after each file). */
  analyzeFile(file: SourceFile): Finding[];
  /** Findings that need every file at once (e.g. duplicates across files). */
  analyzeAll?(files: SourceFile[]): Finding[];
  summarize(findings: Finding[]): string;
  /**
   * Analyzers that also ask the model, when one is configured: after the built-in analysis, the
   * model reviews the files with those findings in hand and adds what they missed (on the gpu
   * queue). Without a model, or when it fails, the built-in findings stand and the result says so.
   */
  modelAssist?: { instructions: string };
}

/** A built-in agent that writes files instead of reporting findings. */
export interface GeneratorAgent extends AgentBase {
  kind: 'generator';
  generate(files: SourceFile[]): { files: GeneratedFile[]; skipped: string[] };
}

/** An agent that is the model: the task goes to the model as it is (gpu queue). */
export interface ModelAgent extends AgentBase {
  kind: 'model';
}

export type AgentDefinition = AnalyzerAgent | GeneratorAgent | ModelAgent;

function reviewSummary(findings: Finding[]): string {
  if (findings.length === 0) return 'No code review findings';
  const byRule = new Map<string, number>();
  for (const f of findings) byRule.set(f.ruleId, (byRule.get(f.ruleId) ?? 0) + 1);
  return `Found ${findings.length} code review ${findings.length === 1 ? 'issue' : 'issues'}: ${[...byRule].map(([r, n]) => `${n} ${r}`).join(', ')}`;
}

export const agentCatalog: Readonly<Record<string, AgentDefinition>> = {
  security_expert: {
    type: 'security_expert',
    description:
      'Static security analysis of context.files: hard-coded secrets, SQL and shell injection, eval of dynamic input, ' +
      'weak password hashing, disabled TLS verification and path traversal, in JavaScript/TypeScript, Python, Go, Java and Rust.',
    inputs: ['context.files'],
    kind: 'analyzer',
    queue: 'cpu',
    needsModel: false,
    analyzeFile: scanFile,
    summarize: summarizeFindings,
  },
  code_expert: {
    type: 'code_expert',
    description:
      'Code review of context.files from the syntax tree (TypeScript compiler API) for JavaScript/TypeScript: swallowed errors, ' +
      `promise chains without rejection handling, unreachable code, functions over cyclomatic complexity ${COMPLEXITY_THRESHOLD}, ` +
      'unclosed file descriptors and streams; duplicated blocks in every language. When a model is configured (MODEL_BASE_URL), ' +
      'the model then reviews the files on the gpu queue and adds what the built-in rules missed; result.analysis says which ran.',
    inputs: ['context.files'],
    kind: 'analyzer',
    queue: 'cpu',
    needsModel: false,
    analyzeFile: reviewFile,
    analyzeAll: duplicatedBlocks,
    summarize: reviewSummary,
    modelAssist: {
      instructions:
        'Review these files as a senior engineer. Report only problems that matter: bugs, unhandled errors and promise rejections, ' +
        'resource leaks, unreachable or dead code, needless complexity, duplicated logic. The built-in analyzer already found the ' +
        'problems listed below; do not repeat them. Answer with a JSON array only, each item ' +
        '{"file": string, "line": number, "severity": "critical"|"high"|"medium"|"low", "title": string, "description": string, "suggestion": string}, ' +
        'where file is one of the given paths and line is the 1-based line of the problem. Answer [] when you find nothing more.',
    },
  },
  test_gen: {
    type: 'test_gen',
    description:
      'Writes test files for the exported functions and classes of TypeScript/JavaScript files (vitest or jest, as the project uses) ' +
      'and the public functions and classes of Python files (pytest): each export exists, is callable and takes its declared arguments.',
    inputs: ['context.files'],
    kind: 'generator',
    queue: 'cpu',
    needsModel: false,
    generate: generateTests,
  },
  assistant: {
    type: 'assistant',
    description:
      'Answers the task about context.files with the configured model (any OpenAI-compatible chat API: OpenAI, vLLM, Ollama, llama.cpp), ' +
      'streaming its answer as progress; runs on the gpu queue; needs MODEL_BASE_URL.',
    inputs: ['task', 'context.files', 'max_tokens', 'temperature'],
    kind: 'model',
    queue: 'gpu',
    needsModel: true,
  },
};

export const agentTypes = Object.keys(agentCatalog);

/** The analyzer agent of a stored task (a model-assisted step runs only for analyzers). */
export function analyzerAgent(type: string): AnalyzerAgent {
  const agent = agentCatalog[type];
  if (agent?.kind !== 'analyzer') throw new Error(`${type} is not an analyzer agent`);
  return agent;
}
