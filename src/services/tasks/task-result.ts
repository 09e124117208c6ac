/** The result of an agent task, in the spec's shape (camelCase here; REST writes snake_case). */
import type { Finding } from '../../agents/security-expert.js';

export interface TaskResult {
  findings: Finding[];
  summary: string;
}
