/** Keys and access: API keys (the secret shown once), teams and members, OAuth clients. */
import { useState } from 'react';
import { gql } from './api';
import { Action, ErrorNote, useQuery, when } from './ui';

const KEYS = `query Access {
  apiKeys(first: 100) { edges { node { id name kind prefix createdAt lastUsedAt revokedAt } } }
  oauthClients(first: 100) { edges { node { id name clientId teamId scopes createdAt lastUsedAt revokedAt } } }
  teams(first: 100) { edges { node { id name viewerRole members { userId role joinedAt user { name email } } } } }
}`;

const nodes = (c: any) => c?.edges.map((e: any) => e.node) ?? [];

function Secret({ label, value, onDone }: { label: string; value: string; onDone(): void }) {
  return (
    <div className="secret" role="status">
      <p>{label} — copy it now, it is not shown again:</p>
      <code data-testid="secret">{value}</code>
      <button type="button" onClick={onDone}>I have copied it</button>
    </div>
  );
}

/** A one-field form that creates something by name and shows its secret once. */
function CreateByName({ button, create, onSecret, onError }: { button: string; create(name: string): Promise<{ label: string; value: string }>; onSecret(s: { label: string; value: string }): void; onError(m: string | null): void }) {
  const [name, setName] = useState('');
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    onError(null);
    try {
      onSecret(await create(name));
      setName('');
    } catch (err) {
      onError((err as Error).message);
    }
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <label>Name <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} /></label>
      <button type="submit">{button}</button>
    </form>
  );
}

const Revoke = ({ revokedAt, mutation, id, done, onError }: { revokedAt: string | null; mutation: string; id: string; done(): void; onError(m: string): void }) =>
  revokedAt ? <span className="muted">revoked</span> : <Action label="Revoke" className="danger" onError={onError} run={async () => (await gql(mutation, { id }), done())} />;

export function KeysPage() {
  const { data, error, reload } = useQuery<any>(KEYS);
  const [actionError, setActionError] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ label: string; value: string } | null>(null);
  const shown = (s: { label: string; value: string }) => (setSecret(s), reload());
  const createKey = async (name: string) => {
    const { createApiKey } = await gql(`mutation Create($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } secret } }`, { input: { name } });
    return { label: `Key "${name}"`, value: createApiKey.secret };
  };
  const createClient = async (name: string) => {
    const { createOAuthClient } = await gql(`mutation Client($input: CreateOAuthClientInput!) { createOAuthClient(input: $input) { client { clientId } clientSecret } }`, { input: { name } });
    return { label: `Client ${createOAuthClient.client.clientId} secret`, value: createOAuthClient.clientSecret };
  };

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">Keys and access</h1>
      <ErrorNote error={error ?? actionError} />
      {secret && <Secret label={secret.label} value={secret.value} onDone={() => setSecret(null)} />}
      <h2>API keys</h2>
      <CreateByName button="Create key" create={createKey} onSecret={shown} onError={setActionError} />
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Kind</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {nodes(data?.apiKeys).map((k: any) => (
              <tr key={k.id} data-key={k.name}>
                <td>{k.name}</td><td className="mono">{k.prefix}…</td><td>{k.kind.toLowerCase()}</td><td>{when(k.createdAt)}</td><td>{when(k.lastUsedAt)}</td>
                <td><Revoke revokedAt={k.revokedAt} id={k.id} mutation={`mutation R($id: ID!) { revokeApiKey(id: $id) { apiKey { id } } }`} done={reload} onError={setActionError} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Teams</h2>
      {nodes(data?.teams).length === 0 && <p className="muted">You are in no team.</p>}
      {nodes(data?.teams).map((t: any) => (
        <details key={t.id} open>
          <summary>{t.name} <span className="muted">(you: {t.viewerRole.toLowerCase()})</span></summary>
          <ul>
            {t.members.map((m: any) => (
              <li key={m.userId}>{m.user.name} {m.user.email && <span className="muted">{m.user.email}</span>} — {m.role.toLowerCase()}, joined {when(m.joinedAt)}</li>
            ))}
          </ul>
        </details>
      ))}
      <h2>OAuth clients</h2>
      <CreateByName button="Create client" create={createClient} onSecret={shown} onError={setActionError} />
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Client id</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {nodes(data?.oauthClients).map((c: any) => (
              <tr key={c.id}>
                <td>{c.name}</td><td className="mono">{c.clientId}</td><td>{c.scopes.join(', ')}</td><td>{when(c.lastUsedAt)}</td>
                <td><Revoke revokedAt={c.revokedAt} id={c.id} mutation={`mutation R($id: ID!) { revokeOAuthClient(id: $id) { client { id } } }`} done={reload} onError={setActionError} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
