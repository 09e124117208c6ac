/** The agents this deployment runs, with the task queue each needs. */

export interface AgentDefinition {
  type: string;
  description: string;
  /** cpu: built-in analysis; gpu: model inference. */
  queue: 'cpu' | 'gpu';
  needsModel: boolean;
}

export const agentCatalog: Readonly<Record<string, AgentDefinition>> = {
  security_expert: {
    type: 'security_expert',
    description:
      'Static security analysis of context.files: hard-coded secrets, SQL and shell injection, eval of dynamic input, ' +
      'weak password hashing, disabled TLS verification and path traversal, in JavaScript/TypeScript, Python, Go, Java and Rust.',
    queue: 'cpu',
    needsModel: false,
  },
};

export const agentTypes = Object.keys(agentCatalog);
