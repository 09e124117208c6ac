/**
 * Compile-time checks of `defineRoute` (type-checked by test/unit/rest-route-types.test.ts and by
 * `tsc -p .`): each `@ts-expect-error` marks a route that must not compile; if one of them
 * compiled, the directive itself would be the error.
 */
import { z } from 'zod';
import { graphql } from '../../src/rest/graphql.js';
import { defineRoute } from '../../src/rest/route.js';

const GetTask = graphql(`query TypeTestGetTask($id: ID!) { task(id: $id) { id status progress createdAt } }`);
const route = {
  method: 'GET',
  path: '/v1/type-test/{task_id}',
  operationId: 'typeTest',
  summary: 'A route for the type checks',
  tag: 'Test',
  successStatus: 200,
  params: z.object({ task_id: z.string() }),
  response: z.object({ task_id: z.string(), status: z.enum(['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out']), progress: z.number().int(), created_at: z.iso.datetime() }),
  document: GetTask,
} as const;

// The route as it should be: compiles.
export const matching = defineRoute({
  ...route,
  variables: ({ params }) => ({ id: params.task_id }),
  reply: ({ task }) => ({ task_id: task.id, status: task.status === 'TIMED_OUT' ? ('timed_out' as const) : ('running' as const), progress: task.progress, created_at: task.createdAt }),
});

export const wrongFieldType = defineRoute({
  ...route,
  variables: ({ params }) => ({ id: params.task_id }),
  // @ts-expect-error progress is a number in the response schema, not a string
  reply: ({ task }) => ({ task_id: task.id, status: 'running' as const, progress: String(task.progress), created_at: task.createdAt }),
});

export const missingField = defineRoute({
  ...route,
  variables: ({ params }) => ({ id: params.task_id }),
  // @ts-expect-error created_at is required by the response schema
  reply: ({ task }) => ({ task_id: task.id, status: 'running' as const, progress: task.progress }),
});

export const valueOutsideEnum = defineRoute({
  ...route,
  variables: ({ params }) => ({ id: params.task_id }),
  // @ts-expect-error GraphQL's upper-case status is not one of the JSON's values
  reply: ({ task }) => ({ task_id: task.id, status: task.status, progress: task.progress, created_at: task.createdAt }),
});

export const fieldNotSelected = defineRoute({
  ...route,
  variables: ({ params }) => ({ id: params.task_id }),
  // @ts-expect-error the document does not select agentType
  reply: ({ task }) => ({ task_id: task.agentType, status: 'running' as const, progress: task.progress, created_at: task.createdAt }),
});

export const missingVariable = defineRoute({
  ...route,
  // @ts-expect-error the document's $id is required
  variables: ({ params }) => ({ taskId: params.task_id }),
  reply: ({ task }) => ({ task_id: task.id, status: 'running' as const, progress: task.progress, created_at: task.createdAt }),
});
