// Names shared by workflows and the Node side; no imports, so both can load it.

/** Non-retryable agent failures carry this type; their message is safe to show the caller. */
export const AGENT_INPUT_ERROR = 'AgentInputError';

/** Non-retryable index failures (a repository that cannot be cloned); their message is safe to show. */
export const INDEX_INPUT_ERROR = 'IndexInputError';
