/**
 * WebSocket /v1/agents/tasks/{task_id}/stream?token=…&since=N: runs the taskEvents subscription
 * and sends each event as the spec's progress / result / error message, with its `seq`. It is
 * admitted and charged like any other request; the stream closes with 4401 when its credential
 * is revoked or its access token expires.
 */
import { INT32_MAX, parseBoundedInt, wholeNumberMessage } from '../../bounded-int.js';
import type { WebSocketRoute } from '../../edge/routes.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { findingsJson } from './agents.js';
import { operation } from './operations.js';

/** One taskEvents item, as the `task-events` document selects it (a RESULT carries its result, an ERROR its error). */
export type TaskStreamEvent = {
  seq: number;
  taskId: string;
  status: string;
  progress: number;
  message: string;
  queuePosition: number | null;
  timestamp: string;
} & (
  | { type: 'PROGRESS' }
  | { type: 'RESULT'; result: { summary: string; findings: Parameters<typeof findingsJson>[0] } }
  | { type: 'ERROR'; error: { code: string; message: string } }
);

/** The spec's message for one taskEvents item. */
export function taskStreamMessage(e: TaskStreamEvent) {
  const base = { type: e.type.toLowerCase(), task_id: e.taskId, seq: e.seq, status: e.status.toLowerCase(), progress: e.progress };
  if (e.type === 'RESULT') return { ...base, result: { findings: findingsJson(e.result.findings), summary: e.result.summary }, timestamp: e.timestamp };
  if (e.type === 'ERROR') return { ...base, error: { code: e.error.code.toLowerCase(), message: e.error.message }, timestamp: e.timestamp };
  return { ...base, message: e.message, ...(e.queuePosition != null ? { queue_position: e.queuePosition } : {}), timestamp: e.timestamp };
}

export const taskStreamRoute: WebSocketRoute<TaskStreamEvent> = {
  transport: 'websocket',
  method: 'GET',
  path: '/v1/agents/tasks/{task_id}/stream',
  document: operation('task-events'),
  variables: ({ params, query }) => {
    const sinceParam = query.get('since');
    const since = sinceParam === null || sinceParam === '' ? 0 : parseBoundedInt(sinceParam, 0, INT32_MAX); // sequence numbers are 32-bit
    if (since === null) throw new ValidationError([{ field: 'since', message: `${wholeNumberMessage(0, INT32_MAX)}: the last seq you saw` }]);
    return { taskId: params.task_id, since };
  },
  message: taskStreamMessage,
  invalid: ({ params }) => new NotFoundError('task', params.task_id),
  completed: 'task finished',
  resume: 'reconnect with ?since=<last seq>',
};
