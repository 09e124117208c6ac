/** Visualizations: yours (or a team's), newest first, each linking to the viewer at /viz/{id}. */
import { useState } from 'react';
import { Badge, ErrorNote, OwnerPicker, Pager, useQuery, when } from './ui';

const PAGE = 20;

interface VizRow {
  id: string;
  repository: string;
  branch: string | null;
  status: string;
  error: string | null;
  createdAt: string;
  completedAt: string | null;
  stats: { totalCommits: number; totalFiles: number; totalContributors: number } | null;
}

const LIST = `query Visualizations($filter: VisualizationFilter, $after: String, $first: Int) {
  visualizations(filter: $filter, after: $after, first: $first) {
    totalCount
    edges { node { id repository branch status error createdAt completedAt stats { totalCommits totalFiles totalContributors } } }
    pageInfo { hasNextPage endCursor }
  }
  teams(first: 100) { edges { node { id name } } }
}`;

interface ListData {
  visualizations: { totalCount: number; edges: Array<{ node: VizRow }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  teams: { edges: Array<{ node: { id: string; name: string } }> };
}

export function VisualizationsPage() {
  const [teamId, setTeamId] = useState('');
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1] ?? null;
  const { data, error } = useQuery<ListData>(LIST, { filter: teamId ? { teamId } : null, after, first: PAGE });
  const rows = data?.visualizations.edges.map((e) => e.node) ?? [];
  const teams = data?.teams.edges.map((e) => e.node) ?? [];
  return (
    <section aria-labelledby="viz-title">
      <h1 id="viz-title">Visualizations</h1>
      <div className="toolbar">
        <OwnerPicker value={teamId} teams={teams} own="Yours" label="Your own or a team's visualizations" onChange={(id) => (setTeamId(id), setCursors([]))} />
        <p className="counts" data-testid="viz-total">
          {data ? `${data.visualizations.totalCount} visualization${data.visualizations.totalCount === 1 ? '' : 's'}` : '…'}
        </p>
      </div>
      <ErrorNote error={error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Status</th>
              <th scope="col">History</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((v) => (
              <tr key={v.id} data-visualization={v.id} data-status={v.status}>
                <td className="prompt">
                  {/* The viewer is its own page, not part of this app: an ordinary link. */}
                  <a href={`/viz/${encodeURIComponent(v.id)}`}>{v.repository}</a>
                  {v.branch && <span className="muted"> @ {v.branch}</span>}
                  <div className="muted mono">{v.id}</div>
                </td>
                <td>
                  <Badge status={v.status} />
                  {v.error && <div className="error">{v.error}</div>}
                </td>
                <td>{v.stats ? `${v.stats.totalCommits} commits · ${v.stats.totalFiles} files · ${v.stats.totalContributors} contributors` : '—'}</td>
                <td>{when(v.createdAt)}</td>
              </tr>
            ))}
            {data && rows.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No visualizations yet. Start one with the startVisualization mutation or POST /v1/visualize.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <Pager cursors={cursors} pageInfo={data?.visualizations.pageInfo} onMove={setCursors} />
    </section>
  );
}
