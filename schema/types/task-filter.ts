// The filter of task lists (`tasks(filter:)`, bulk operations), and its translation for the service.
import { rangeEnd, rangeStart } from '../../src/services/dates.js';
import type { TaskFilter as ServiceTaskFilter } from '../../src/services/tasks/task-filter.js';
import { builder } from '../builder.js';
import { TaskStatus } from './task.js';

export const TaskFilter = builder.inputType('TaskFilter', {
  description: 'Narrows a task list; the fields combine with AND, a list field matches any of its values (tags: all of them).',
  // A thunk: TaskStatus comes from task.ts, which imports this module.
  fields: (t) => ({
    status: t.field({ type: [TaskStatus], description: 'Any of these statuses.' }),
    agentType: t.stringList({ description: 'Any of these agent types.' }),
    tags: t.stringList({ description: 'Tasks carrying every one of these tags.' }),
    teamId: t.id({ description: "A team's tasks (you must belong to it) instead of your personal ones." }),
    createdAfter: t.field({ type: 'DateOrDateTime', description: 'Created on or after (a date alone: from the start of that day, UTC).' }),
    createdBefore: t.field({ type: 'DateOrDateTime', description: 'Created on or before (a date alone: to the end of that day, UTC).' }),
    finishedAfter: t.field({ type: 'DateOrDateTime', description: 'Finished (completed, failed, cancelled or timed out) on or after.' }),
    finishedBefore: t.field({ type: 'DateOrDateTime', description: 'Finished on or before.' }),
    search: t.string({ description: 'Text the prompt contains (case-insensitive), or a tag equal to it; 1 to 200 characters.' }),
    ids: t.idList({ description: 'Only these tasks (at most 100 ids), e.g. the rows a person selected for a bulk operation.' }),
  }),
});

type DateBounds = { createdAfter?: string | null; createdBefore?: string | null; finishedAfter?: string | null; finishedBefore?: string | null };

/** A list filter's date bounds as instants (a date alone: the start or the end of that day). */
export function filterDates(input: DateBounds): Pick<ServiceTaskFilter, 'createdAfter' | 'createdBefore' | 'finishedAfter' | 'finishedBefore'> {
  return {
    ...(input.createdAfter ? { createdAfter: rangeStart(input.createdAfter) } : {}),
    ...(input.createdBefore ? { createdBefore: rangeEnd(input.createdBefore) } : {}),
    ...(input.finishedAfter ? { finishedAfter: rangeStart(input.finishedAfter) } : {}),
    ...(input.finishedBefore ? { finishedBefore: rangeEnd(input.finishedBefore) } : {}),
  };
}

/** The GraphQL filter as the service's. */
export function toTaskFilter(input: typeof TaskFilter.$inferInput | null | undefined): ServiceTaskFilter {
  if (!input) return {};
  return {
    ...(input.status ? { status: input.status } : {}),
    ...(input.agentType ? { agentType: input.agentType } : {}),
    ...(input.tags ? { tags: input.tags } : {}),
    ...(input.teamId != null ? { teamId: String(input.teamId) } : {}),
    ...filterDates(input),
    ...(input.search != null ? { search: input.search } : {}),
    ...(input.ids ? { ids: input.ids.map(String) } : {}),
  };
}
