// The filters of task and orchestration lists (`tasks(filter:)`, bulk operations,
// `orchestrations(filter:)`): the fields they share declared once, and their translation for the services.
import type { EnumRef } from '@pothos/core';
import { rangeEnd, rangeStart } from '../../src/services/dates.js';
import type { TaskFilter as ServiceTaskFilter } from '../../src/services/tasks/task-filter.js';
import { builder, type BuilderTypes } from '../builder.js';
import { TaskStatus } from './task.js';

/** How a list filter's descriptions name what it lists. */
interface ListWords {
  /** The listed things, capitalized ("Tasks"). */
  items: string;
  /** What `search` looks in ("the prompt"). */
  searched: string;
  /** The final states `finishedAfter` names, when it names them. */
  finalStates?: string;
}

/**
 * The fields of a list filter: `status` (any of the list's `statuses`), then `own` (fields only
 * this list has), then tags, team, date bounds and search.
 */
export function listFilterFields<S, F extends object>(t: PothosSchemaTypes.InputFieldBuilder<BuilderTypes, 'InputObject'>, statuses: EnumRef<BuilderTypes, S>, words: ListWords, own: F) {
  const items = words.items.toLowerCase();
  return {
    status: t.field({ type: [statuses], description: 'Any of these statuses.' }),
    ...own,
    tags: t.stringList({ description: `${words.items} carrying every one of these tags.` }),
    teamId: t.id({ description: `A team's ${items} (you must belong to it) instead of your personal ones.` }),
    createdAfter: t.field({ type: 'DateOrDateTime', description: 'Created on or after (a date alone: from the start of that day, UTC).' }),
    createdBefore: t.field({ type: 'DateOrDateTime', description: 'Created on or before (a date alone: to the end of that day, UTC).' }),
    finishedAfter: t.field({ type: 'DateOrDateTime', description: `Finished${words.finalStates ? ` (${words.finalStates})` : ''} on or after.` }),
    finishedBefore: t.field({ type: 'DateOrDateTime', description: 'Finished on or before.' }),
    search: t.string({ description: `Text ${words.searched} contains (case-insensitive), or a tag equal to it; 1 to 200 characters.` }),
  };
}

export const TaskFilter = builder.inputType('TaskFilter', {
  description: 'Narrows a task list; the fields combine with AND, a list field matches any of its values (tags: all of them).',
  // A thunk: TaskStatus comes from task.ts, which imports this module.
  fields: (t) =>
    listFilterFields(
      t,
      TaskStatus,
      { items: 'Tasks', searched: 'the prompt', finalStates: 'completed, failed, cancelled or timed out' },
      {
        agentType: t.stringList({ description: 'Any of these agent types.' }),
        ids: t.idList({ description: 'Only these tasks (at most 100 ids), e.g. the rows a person selected for a bulk operation.' }),
      },
    ),
});

/** A list filter as given in GraphQL: the shared fields. */
interface ListFilterInput<S> {
  status?: S[] | null;
  tags?: string[] | null;
  teamId?: string | number | null;
  createdAfter?: string | null;
  createdBefore?: string | null;
  finishedAfter?: string | null;
  finishedBefore?: string | null;
  search?: string | null;
}

/** The shared fields of a GraphQL list filter as the service's (a date alone: the start or the end of that day). */
export function toListFilter<S>(input: ListFilterInput<S>) {
  return {
    ...(input.status ? { status: input.status } : {}),
    ...(input.tags ? { tags: input.tags } : {}),
    ...(input.teamId != null ? { teamId: String(input.teamId) } : {}),
    ...(input.createdAfter ? { createdAfter: rangeStart(input.createdAfter) } : {}),
    ...(input.createdBefore ? { createdBefore: rangeEnd(input.createdBefore) } : {}),
    ...(input.finishedAfter ? { finishedAfter: rangeStart(input.finishedAfter) } : {}),
    ...(input.finishedBefore ? { finishedBefore: rangeEnd(input.finishedBefore) } : {}),
    ...(input.search != null ? { search: input.search } : {}),
  };
}

/** The GraphQL task filter as the service's. */
export function toTaskFilter(input: typeof TaskFilter.$inferInput | null | undefined): ServiceTaskFilter {
  if (!input) return {};
  return { ...toListFilter(input), ...(input.agentType ? { agentType: input.agentType } : {}), ...(input.ids ? { ids: input.ids.map(String) } : {}) };
}
