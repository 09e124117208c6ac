// The workflowsPath of every worker: each workflow the engine runs is exported here.
export { agentTaskWorkflow } from './agent-task.js';
export { orchestrationWorkflow } from './orchestration.js';
export { generationRetentionWorkflow, generationWorkflow, scaffoldFeatureWorkflow } from './generation.js';
export { projectIndexWorkflow } from './project-index.js';
export { reviewWorkflow } from './review.js';
export { pruneWebhookHistoryWorkflow, webhookDeliveryWorkflow } from './webhook-delivery.js';
export { visualizationWorkflow } from './visualization.js';
export { bulkOperationWorkflow } from './bulk-operation.js';
