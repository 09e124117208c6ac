/** Webhooks: endpoints, each delivery with its attempts, redeliver, rotate the secret, send a test event. */
import { useState } from 'react';
import { gql } from './api';
import { Action, ErrorNote, useQuery, when } from './ui';

const DELIVERY = `id eventType status attemptCount createdAt completedAt nextAttemptAt redeliveryOf error { code message }
  attempts { number startedAt statusCode latencyMs responseBody error succeeded }`;
const WEBHOOKS = `query Hooks {
  webhooks(first: 50) { edges { node { id projectId url description eventTypes enabled disabledReason previousSecretExpiresAt createdAt
    deliveries(first: 20) { edges { node { ${DELIVERY} } } } } } }
}`;

function Delivery({ d, onRedeliver, onError }: { d: any; onRedeliver(): Promise<unknown>; onError(m: string): void }) {
  return (
    <li className="delivery" data-delivery={d.id} data-status={d.status}>
      <div className="row">
        <span className={`badge badge-${d.status}`}>{d.status}</span> <strong>{d.eventType}</strong> <span className="muted">{when(d.createdAt)} · {d.attemptCount} attempt(s){d.redeliveryOf ? ` · redelivery of ${d.redeliveryOf}` : ''}</span>
        <Action label="Redeliver" run={onRedeliver} onError={onError} />
      </div>
      {d.error && <p className="error">{d.error.code}: {d.error.message}</p>}
      <ol className="attempts">
        {d.attempts.map((a: any) => (
          <li key={a.number}>
            #{a.number} {when(a.startedAt)} — {a.statusCode != null ? `HTTP ${a.statusCode}` : 'no response'} in {a.latencyMs} ms {a.succeeded ? '✓' : '✗'}
            {a.error && <span className="error"> {a.error}</span>}
            {a.responseBody && <pre className="code small">{a.responseBody}</pre>}
          </li>
        ))}
      </ol>
    </li>
  );
}

export function WebhooksPage() {
  const { data, error, reload } = useQuery<any>(WEBHOOKS);
  const [actionError, setActionError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const hooks = data?.webhooks.edges.map((e: any) => e.node) ?? [];
  return (
    <section aria-labelledby="hooks-title">
      <h1 id="hooks-title">Webhooks</h1>
      <p className="muted">Endpoints of your projects. Create them with the createWebhook mutation or POST /v1/webhooks. <button type="button" onClick={reload}>Refresh</button></p>
      <ErrorNote error={error ?? actionError} />
      {secret && (
        <div className="secret" role="status">
          <p>New signing secret — copy it now, it is not shown again:</p>
          <code data-testid="secret">{secret}</code>
          <button type="button" onClick={() => setSecret(null)}>I have copied it</button>
        </div>
      )}
      {data && hooks.length === 0 && <p className="muted">No webhooks yet.</p>}
      {hooks.map((h: any) => (
        <article key={h.id} className="card webhook" data-webhook={h.id}>
          <h2 className="mono">{h.url}</h2>
          <p>{h.enabled ? 'Enabled' : `Disabled${h.disabledReason ? `: ${h.disabledReason}` : ''}`} · project <span className="mono">{h.projectId}</span> · {h.eventTypes.join(', ')}</p>
          {h.previousSecretExpiresAt && <p className="muted">The previous secret also signs until {when(h.previousSecretExpiresAt)}</p>}
          <div className="row">
            <Action label="Send test event" onError={setActionError} run={async () => (await gql(`mutation T($id: ID!) { testWebhook(id: $id) { delivery { id } } }`, { id: h.id }), reload())} />
            <Action label="Rotate secret" onError={setActionError} run={async () => (setSecret((await gql(`mutation S($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: h.id })).rotateWebhookSecret.secret), reload())} />
          </div>
          <h3>Deliveries</h3>
          <ul className="deliveries">
            {h.deliveries.edges.map(({ node: d }: any) => (
              <Delivery key={d.id} d={d} onError={setActionError} onRedeliver={async () => (await gql(`mutation D($id: ID!) { redeliverWebhookDelivery(id: $id) { delivery { id } } }`, { id: d.id }), reload())} />
            ))}
            {h.deliveries.edges.length === 0 && <li className="muted">No deliveries yet.</li>}
          </ul>
        </article>
      ))}
    </section>
  );
}
