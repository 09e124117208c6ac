/** The result of an agent task, in the spec's shape (camelCase here; REST writes snake_case). */
import type { Finding } from '../../agents/security-expert.js';
import type { GeneratedFile } from '../../agents/test-gen.js';

export interface TaskResult {
  findings: Finding[];
  summary: string;
  /** Files an agent wrote (test_gen: test files), with how many test cases each holds. */
  files?: GeneratedFile[];
  /** How the findings were made, for agents that use the model when one is configured (code_expert). */
  analysis?: TaskAnalysis;
}

export interface TaskAnalysis {
  /** builtin: the built-in analysis alone; builtin+model: the model reviewed the files after it. */
  mode: 'builtin' | 'builtin+model';
  builtinFindings: number;
  modelFindings: number;
  /** Why the model was not used (none configured, or it failed), when it was not. */
  note: string | null;
}
