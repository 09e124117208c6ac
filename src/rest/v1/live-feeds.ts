/**
 * Feeds served only as Server-Sent Events (GET, any Accept): a bulk operation's progress
 * (GET /v1/agents/bulk/{bulk_id}/events, ends after its summary) and the live task list
 * (GET /v1/agents/tasks/updates, the task list's filters, never ends by itself). Each event's id
 * is what `Last-Event-ID` (or `?since=` on a first connection) resumes after.
 */
import { z } from 'zod';
import { INT32_MAX, boundedIntParam } from '../../bounded-int.js';
import { ValidationError } from '../../errors.js';
import { graphql, type ResultOf } from '../graphql.js';
import { filterVariables, taskFilterQuery } from '../list-filters.js';
import { defineEventStream, defineRoute, lower } from '../route.js';
import { BulkFields, BulkJson, bulkJson } from './bulk.js';

const since = (what: string) => boundedIntParam(0, INT32_MAX).optional().describe(`Resume after this event id (${what}); Last-Event-ID wins when both are sent.`);

/** Where a stream resumes: the Last-Event-ID header when sent, else `?since=`, else null. */
const resumeFrom = (lastEventId: number, query: { since?: number }) => (lastEventId > 0 ? lastEventId : (query.since ?? null));

const BulkEvents = graphql(`
  subscription RestBulkOperationEvents($id: ID!, $since: Int) {
    bulkOperationEvents(id: $id, since: $since) { seq type operationId status matched processed succeeded skipped failed timestamp }
  }
`);

function bulkEvent(e: ResultOf<typeof BulkEvents>['bulkOperationEvents']) {
  return {
    id: String(e.seq),
    event: e.type,
    data: {
      bulk_id: e.operationId,
      seq: e.seq,
      status: lower(e.status),
      matched: e.matched,
      processed: e.processed,
      succeeded: e.succeeded,
      skipped: e.skipped,
      failed: e.failed,
      timestamp: e.timestamp,
    },
  };
}

const TaskCount = graphql(`query RestTaskUpdatesCount($filter: TaskFilter) { tasks(filter: $filter) { totalCount } }`);

const TaskUpdates = graphql(`
  subscription RestTaskUpdates($filter: TaskFilter, $after: String) {
    taskUpdates(filter: $filter, after: $after) { cursor kind taskId teamId agentType status progress message timestamp }
  }
`);

function taskUpdateEvent(u: ResultOf<typeof TaskUpdates>['taskUpdates']) {
  return {
    id: u.cursor,
    event: lower(u.kind),
    data: {
      cursor: u.cursor,
      kind: lower(u.kind),
      task_id: u.taskId,
      team_id: u.teamId,
      agent_type: u.agentType,
      status: lower(u.status),
      progress: u.progress,
      message: u.message,
      timestamp: u.timestamp,
    },
  };
}

const UpdatesQuery = z
  .object({ ...taskFilterQuery, q: z.string().optional().describe('Refused (422): updates carry no prompt; poll GET /v1/agents/tasks?q= instead.'), since: since('a cursor') })
  .strict();
type UpdatesQuery = z.output<typeof UpdatesQuery>;

/** The list's filter parameters as the GraphQL TaskFilter. */
const taskFilter = (query: UpdatesQuery) => ({ ...filterVariables(query), agentType: query.agent_type?.length ? query.agent_type : null });

export const liveFeedRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/agents/bulk/{bulk_id}/events',
    operationId: 'streamBulkOperationEvents',
    summary: "A bulk operation's progress as Server-Sent Events: the operation, then progress after each batch, then completed (the stream ends)",
    description:
      'Server-Sent Events: first `bulk_operation` (no id; the operation as GET /v1/agents/bulk/{bulk_id} answers it), then `progress` after each batch ' +
      'and one `completed` with the final counts, each `{bulk_id, seq, status, matched, processed, succeeded, skipped, failed, timestamp}` with id = seq. ' +
      'A finished operation replays its events and ends at once.',
    tag: 'Agents',
    successStatus: 200,
    params: z.object({ bulk_id: z.string().min(1) }),
    query: z.object({ since: since('a seq') }).strict(),
    response: BulkJson,
    document: graphql(`query RestBulkOperationStream($id: ID!) { bulkOperation(id: $id) { ...RestBulkOperation } }`, [BulkFields]),
    variables: ({ params }) => ({ id: params.bulk_id }),
    reply: (data) => bulkJson(data.bulkOperation),
    eventStream: defineEventStream({
      only: true,
      document: BulkEvents,
      variables: (data: { bulkOperation: ResultOf<typeof BulkFields> }, req: { query: { since?: number } }, lastEventId) => ({
        id: data.bulkOperation.id,
        since: resumeFrom(lastEventId, req.query) ?? 0,
      }),
      opening: (data) => ({ event: 'bulk_operation', data: bulkJson(data.bulkOperation) }),
      event: bulkEvent,
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/agents/tasks/updates',
    operationId: 'streamTaskUpdates',
    summary: "Changes of your tasks (or a team's) matching the task list's filters, as Server-Sent Events: created, status, progress (never ends by itself)",
    description:
      'Server-Sent Events: first `tasks` (no id; `{total_count}` of the tasks matching now), then one event per change: `created`, `status` or `progress`, ' +
      'each `{cursor, kind, task_id, team_id, agent_type, status, progress, message, timestamp}` with id = cursor. Without Last-Event-ID or since: changes from now on. ' +
      'Takes the filters of GET /v1/agents/tasks except q (updates carry no prompt: 422).',
    tag: 'Agents',
    successStatus: 200,
    query: UpdatesQuery,
    response: z.object({ total_count: z.number().int().describe('Tasks matching the filter when the stream opened.') }),
    document: TaskCount,
    variables: ({ query }) => {
      if (query.q !== undefined) {
        throw new ValidationError([{ field: 'q', message: 'is not available on live updates (they carry no prompt); filter by status, agent_type, tag, team_id or dates, or poll GET /v1/agents/tasks?q=' }]);
      }
      return { filter: taskFilter(query) };
    },
    reply: (data) => ({ total_count: data.tasks.totalCount }),
    eventStream: defineEventStream({
      only: true,
      document: TaskUpdates,
      variables: (_data: ResultOf<typeof TaskCount>, req: { query: UpdatesQuery }, lastEventId) => {
        const after = resumeFrom(lastEventId, req.query);
        return { filter: taskFilter(req.query), after: after === null ? null : String(after) };
      },
      opening: (data) => ({ event: 'tasks', data: { total_count: data.tasks.totalCount } }),
      event: taskUpdateEvent,
    }),
  }),
];
