/**
 * Per-request DataLoaders: what a list resolves for each of its items (a queued task's place in
 * line, a team's members and the caller's role in it, a review's issues, an orchestration's
 * tasks) is read in one statement for the whole page instead of one per item. The reads
 * themselves are services' functions; this module only batches them.
 *
 * No loader caches: a graphql-ws socket keeps one context for all its operations and a
 * subscription re-resolves its payload on every event, so a cached value would go stale. Batching
 * (the loads of one tick become one statement) is what keeps the statement count flat.
 */
import DataLoader from 'dataloader';
import type { TeamRole } from '../generated/prisma/enums.js';
import type { Principal, ServiceDeps } from '../services/deps.js';
import { tasksOfOrchestrations } from '../services/orchestrations.js';
import { issuesOfReviews } from '../services/reviews/reviews.js';
import { queuePositions } from '../services/tasks/agent-slots.js';
import { membersOfTeams, teamRolesOf } from '../services/teams.js';

type Deps = Pick<ServiceDeps, 'db'>;
type QueuedTask = { id: string; ownerId: string; status: string; slotTaken: boolean };

/** Loads in one batch per tick, never from a cache (see above). */
const batching = <K, V, C = K>(load: DataLoader.BatchLoadFn<K, V>, cacheKeyFn?: (key: K) => C) =>
  new DataLoader<K, V, C>(load, { cache: false, ...(cacheKeyFn ? { cacheKeyFn } : {}) });

/** Batches `load` per distinct filter: one statement for each filter a page asks with. */
function byFilter<V>(load: (ids: string[], filter: unknown) => Promise<V[]>): DataLoader.BatchLoadFn<{ id: string; filter: unknown }, V> {
  return async (keys) => {
    const groups = new Map<string, number[]>();
    keys.forEach((k, i) => {
      const g = JSON.stringify(k.filter ?? {});
      groups.set(g, [...(groups.get(g) ?? []), i]);
    });
    const out = new Array<V | Error>(keys.length);
    await Promise.all(
      [...groups.values()].map(async (indexes) => {
        try {
          const values = await load(indexes.map((i) => keys[i].id), keys[indexes[0]].filter);
          indexes.forEach((i, n) => (out[i] = values[n]!));
        } catch (err) {
          for (const i of indexes) out[i] = err as Error;
        }
      }),
    );
    return out;
  };
}

/**
 * The loaders of one request; `principal` is whose view (team roles) they load. Each is made on
 * first use: most operations (every subscription's) use none, and a graphql-ws socket holds its
 * operations' contexts for as long as it is open, so loaders made up front would be idle memory
 * per subscriber.
 */
export class Loaders {
  #queuePosition?: DataLoader<QueuedTask, number | null, string>;
  #teamRole?: DataLoader<string, TeamRole | null>;
  #teamMembers?: DataLoader<string, Awaited<ReturnType<typeof membersOfTeams>>[number]>;
  #reviewIssues?: DataLoader<{ id: string; filter: unknown }, Awaited<ReturnType<typeof issuesOfReviews>>[number], string>;
  #orchestrationTasks?: DataLoader<string, Awaited<ReturnType<typeof tasksOfOrchestrations>>[number]>;

  constructor(
    private readonly deps: Deps,
    private readonly principal: () => Principal | null,
  ) {}

  /** A queued task's place in its account's line (null when it is not waiting for a slot). */
  get queuePosition() {
    return (this.#queuePosition ??= batching<QueuedTask, number | null, string>((tasks) => queuePositions(this.deps, tasks), (t) => t.id));
  }

  /** The caller's role in a team (null when not a member). */
  get teamRole() {
    return (this.#teamRole ??= batching<string, TeamRole | null>((teamIds) => {
      const p = this.principal();
      return p ? teamRolesOf(this.deps, p, teamIds) : Promise.resolve(teamIds.map(() => null));
    }));
  }

  /** A team's members with their users, oldest first. */
  get teamMembers() {
    return (this.#teamMembers ??= batching((teamIds: readonly string[]) => membersOfTeams(this.deps, teamIds)));
  }

  /** A review's issues that pass a filter, most severe first. */
  get reviewIssues() {
    return (this.#reviewIssues ??= batching(byFilter((ids, filter) => issuesOfReviews(this.deps, ids, filter)), (k) => `${k.id} ${JSON.stringify(k.filter ?? {})}`));
  }

  /** An orchestration's tasks in step order. */
  get orchestrationTasks() {
    return (this.#orchestrationTasks ??= batching((ids: readonly string[]) => tasksOfOrchestrations(this.deps, ids)));
  }
}
