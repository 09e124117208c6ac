/** The dashboard: sign-in, the navigation and the pages, routed under /dashboard/. */
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { closeLive, gql, isSession, storeCredential, storedCredential } from './api';
import { KeysPage } from './keys';
import { navigate, usePath } from './router';
import { OrchestrationDetail, TaskDetail } from './run-detail';
import { RunsPage } from './runs';
import './style.css';
import { ErrorNote, Link } from './ui';
import { UsagePage } from './usage';
import { VisualizationsPage } from './visualizations';
import { WebhooksPage } from './webhooks';

const PAGES = [
  { path: '/dashboard/runs', label: 'Runs' },
  { path: '/dashboard/usage', label: 'Usage and plan' },
  { path: '/dashboard/keys', label: 'Keys and access' },
  { path: '/dashboard/webhooks', label: 'Webhooks' },
  { path: '/dashboard/visualizations', label: 'Visualizations' },
];

function SignIn({ onSignedIn }: { onSignedIn(name: string): void }) {
  const [mode, setMode] = useState<'password' | 'key'>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const credential = mode === 'key' ? key.trim() : (await gql(`mutation Login($input: LoginInput!) { login(input: $input) { accessToken } }`, { input: { email, password } }, null)).login.accessToken;
      const { viewer } = await gql(`query Me { viewer { name } }`, {}, credential);
      storeCredential(credential, mode === 'key' ? 'key' : 'session');
      onSignedIn(viewer.name);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <h1>Sign in</h1>
      <div className="tabs" role="group" aria-label="How to sign in">
        <button type="button" aria-pressed={mode === 'password'} onClick={() => setMode('password')}>E-mail and password</button>
        <button type="button" aria-pressed={mode === 'key'} onClick={() => setMode('key')}>API key</button>
      </div>
      <form onSubmit={submit}>
        {mode === 'password' ? (
          <>
            <label>E-mail <input type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required /></label>
            <label>Password <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required /></label>
          </>
        ) : (
          <label>API key <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} required placeholder="sk_…" /></label>
        )}
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
      <ErrorNote error={error} />
      <p className="muted">The credential stays in this tab only (sessionStorage). <a href="/graphql">GraphQL explorer</a></p>
    </main>
  );
}

function Page({ path }: { path: string }) {
  const task = /^\/dashboard\/runs\/([^/]+)$/.exec(path);
  if (task) return <TaskDetail id={decodeURIComponent(task[1])} />;
  const orch = /^\/dashboard\/orchestrations\/([^/]+)$/.exec(path);
  if (orch) return <OrchestrationDetail id={decodeURIComponent(orch[1])} />;
  switch (path) {
    case '/dashboard/runs':
      return <RunsPage />;
    case '/dashboard/usage':
      return <UsagePage />;
    case '/dashboard/keys':
      return <KeysPage />;
    case '/dashboard/webhooks':
      return <WebhooksPage />;
    case '/dashboard/visualizations':
      return <VisualizationsPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>No page at {path}. <Link to="/dashboard/runs">Go to Runs</Link></p>
        </section>
      );
  }
}

function App() {
  const path = usePath();
  const [user, setUser] = useState<string | null>(null);
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    if (path === '/' || path === '/dashboard' || path === '/dashboard/') navigate('/dashboard/runs', true);
  }, [path]);
  useEffect(() => {
    if (!storedCredential()) return setChecked(true);
    gql(`query Me { viewer { name } }`)
      .then((d) => setUser(d.viewer.name))
      .catch(() => storeCredential(null))
      .finally(() => setChecked(true));
  }, []);
  useEffect(() => {
    const title = PAGES.find((p) => path.startsWith(p.path))?.label;
    document.title = title ? `${title} · Dashboard` : 'Dashboard';
  }, [path]);
  if (!checked) return null;
  if (!user) return <SignIn onSignedIn={setUser} />;
  const signOut = async () => {
    if (isSession()) await gql(`mutation Logout { logout { success } }`).catch(() => {});
    closeLive();
    storeCredential(null);
    setUser(null);
  };
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <nav aria-label="Dashboard">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={p.path} aria-current={path.startsWith(p.path) ? 'page' : undefined} onClick={(e) => (e.preventDefault(), navigate(p.path))}>
                  {p.label}
                </a>
              </li>
            ))}
            <li><a href="/graphql">GraphQL explorer</a></li>
          </ul>
        </nav>
        <div className="who">
          <span>{user}</span> <button type="button" onClick={signOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
