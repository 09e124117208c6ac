/**
 * Runs: your tasks (or a team's), newest first, filtered by status. New tasks appear by polling the
 * first page (the API has no list-level subscription yet); each visible task that is not final
 * follows its own taskEvents subscription, so status and progress change live.
 */
import { useEffect, useMemo, useState } from 'react';
import { gql, subscribe } from './api';
import { Action, Badge, duration, ErrorNote, FINAL, Link, usd, useQuery } from './ui';

export const TASK_FIELDS = `id agentType teamId prompt status progress queuePosition queueReason createdAt startedAt completedAt durationSeconds costUsd tokensUsed { total }`;
const STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];
const PAGE = 25;
const POLL_MS = 3000;

export interface TaskRow {
  id: string;
  agentType: string;
  teamId: string | null;
  prompt: string;
  status: string;
  progress: number;
  queuePosition: number | null;
  queueReason: string | null;
  createdAt: string;
  completedAt: string | null;
  durationSeconds: number | null;
  costUsd: number;
  tokensUsed: { total: number };
}

const LIST = `query Runs($status: TaskStatus, $teamId: ID, $after: String, $first: Int) {
  tasks(status: $status, teamId: $teamId, after: $after, first: $first) {
    edges { node { ${TASK_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
  teams(first: 100) { edges { node { id name } } }
}`;

export const CANCEL = `mutation Cancel($id: ID!) { cancelTask(id: $id) { task { ${TASK_FIELDS} } } }`;
export const TASK_EVENTS = `subscription Events($taskId: ID!, $since: Int) { taskEvents(taskId: $taskId, since: $since) { seq type status progress message queuePosition timestamp error { code message } } }`;

/** Keeps each row of `rows` that is not final live over its own subscription. */
function useLiveRows(rows: TaskRow[], update: (id: string, patch: Partial<TaskRow>) => void, refresh: (id: string) => void) {
  const open = useMemo(() => rows.filter((r) => !FINAL.has(r.status)).map((r) => r.id), [rows]);
  const key = open.join(',');
  useEffect(() => {
    const stops = open.map((taskId) =>
      subscribe<{ taskEvents: { status: string; progress: number; queuePosition: number | null; type: string } }>(TASK_EVENTS, { taskId, since: 0 }, {
        next: ({ taskEvents: e }) => {
          update(taskId, { status: e.status, progress: e.progress, queuePosition: e.queuePosition });
          if (e.type !== 'PROGRESS') refresh(taskId);
        },
      }),
    );
    return () => stops.forEach((stop) => stop());
  }, [key]);
}

export function RunsPage() {
  const [status, setStatus] = useState('');
  const [teamId, setTeamId] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1] ?? null;
  const variables = { status: status || null, teamId: teamId || null, after, first: PAGE };
  const { data, error, reload, setData } = useQuery<any>(LIST, variables);
  const [actionError, setActionError] = useState<string | null>(null);
  const rows: TaskRow[] = data?.tasks.edges.map((e: any) => e.node) ?? [];

  // New tasks show up on the first page: poll it (there is no list-level subscription yet).
  useEffect(() => {
    if (after) return;
    const timer = setInterval(reload, POLL_MS);
    return () => clearInterval(timer);
  }, [after, reload]);

  const update = (id: string, patch: Partial<TaskRow>) =>
    setData((d: any) => d && { ...d, tasks: { ...d.tasks, edges: d.tasks.edges.map((e: any) => (e.node.id === id ? { node: { ...e.node, ...patch } } : e)) } });
  const refresh = (id: string) => gql<{ task: TaskRow }>(`query One($id: ID!) { task(id: $id) { ${TASK_FIELDS} } }`, { id }).then(({ task }) => update(id, task)).catch(() => {});
  useLiveRows(rows, update, refresh);

  const counts = STATUSES.map((s) => [s, rows.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
  const teams: Array<{ id: string; name: string }> = data?.teams.edges.map((e: any) => e.node) ?? [];

  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Runs</h1>
      <div className="toolbar">
        <label>
          Status{' '}
          <select value={status} onChange={(e) => (setStatus(e.target.value), setCursors([]))} aria-label="Filter by status">
            <option value="">All</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', ' ').toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        <label>
          Owner{' '}
          <select value={teamId} onChange={(e) => (setTeamId(e.target.value), setCursors([]))} aria-label="Personal or a team's tasks">
            <option value="">Personal</option>
            {teams.map((t) => (
              <option key={t.id} value={t.id}>
                Team {t.name}
              </option>
            ))}
          </select>
        </label>
        <p className="counts" aria-live="polite" data-testid="counts">
          {rows.length} on this page{counts.map(([s, n]) => ` · ${n} ${s.replace('_', ' ').toLowerCase()}`).join('')}
        </p>
      </div>
      <ErrorNote error={error ?? actionError} />
      <div className="table-wrap">
        <table className="runs">
          <thead>
            <tr>
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
              <tr key={r.id} data-task={r.id} data-status={r.status}>
                <td className="prompt">
                  <Link to={`/dashboard/runs/${r.id}`}>{r.prompt.length > 80 ? `${r.prompt.slice(0, 80)}…` : r.prompt}</Link>
                  <div className="muted mono">{r.id}</div>
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
                        const { cancelTask } = await gql(CANCEL, { id: r.id });
                        update(r.id, cancelTask.task);
                      }}
                    />
                  )}
                </td>
              </tr>
            ))}
            {data && rows.length === 0 && (
              <tr>
                <td colSpan={8} className="muted">
                  No tasks{status ? ` with status ${status.toLowerCase()}` : ''} yet. Submit one with the executeAgentTask mutation or POST /v1/agents/execute.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="pager">
        <button type="button" disabled={!cursors.length} onClick={() => setCursors((c) => c.slice(0, -1))}>
          Newer
        </button>
        <button type="button" disabled={!data?.tasks.pageInfo.hasNextPage} onClick={() => setCursors((c) => [...c, data.tasks.pageInfo.endCursor])}>
          Older
        </button>
      </div>
    </section>
  );
}
