/** The result of an agent task, in the spec's shape (camelCase here; REST writes snake_case). */
import type { Finding } from '../../agents/security-expert.js';
import type { GeneratedFile } from '../../agents/test-gen.js';

export interface TaskResult {
  findings: Finding[];
  summary: string;
  /** Files an agent wrote (test_gen: test files), with how many test cases each holds. */
  files?: GeneratedFile[];
}
