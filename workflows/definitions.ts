// Names shared by workflows and the Node side; only the workflow API's definitions, so both can load it.
import { defineSignal } from '@temporalio/workflow';

/** Non-retryable agent failures carry this type; their message is safe to show the caller. */
export const AGENT_INPUT_ERROR = 'AgentInputError';

/** Non-retryable index failures (a repository that cannot be cloned); their message is safe to show. */
export const INDEX_INPUT_ERROR = 'IndexInputError';

/** Sent to an orchestration's workflow when one of its tasks is cancelled: the task id. */
export const cancelAgentSignal = defineSignal<[taskId: string]>('cancelAgent');
