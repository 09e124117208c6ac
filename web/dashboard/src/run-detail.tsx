/**
 * One run: a task with its event timeline as the events arrive over taskEvents, its findings by
 * file, the files it wrote, tokens and cost; or an orchestration with its agents side by side, live
 * over orchestrationEvents.
 */
import { useEffect, useState } from 'react';
import { gql, newIdempotencyKey, subscribe } from './api';
import { navigate } from './router';
import { CANCEL, TASK_EVENTS, TASK_FIELDS } from './runs';
import { Action, Badge, duration, ErrorNote, FINAL, Link, Tags, usd, when } from './ui';

const RERUN_TASK = `mutation RerunTask($id: ID!, $idempotencyKey: String) { rerunTask(id: $id, idempotencyKey: $idempotencyKey) { task { id } } }`;
const RERUN_ORCHESTRATION = `mutation RerunOrchestration($id: ID!, $idempotencyKey: String) { rerunOrchestration(id: $id, idempotencyKey: $idempotencyKey) { orchestration { id } } }`;

/** Starts the run again with the same input and opens the new one (the original is unchanged). */
function RerunButton({ mutation, id, path, onError }: { mutation: 'rerunTask' | 'rerunOrchestration'; id: string; path: string; onError(m: string): void }) {
  return (
    <Action
      label="Rerun"
      onError={onError}
      run={async () => {
        const data = await gql(mutation === 'rerunTask' ? RERUN_TASK : RERUN_ORCHESTRATION, { id, idempotencyKey: newIdempotencyKey() });
        navigate(`${path}/${mutation === 'rerunTask' ? data.rerunTask.task.id : data.rerunOrchestration.orchestration.id}`);
      }}
    />
  );
}

const TASK = `query Task($id: ID!) { task(id: $id) { ${TASK_FIELDS} timeoutSeconds metadata
  tokensUsed { prompt completion total }
  error { code message }
  result { summary findings { ruleId severity title description file line suggestion } files { path content tests } } } }`;

interface TaskEvent {
  seq: number;
  type: string;
  status: string;
  progress: number;
  message: string;
  timestamp: string;
  error: { code: string; message: string } | null;
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];

export function TaskDetail({ id }: { id: string }) {
  const [task, setTask] = useState<any>(null);
  const [events, setEvents] = useState<TaskEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = () => gql(TASK, { id }).then((d) => setTask(d.task), (e: Error) => setError(e.message));

  useEffect(() => {
    setTask(null);
    setEvents([]);
    load();
    const stop = subscribe<{ taskEvents: TaskEvent }>(TASK_EVENTS, { taskId: id, since: 0 }, {
      next: ({ taskEvents: e }) => {
        setEvents((all) => (all.some((x) => x.seq === e.seq) ? all : [...all, e]));
        setTask((t: any) => t && { ...t, status: e.status, progress: e.progress });
        if (e.type !== 'PROGRESS') load();
      },
      error: setError,
    });
    return stop;
  }, [id]);

  if (!task) return <section><ErrorNote error={error} />{!error && <p>Loading…</p>}</section>;
  const findings: any[] = task.result?.findings ?? [];
  const byFile = new Map<string, any[]>();
  for (const f of findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
  return (
    <section aria-labelledby="task-title">
      <p><Link to="/dashboard/runs">← Runs</Link></p>
      <h1 id="task-title">Task <span className="mono">{task.id}</span></h1>
      <div className="cards">
        <div className="card"><h2>Status</h2><p data-testid="task-status"><Badge status={task.status} /></p>
          {task.status === 'RUNNING' && <progress max={100} value={task.progress} aria-label="Progress" />}
          {task.queueReason && <p className="muted">{task.queueReason}</p>}
          <div className="row">
            {!FINAL.has(task.status) && <Action label="Cancel task" className="danger" onError={setError} run={async () => setTask((await gql(CANCEL, { id })).cancelTask.task && (await gql(TASK, { id })).task)} />}
            <RerunButton mutation="rerunTask" id={id} path="/dashboard/runs" onError={setError} />
          </div>
          {task.rerunOfId && <p className="muted">Rerun of <Link to={`/dashboard/runs/${task.rerunOfId}`}>{task.rerunOfId}</Link></p>}
        </div>
        <div className="card"><h2>Agent</h2><p>{task.agentType}</p><p className="muted">{task.teamId ? `Team ${task.teamId}` : 'Personal'}</p></div>
        <div className="card"><h2>Time</h2><p>Created {when(task.createdAt)}</p><p>Duration {duration(task.durationSeconds)}</p><p className="muted">Limit {task.timeoutSeconds} s</p></div>
        <div className="card"><h2>Tokens and cost</h2><p>{task.tokensUsed.prompt} prompt + {task.tokensUsed.completion} completion = {task.tokensUsed.total}</p><p data-testid="task-cost">{usd(task.costUsd)}</p></div>
      </div>
      <ErrorNote error={error} />
      <Tags tags={task.tags} />
      {Object.keys(task.metadata ?? {}).length > 0 && (
        <>
          <h2>Metadata</h2>
          <pre className="code small" data-testid="metadata">{JSON.stringify(task.metadata, null, 2)}</pre>
        </>
      )}
      <h2>Prompt</h2>
      <pre className="prompt-text">{task.prompt}</pre>
      {task.error && <p className="error">{task.error.code}: {task.error.message}</p>}
      {task.result?.summary && (<><h2>Summary</h2><p>{task.result.summary}</p></>)}
      <h2>Timeline</h2>
      <ol className="timeline" aria-live="polite" data-testid="timeline">
        {events.map((e) => (
          <li key={e.seq}>
            <time dateTime={e.timestamp}>{new Date(e.timestamp).toLocaleTimeString()}</time> <Badge status={e.status} /> {e.progress}% {e.message}
          </li>
        ))}
        {events.length === 0 && <li className="muted">Waiting for events…</li>}
      </ol>
      {findings.length > 0 && (
        <>
          <h2>Findings ({findings.length})</h2>
          {[...byFile].map(([file, list]) => (
            <details key={file} open>
              <summary className="mono">{file} ({list.length})</summary>
              <ul className="findings">
                {list
                  .sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || a.line - b.line)
                  .map((f, i) => (
                    <li key={i}>
                      <span className={`sev sev-${f.severity}`}>{f.severity}</span> line {f.line}: <strong>{f.title}</strong> — {f.description}
                      {f.suggestion && <div className="muted">Suggestion: {f.suggestion}</div>}
                    </li>
                  ))}
              </ul>
            </details>
          ))}
        </>
      )}
      {task.result?.files?.length > 0 && (
        <>
          <h2>Files written ({task.result.files.length})</h2>
          {task.result.files.map((f: any) => (
            <details key={f.path}>
              <summary className="mono">{f.path} {f.tests ? `(${f.tests} tests)` : ''}</summary>
              <pre className="code">{f.content}</pre>
            </details>
          ))}
        </>
      )}
    </section>
  );
}

const ORCHESTRATION = `query Orch($id: ID!) { orchestration(id: $id) { id goal strategy failurePolicy status createdAt completedAt totalDurationSeconds totalTokensUsed tags rerunOfId
  agents { ${TASK_FIELDS} } } }`;
const ORCH_EVENTS = `subscription OrchEvents($id: ID!) { orchestrationEvents(id: $id) { seq type taskId agentType status progress message timestamp } }`;

export function OrchestrationDetail({ id }: { id: string }) {
  const [orch, setOrch] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => gql(ORCHESTRATION, { id }).then((d) => setOrch(d.orchestration), (e: Error) => setError(e.message));
  useEffect(() => {
    load();
    return subscribe<{ orchestrationEvents: any }>(ORCH_EVENTS, { id }, {
      next: ({ orchestrationEvents: e }) => {
        setOrch((o: any) => o && { ...o, agents: o.agents.map((a: any) => (a.id === e.taskId ? { ...a, status: e.status.toUpperCase(), progress: e.progress } : a)) });
        if (e.type !== 'progress' && e.type !== 'PROGRESS') load();
      },
      error: setError,
    });
  }, [id]);
  if (!orch) return <section><ErrorNote error={error} />{!error && <p>Loading…</p>}</section>;
  return (
    <section aria-labelledby="orch-title">
      <p><Link to="/dashboard/runs">← Runs</Link></p>
      <h1 id="orch-title">Orchestration <span className="mono">{orch.id}</span></h1>
      <p><Badge status={orch.status} /> {orch.strategy}, on failure: {orch.failurePolicy} · {orch.totalTokensUsed} tokens · {duration(orch.totalDurationSeconds)}</p>
      <Tags tags={orch.tags} />
      {orch.rerunOfId && <p className="muted">Rerun of <Link to={`/dashboard/orchestrations/${orch.rerunOfId}`}>{orch.rerunOfId}</Link></p>}
      <RerunButton mutation="rerunOrchestration" id={id} path="/dashboard/orchestrations" onError={setError} />
      <pre className="prompt-text">{orch.goal}</pre>
      <ErrorNote error={error} />
      <div className="agents">
        {orch.agents.map((a: any) => (
          <div className="card" key={a.id}>
            <h2>{a.agentType}</h2>
            <p><Badge status={a.status} /></p>
            {a.status === 'RUNNING' && <progress max={100} value={a.progress} aria-label={`${a.agentType} progress`} />}
            <p className="muted">{duration(a.durationSeconds)} · {usd(a.costUsd)}</p>
            <Link to={`/dashboard/runs/${a.id}`}>Open task</Link>
          </div>
        ))}
      </div>
    </section>
  );
}
