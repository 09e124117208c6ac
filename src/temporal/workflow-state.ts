/**
 * How a resource's workflow stands in Temporal, as the reconciler needs to know it: still going,
 * unknown to Temporal (never started, or removed), or closed and how. Only a WorkflowNotFoundError
 * counts as unknown; any other failure (Temporal unreachable) is thrown, never taken as an answer.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';

export type WorkflowEnd = 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';

export type WorkflowState =
  | { state: 'running' }
  | { state: 'missing' }
  /** `reason`: the terminate request's reason, or a failed workflow's failure message (for the log). */
  | { state: 'closed'; end: WorkflowEnd; reason: string | null };

const ENDS: Partial<Record<string, WorkflowEnd>> = {
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
};

/** The state of the latest run of `workflowId`. */
export async function workflowState(client: Client, workflowId: string): Promise<WorkflowState> {
  let description;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: 'missing' };
    throw err;
  }
  // RUNNING, PAUSED, and CONTINUED_AS_NEW (describe follows the chain to its latest run) are not over.
  const end = ENDS[description.status.name];
  if (!end) return { state: 'running' };
  const reason = end === 'terminated' || end === 'failed' ? await closeReason(client, workflowId, description.runId) : null;
  return { state: 'closed', end, reason };
}

/** The reason on the close event of a run (read alone, not the whole history). */
async function closeReason(client: Client, workflowId: string, runId: string): Promise<string | null> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId, runId },
    historyEventFilterType: proto.temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
  });
  const event = history?.events?.at(-1);
  const reason = event?.workflowExecutionTerminatedEventAttributes?.reason ?? event?.workflowExecutionFailedEventAttributes?.failure?.message ?? null;
  return reason ? reason.trim() || null : null;
}
