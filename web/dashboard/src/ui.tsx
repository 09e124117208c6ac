/** Shared bits of the pages: links, status badges, formatting, errors, live data hooks. */
import { useCallback, useEffect, useState } from 'react';
import { gql } from './api';
import { onLinkClick } from './router';

export const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export function Link(props: { to: string; children: React.ReactNode; className?: string }) {
  return (
    <a href={props.to} onClick={onLinkClick} className={props.className}>
      {props.children}
    </a>
  );
}

export const Badge = ({ status }: { status: string }) => <span className={`badge badge-${status.toLowerCase()}`}>{status.replace('_', ' ').toLowerCase()}</span>;

export const usd = (n: number) => `$${n.toFixed(n < 1 ? 4 : 2)}`;
export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');
export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const ErrorNote = ({ error }: { error: string | null }) => (error ? <p className="error" role="alert">{error}</p> : null);

/** Runs a query, again when `deps` change or on `reload()`. */
export function useQuery<T>(query: string, variables: Record<string, unknown> = {}, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const key = JSON.stringify(variables);
  useEffect(() => {
    let live = true;
    gql<T>(query, variables)
      .then((d) => live && (setData(d), setError(null)))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [query, key, tick, ...deps]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload, setData };
}

/** A button that runs an action, shows it is busy, and reports its error. */
export function Action(props: { label: string; run: () => Promise<unknown>; className?: string; disabled?: boolean; onError?: (m: string) => void }) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      className={props.className}
      disabled={busy || props.disabled}
      onClick={async () => {
        setBusy(true);
        try {
          await props.run();
        } catch (e) {
          props.onError?.((e as Error).message);
        } finally {
          setBusy(false);
        }
      }}
    >
      {props.label}
    </button>
  );
}

/** A task's tags as small labels. */
export const Tags = ({ tags }: { tags: string[] }) =>
  tags.length ? (
    <ul className="tags" aria-label="Tags">
      {tags.map((t) => (
        <li key={t} className="tag">
          {t}
        </li>
      ))}
    </ul>
  ) : null;

/** Chooses whose list a page shows: the caller's own (value "") or one of their teams'. */
export function OwnerPicker(props: { value: string; teams: Array<{ id: string; name: string }>; own: string; label: string; onChange(teamId: string): void }) {
  return (
    <label>
      Owner
      <select value={props.value} onChange={(e) => props.onChange(e.target.value)} aria-label={props.label}>
        <option value="">{props.own}</option>
        {props.teams.map((t) => (
          <option key={t.id} value={t.id}>
            Team {t.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Newer/Older buttons over a cursor connection; `onMove` gets the new stack of `after` cursors. */
export function Pager({ cursors, pageInfo, onMove }: { cursors: string[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } | undefined; onMove(cursors: string[]): void }) {
  return (
    <div className="pager">
      <button type="button" disabled={!cursors.length} onClick={() => onMove(cursors.slice(0, -1))}>
        Newer
      </button>
      <button type="button" disabled={!pageInfo?.hasNextPage} onClick={() => onMove([...cursors, pageInfo!.endCursor!])}>
        Older
      </button>
    </div>
  );
}
