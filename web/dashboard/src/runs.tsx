/**
 * Runs: your tasks (or a team's), newest first, narrowed by status (several), agent type, tag,
 * text and creation dates, with the total and the count of each status. The list stays live over
 * one taskUpdates subscription (no polling); selected rows can be cancelled or rerun together as a
 * bulk operation whose progress arrives over bulkOperationEvents.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { gql, isConnected, newIdempotencyKey, onConnected, subscribe } from './api';
import { Action, Badge, duration, ErrorNote, FINAL, Link, OwnerPicker, Pager, Tags, usd, useQuery } from './ui';

export const TASK_FIELDS = `id agentType teamId prompt tags status progress queuePosition queueReason createdAt startedAt completedAt durationSeconds costUsd tokensUsed { total } rerunOfId`;
const STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const;
const PAGE = 25;
/** How long the list waits for more updates before it counts or loads again (a burst makes one query). */
const SETTLE_MS = 400;

export interface TaskRow {
  id: string;
  agentType: string;
  teamId: string | null;
  prompt: string;
  tags: string[];
  status: string;
  progress: number;
  queuePosition: number | null;
  queueReason: string | null;
  createdAt: string;
  completedAt: string | null;
  durationSeconds: number | null;
  costUsd: number;
  tokensUsed: { total: number };
  rerunOfId: string | null;
}

interface Filter {
  status: string[];
  agentType: string;
  tag: string;
  search: string;
  createdAfter: string;
  createdBefore: string;
}
const NO_FILTER: Filter = { status: [], agentType: '', tag: '', search: '', createdAfter: '', createdBefore: '' };

interface ListData {
  tasks: { totalCount: number; edges: Array<{ node: TaskRow }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  teams: { edges: Array<{ node: { id: string; name: string } }> };
  agentTypes: Array<{ type: string }>;
}

const LIST = `query Runs($filter: TaskFilter, $after: String, $first: Int) {
  tasks(filter: $filter, after: $after, first: $first) {
    totalCount
    edges { node { ${TASK_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
  teams(first: 100) { edges { node { id name } } }
  agentTypes { type }
}`;
const COUNTS = `query RunCounts(${STATUSES.map((s) => `$${s}: TaskFilter`).join(', ')}) {
  ${STATUSES.map((s) => `${s}: tasks(filter: $${s}, first: 1) { totalCount }`).join('\n  ')}
}`;
const UPDATES = `subscription RunUpdates($filter: TaskFilter) { taskUpdates(filter: $filter) { cursor kind taskId status progress task { ${TASK_FIELDS} } } }`;
const BULK = `mutation Bulk($action: BulkAction!, $filter: TaskFilter!, $idempotencyKey: String) {
  startBulkOperation(action: $action, filter: $filter, idempotencyKey: $idempotencyKey) { operation { id action status matched processed succeeded skipped failed } }
}`;
const BULK_EVENTS = `subscription BulkEvents($id: ID!) { bulkOperationEvents(id: $id) { seq type status matched processed succeeded skipped failed } }`;

export const CANCEL = `mutation Cancel($id: ID!) { cancelTask(id: $id) { task { ${TASK_FIELDS} } } }`;
export const TASK_EVENTS = `subscription Events($taskId: ID!, $since: Int) { taskEvents(taskId: $taskId, since: $since) { seq type status progress message queuePosition timestamp error { code message } } }`;

const label = (status: string) => status.replace('_', ' ').toLowerCase();

/** The API's filter for the page's filter (empty fields left out). */
function apiFilter(f: Filter, teamId: string) {
  return {
    ...(teamId ? { teamId } : {}),
    ...(f.status.length ? { status: f.status } : {}),
    ...(f.agentType ? { agentType: [f.agentType] } : {}),
    ...(f.tag.trim() ? { tags: [f.tag.trim()] } : {}),
    ...(f.search.trim() ? { search: f.search.trim() } : {}),
    ...(f.createdAfter ? { createdAfter: f.createdAfter } : {}),
    ...(f.createdBefore ? { createdBefore: f.createdBefore } : {}),
  };
}

/**
 * Whether a task belongs on this list by what the live update cannot filter on the server: its
 * status (it changes, so the subscription takes every status and the page decides) and the text.
 */
function matchesLocally(task: TaskRow, f: Filter): boolean {
  if (f.status.length && !f.status.includes(task.status)) return false;
  const q = f.search.trim().toLowerCase();
  return !q || task.prompt.toLowerCase().includes(q) || task.tags.includes(f.search.trim());
}

/** `value`, once it has stopped changing for `ms`. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** Runs `fn` once `ms` after the last call of the returned function. */
function useDebounced(fn: () => void, ms: number) {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useMemo(
    () => () => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => latest.current(), ms);
    },
    [ms],
  );
}

interface BulkState {
  id: string;
  action: string;
  status: string;
  matched: number;
  processed: number;
  succeeded: number;
  skipped: number;
  failed: number;
}

/** A bulk operation's progress, live over bulkOperationEvents until its summary arrives. */
function BulkProgress({ op, onUpdate, onDone }: { op: BulkState; onUpdate(op: BulkState): void; onDone(): void }) {
  useEffect(
    () =>
      subscribe<{ bulkOperationEvents: Omit<BulkState, 'id' | 'action'> & { type: string } }>(BULK_EVENTS, { id: op.id }, {
        next: ({ bulkOperationEvents: e }) => {
          onUpdate({ ...op, status: e.status, matched: e.matched, processed: e.processed, succeeded: e.succeeded, skipped: e.skipped, failed: e.failed });
          if (e.status !== 'RUNNING') onDone();
        },
      }),
    [op.id],
  );
  const verb = op.action === 'CANCEL' ? 'Cancel' : 'Rerun';
  return (
    <div className="bulk card" role="status" data-testid="bulk" data-status={op.status}>
      <strong>
        {verb} of {op.matched} task{op.matched === 1 ? '' : 's'}: {op.status === 'RUNNING' ? 'in progress' : label(op.status)}
      </strong>
      <progress max={Math.max(op.matched, 1)} value={op.processed} aria-label={`${verb} progress`} />
      <span className="muted">
        {op.processed} of {op.matched} processed · {op.succeeded} succeeded · {op.skipped} skipped · {op.failed} failed
      </span>
    </div>
  );
}

export function RunsPage() {
  const [draft, setDraft] = useState<Filter>(NO_FILTER);
  // Text fields apply once typing pauses; the other controls at once.
  const tag = useSettled(draft.tag, 350);
  const search = useSettled(draft.search, 350);
  const filter = useMemo<Filter>(() => ({ ...draft, tag, search }), [draft.status, draft.agentType, draft.createdAfter, draft.createdBefore, tag, search]);
  const [teamId, setTeamId] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1] ?? null;
  const variables = { filter: apiFilter(filter, teamId), after, first: PAGE };
  const { data, error, reload, setData } = useQuery<ListData>(LIST, variables);
  const [actionError, setActionError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<BulkState | null>(null);
  const [live, setLive] = useState(false);
  const rows = data?.tasks.edges.map((e) => e.node) ?? [];

  // Counts by status within the other filters (a status count does not depend on the status filter).
  const countBase = apiFilter({ ...filter, status: [] }, teamId);
  const countVars = Object.fromEntries(STATUSES.map((s) => [s, { ...countBase, status: [s] }]));
  const counts = useQuery<Record<string, { totalCount: number }>>(COUNTS, countVars);

  const setFilter = (patch: Partial<Filter>) => {
    setDraft((f) => ({ ...f, ...patch }));
    setCursors([]);
    setSelected(new Set());
  };
  const update = (task: TaskRow) =>
    setData((d) => d && { ...d, tasks: { ...d.tasks, edges: d.tasks.edges.map((e) => (e.node.id === task.id ? { node: { ...e.node, ...task } } : e)) } });
  const recount = useDebounced(() => (counts.reload(), reload()), SETTLE_MS);
  const recountOnly = useDebounced(counts.reload, SETTLE_MS);

  // One subscription for the whole list. Status and text are decided here (see matchesLocally);
  // agent type, tag, team and dates never change on a task, so the server filters by them.
  const liveFilter = apiFilter({ ...filter, status: [], search: '' }, teamId);
  const liveKey = JSON.stringify(liveFilter);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  /** The last status an update gave each task since the list loaded (updates can outrun renders). */
  const seen = useRef(new Map<string, string>());
  useEffect(() => seen.current.clear(), [data?.tasks]);
  const shiftCount = (from: string | null, to: string) =>
    counts.setData((c) => {
      if (!c) return c;
      const next = { ...c };
      if (from && next[from]) next[from] = { totalCount: Math.max(0, next[from].totalCount - 1) };
      if (next[to]) next[to] = { totalCount: next[to].totalCount + 1 };
      return next;
    });
  const state = useRef({ filter, after });
  state.current = { filter, after };
  useEffect(() => {
    setLive(isConnected());
    if (isConnected()) recount();
    const stopConnected = onConnected(() => {
      setLive(true);
      // Whatever changed while the socket was closed (or before the subscription began).
      recount();
    });
    const stop = subscribe<{ taskUpdates: { kind: string; taskId: string; status: string; progress: number; task: TaskRow | null } }>(UPDATES, { filter: liveFilter }, {
      next: ({ taskUpdates: u }) => {
        setLive(true);
        const row = rowsRef.current.find((r) => r.id === u.taskId);
        const known = row !== undefined;
        if (known) update(u.task ?? ({ id: u.taskId, status: u.status, progress: u.progress } as TaskRow));
        if (u.kind === 'PROGRESS') return;
        const { filter: f, after: page } = state.current;
        // Move the counts at once; the recount below confirms them.
        const before = seen.current.get(u.taskId) ?? row?.status ?? null;
        seen.current.set(u.taskId, u.status);
        if (before !== u.status && (before || (u.kind === 'CREATED' && u.task && matchesLocally(u.task, { ...f, status: [] })))) shiftCount(before, u.status);
        if (!known && u.task && matchesLocally(u.task, f) && !page) {
          // A new task (or one that now matches) on the first page: load it in order, with the total.
          recount();
        } else recountOnly();
      },
      error: (message) => (setLive(false), setActionError(message)),
    });
    return () => (stop(), stopConnected());
  }, [liveKey]);

  const teams = data?.teams.edges.map((e) => e.node) ?? [];
  const statusCounts = STATUSES.map((s) => [s, counts.data?.[s]?.totalCount] as const);
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const startBulk = async (action: 'CANCEL' | 'RERUN') => {
    setActionError(null);
    const { startBulkOperation } = await gql<{ startBulkOperation: { operation: BulkState } }>(BULK, {
      action,
      filter: { ids: [...selected], ...(teamId ? { teamId } : {}) },
      idempotencyKey: newIdempotencyKey(),
    });
    setBulk(startBulkOperation.operation);
  };

  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Runs</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        <fieldset className="statuses">
          <legend>Status</legend>
          {statusCounts.map(([s, n]) => (
            <label key={s} className="chip">
              <input type="checkbox" checked={draft.status.includes(s)} onChange={(e) => setFilter({ status: e.target.checked ? [...draft.status, s] : draft.status.filter((x) => x !== s) })} />
              {label(s)} <span className="count" data-testid={`count-${s}`}>{n ?? '…'}</span>
            </label>
          ))}
        </fieldset>
        <label>
          Agent
          <select value={draft.agentType} onChange={(e) => setFilter({ agentType: e.target.value })}>
            <option value="">Any</option>
            {data?.agentTypes.map((a) => (
              <option key={a.type} value={a.type}>
                {a.type}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input value={draft.tag} onChange={(e) => setFilter({ tag: e.target.value })} placeholder="e.g. nightly" maxLength={40} />
        </label>
        <label>
          Search
          <input type="search" value={draft.search} onChange={(e) => setFilter({ search: e.target.value })} placeholder="prompt or tag" maxLength={200} />
        </label>
        <label>
          Created from
          <input type="date" value={draft.createdAfter} onChange={(e) => setFilter({ createdAfter: e.target.value })} />
        </label>
        <label>
          Created to
          <input type="date" value={draft.createdBefore} onChange={(e) => setFilter({ createdBefore: e.target.value })} />
        </label>
        <OwnerPicker value={teamId} teams={teams} own="Personal" label="Personal or a team's tasks" onChange={(id) => (setTeamId(id), setCursors([]), setSelected(new Set()))} />
        <button type="button" onClick={() => setFilter(NO_FILTER)} disabled={JSON.stringify(draft) === JSON.stringify(NO_FILTER)}>
          Clear filters
        </button>
      </form>
      <div className="toolbar">
        <p className="counts" aria-live="polite" data-testid="total">
          {data ? `${data.tasks.totalCount} task${data.tasks.totalCount === 1 ? '' : 's'}` : '…'}
        </p>
        <span className={`live ${live ? 'on' : ''}`} data-live={live ? 'on' : 'off'}>
          {live ? 'Live' : 'Connecting…'}
        </span>
        {selected.size > 0 && (
          <div className="row selection" role="group" aria-label="Selected runs">
            <span>{selected.size} selected</span>
            <Action label={`Cancel selected (${selected.size})`} className="danger" onError={setActionError} run={() => startBulk('CANCEL')} disabled={bulk?.status === 'RUNNING'} />
            <Action label={`Rerun selected (${selected.size})`} onError={setActionError} run={() => startBulk('RERUN')} disabled={bulk?.status === 'RUNNING'} />
            <button type="button" onClick={() => setSelected(new Set())}>
              Clear selection
            </button>
          </div>
        )}
      </div>
      {bulk && <BulkProgress op={bulk} onUpdate={setBulk} onDone={() => (setSelected(new Set()), recount())} />}
      <ErrorNote error={error ?? counts.error ?? actionError} />
      <div className="table-wrap">
        <table className="runs">
          <thead>
            <tr>
              <th scope="col">
                <input type="checkbox" aria-label="Select every run on this page" checked={allSelected} onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.id)))} />
              </th>
              <th scope="col">Task</th>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
              <th scope="col">Tokens</th>
              <th scope="col">Cost</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-task={r.id} data-status={r.status} aria-selected={selected.has(r.id)}>
                <td>
                  <input type="checkbox" aria-label={`Select ${r.id}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                </td>
                <td className="prompt">
                  <Link to={`/dashboard/runs/${r.id}`}>{r.prompt.length > 80 ? `${r.prompt.slice(0, 80)}…` : r.prompt}</Link>
                  <Tags tags={r.tags} />
                  <div className="muted mono">
                    {r.id}
                    {r.rerunOfId && <> · rerun of {r.rerunOfId}</>}
                  </div>
                </td>
                <td>{r.agentType}</td>
                <td>
                  <Badge status={r.status} />
                  {r.status === 'RUNNING' && <progress max={100} value={r.progress} aria-label="Progress" />}
                  {r.status === 'QUEUED' && r.queuePosition != null && <div className="muted">#{r.queuePosition} in queue</div>}
                </td>
                <td>{new Date(r.createdAt).toLocaleString()}</td>
                <td>{duration(r.durationSeconds)}</td>
                <td>{r.tokensUsed.total}</td>
                <td>{usd(r.costUsd)}</td>
                <td>
                  {!FINAL.has(r.status) && (
                    <Action
                      label="Cancel"
                      className="danger"
                      onError={setActionError}
                      run={async () => {
                        const { cancelTask } = await gql<{ cancelTask: { task: TaskRow } }>(CANCEL, { id: r.id });
                        update(cancelTask.task);
                      }}
                    />
                  )}
                </td>
              </tr>
            ))}
            {data && rows.length === 0 && (
              <tr>
                <td colSpan={9} className="muted">
                  No tasks match. Submit one with the executeAgentTask mutation or POST /v1/agents/execute, or clear the filters.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager cursors={cursors} pageInfo={data?.tasks.pageInfo} onMove={(c) => (setCursors(c), setSelected(new Set()))} />
    </section>
  );
}
