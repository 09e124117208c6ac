import type { TaskStatus as DbTaskStatus } from '../../src/generated/prisma/enums.js';
import { rangeEnd, rangeStart } from '../../src/services/dates.js';
import type { TaskFilter } from '../../src/services/tasks/task-filter.js';
import { builder } from '../builder.js';
import { TaskStatus } from './task.js';

export const TaskFilterInput = builder.inputType('TaskFilter', {
  description: "Which tasks: your personal tasks, or a team's with teamId, narrowed by every criterion given (all must hold).",
  fields: (t) => ({
    status: t.field({ type: [TaskStatus], description: 'Any of these statuses.' }),
    agentType: t.stringList({ description: 'Any of these agent types.' }),
    tags: t.stringList({ description: 'Tasks carrying every one of these tags.' }),
    teamId: t.id({ description: "A team you belong to: its tasks instead of your personal ones." }),
    createdAfter: t.field({ type: 'DateOrDateTime', description: 'Created at or after (a date alone: from the start of that day, UTC).' }),
    createdBefore: t.field({ type: 'DateOrDateTime', description: 'Created at or before (a date alone: to the end of that day, UTC).' }),
    finishedAfter: t.field({ type: 'DateOrDateTime', description: 'Finished at or after.' }),
    finishedBefore: t.field({ type: 'DateOrDateTime', description: 'Finished at or before.' }),
    search: t.string({ description: "Text in the task's prompt or tags." }),
  }),
});

type TaskFilterArg = {
  status?: DbTaskStatus[] | null;
  agentType?: string[] | null;
  tags?: string[] | null;
  teamId?: string | number | null;
  createdAfter?: string | null;
  createdBefore?: string | null;
  finishedAfter?: string | null;
  finishedBefore?: string | null;
  search?: string | null;
};

/** The service's filter from the GraphQL input (date-only bounds cover their whole day). */
export function taskFilterFromInput(input: TaskFilterArg | null | undefined): TaskFilter {
  if (!input) return {};
  const date = (text: string | null | undefined, bound: (t: string) => Date) => (text ? bound(text) : undefined);
  return {
    status: input.status ?? undefined,
    agentType: input.agentType ?? undefined,
    tags: input.tags ?? undefined,
    teamId: input.teamId == null ? undefined : String(input.teamId),
    createdAfter: date(input.createdAfter, rangeStart),
    createdBefore: date(input.createdBefore, rangeEnd),
    finishedAfter: date(input.finishedAfter, rangeStart),
    finishedBefore: date(input.finishedBefore, rangeEnd),
    search: input.search ?? undefined,
  };
}
