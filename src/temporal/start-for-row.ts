/**
 * Workflow starts in one place. A workflow is started by its function, never by a name written
 * out, so `start(…, agentTaskWorkflow, …)` only compiles with the arguments that workflow takes.
 * A resource's workflow id is the resource's id (a duplicate start is idempotent), and a row
 * whose workflow cannot be started is undone: nothing stays queued that no workflow will run.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { ServiceUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isUnregisteredSearchAttribute, memoOf, searchAttributesOf, type WorkflowIndex } from './search-attributes.js';

type StartDeps = { temporal: Client; config: { taskQueues: { cpu: string } }; logger?: Pick<Logger, 'warn'> };

/** How a workflow is started: its id, its arguments, and (default: the cpu queue) its task queue. */
export interface StartOptions<W extends Workflow> {
  workflowId: string;
  args: Parameters<W>;
  taskQueue?: string;
  /** Refuse an id whose workflow ever existed (the reconciler's restart of a lost start). */
  rejectDuplicate?: boolean;
  /** Bounds the whole run (a workflow the request waits for). */
  workflowExecutionTimeout?: string;
  /** Whose resource it runs: its search attributes and memo (see ./search-attributes.ts). */
  index?: WorkflowIndex;
}

/** Clients whose namespace was found without the search attributes: their later starts go without them. */
const withoutSearchAttributes = new WeakSet<Client>();

/** Starts `workflow` (typed by the function: its name is the workflow type, its parameters the args). */
export async function start<W extends Workflow>(deps: StartDeps, workflow: W, options: StartOptions<W>): Promise<WorkflowHandle<W>> {
  const { rejectDuplicate, taskQueue, workflowExecutionTimeout, index, ...rest } = options;
  const base = {
    ...rest,
    taskQueue: taskQueue ?? deps.config.taskQueues.cpu,
    ...(workflowExecutionTimeout ? { workflowExecutionTimeout } : {}),
    ...(rejectDuplicate ? { workflowIdReusePolicy: 'REJECT_DUPLICATE' as const } : {}),
    ...(index ? { memo: memoOf(index) } : {}),
  };
  // The SDK's options type its args by a conditional type TypeScript cannot resolve for a generic
  // W; StartOptions<W> has already typed them by the workflow's parameters.
  const startWith = (extra: object) => deps.temporal.workflow.start<W>(workflow, { ...base, ...extra } as unknown as WorkflowStartOptions<W>);
  if (!index || withoutSearchAttributes.has(deps.temporal)) return startWith({});
  try {
    return await startWith({ typedSearchAttributes: searchAttributesOf(index) });
  } catch (err) {
    if (!isUnregisteredSearchAttribute(err)) throw err;
    // A cluster whose operator has not registered them: workflows still run, without them.
    withoutSearchAttributes.add(deps.temporal);
    deps.logger?.warn({ reason: (err as Error).message }, 'Temporal search attributes are not registered on this namespace: starting workflows without them (see docs/operations.md)');
    return startWith({});
  }
}

/**
 * Runs `startWorkflow` for a row just written. "Already started" is an idempotent repeat of this
 * very start and counts as started; any other failure is logged, `undo` removes (or ends) the row,
 * and the request answers 503 service_unavailable, saying `what` ("the task was not created").
 */
export async function startForRow(
  deps: { logger: Pick<Logger, 'error'> },
  row: { id: string; what: string; undo: () => Promise<unknown> },
  startWorkflow: () => Promise<unknown>,
): Promise<void> {
  try {
    await startWorkflow();
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return;
    deps.logger.error({ err, resourceId: row.id }, `could not start a workflow: ${row.what}`);
    await row.undo();
    throw new ServiceUnavailableError(`The task engine is not reachable right now; ${row.what}. Retry shortly.`);
  }
}
