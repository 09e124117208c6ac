// The workflowsPath of every worker: each workflow the engine runs is exported here.
export { agentTaskWorkflow } from './agent-task.js';
export { orchestrationWorkflow } from './orchestration.js';
export { visualizationWorkflow } from './visualization.js';
