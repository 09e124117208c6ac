/** Usage and plan: requests and credits by day (uPlot), by endpoint, the rate limit window, the plan. */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ErrorNote, useQuery, when } from './ui';

const USAGE = `query Usage {
  usage { periodStart periodEnd tier requestsUsed creditsUsed creditsLimit quotaStatus promptTokens completionTokens storageUsedBytes storageLimitBytes parallelAgentsLimit
    byDay { date requests credits } byEndpoint { endpoint requests credits } }
  rateLimit { limit remaining used resetAt tier }
  subscription { tier status billingCycle amount currency currentPeriodStart currentPeriodEnd cancelAtPeriodEnd pendingTier }
}`;

function DailyChart({ days }: { days: Array<{ date: string; requests: number; credits: number }> }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || days.length === 0) return;
    const xs = days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 240,
        title: 'Requests and credits by day',
        scales: { x: { time: true } },
        series: [{}, { label: 'Requests', stroke: '#2563eb', width: 2, points: { show: true } }, { label: 'Credits', stroke: '#d97706', width: 2, points: { show: true } }],
        axes: [{}, { label: 'count' }],
      },
      [xs, days.map((d) => d.requests), days.map((d) => d.credits)],
      el,
    );
    const resize = () => plot.setSize({ width: width(), height: 240 });
    window.addEventListener('resize', resize);
    return () => (window.removeEventListener('resize', resize), plot.destroy());
  }, [days]);
  return <div ref={box} className="chart" role="img" aria-label="Chart of requests and credits by day" />;
}

const pct = (used: number, limit: number) => (limit > 0 ? Math.min(100, Math.round((used / limit) * 100)) : 0);
const bytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

export function UsagePage() {
  const { data, error } = useQuery<any>(USAGE);
  if (!data) return <section><h1>Usage and plan</h1><ErrorNote error={error} />{!error && <p>Loading…</p>}</section>;
  const { usage: u, rateLimit: r, subscription: s } = data;
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage and plan</h1>
      <div className="cards">
        <div className="card">
          <h2>Plan</h2>
          <p><strong>{s.tier}</strong> · {s.status}{s.billingCycle ? ` · ${s.billingCycle.toLowerCase()}` : ''}</p>
          <p>{s.amount.toFixed(2)} {s.currency.toUpperCase()}</p>
          <p className="muted">Period {when(s.currentPeriodStart)} – {when(s.currentPeriodEnd)}</p>
          {s.cancelAtPeriodEnd && <p className="muted">Ends at the period end</p>}
          {s.pendingTier && <p className="muted">Moves to {s.pendingTier} at the period end</p>}
        </div>
        <div className="card">
          <h2>Monthly credits</h2>
          <p data-testid="credits">{u.creditsUsed} of {u.creditsLimit} used · {Math.max(0, u.creditsLimit - u.creditsUsed)} left</p>
          <progress max={100} value={pct(u.creditsUsed, u.creditsLimit)} aria-label="Credits used" />
          <p className="muted">{u.requestsUsed} requests · quota {u.quotaStatus}</p>
        </div>
        {r && (
          <div className="card">
            <h2>Rate limit</h2>
            <p>{r.remaining} of {r.limit} left in this window</p>
            <progress max={100} value={pct(r.used, r.limit)} aria-label="Rate limit used" />
            <p className="muted">Resets {when(r.resetAt)}</p>
          </div>
        )}
        <div className="card">
          <h2>Other limits</h2>
          <p>Parallel agents: {u.parallelAgentsLimit}</p>
          <p>Storage: {bytes(u.storageUsedBytes)} of {bytes(u.storageLimitBytes)}</p>
          <p>Tokens: {u.promptTokens} prompt, {u.completionTokens} completion</p>
        </div>
      </div>
      <h2>By day</h2>
      {u.byDay.length ? <DailyChart days={u.byDay} /> : <p className="muted">No requests this period yet.</p>}
      <h2>By endpoint</h2>
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Endpoint</th><th scope="col">Requests</th><th scope="col">Credits</th></tr></thead>
          <tbody>
            {u.byEndpoint.map((e: any) => (
              <tr key={e.endpoint}><td className="mono">{e.endpoint}</td><td>{e.requests}</td><td>{e.credits}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
