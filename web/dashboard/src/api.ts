/**
 * The dashboard's only way to the gateway: the public GraphQL API over HTTP (POST /graphql) and
 * graphql-ws (subscriptions), with the signed-in credential (an access token or an API key) kept
 * in sessionStorage for this tab.
 */
import { createClient, type Client } from 'graphql-ws';

const KEY = 'dashboard.credential';

export const storedCredential = (): string | null => sessionStorage.getItem(KEY);
/** Whether the stored credential is a session's access token (signing out ends the session) or an API key. */
export const isSession = () => sessionStorage.getItem(`${KEY}.kind`) === 'session';
export function storeCredential(value: string | null, kind: 'session' | 'key' = 'key') {
  if (value) {
    sessionStorage.setItem(KEY, value);
    sessionStorage.setItem(`${KEY}.kind`, kind);
  } else {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(`${KEY}.kind`);
  }
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const endpoint = () => new URL('/graphql', window.location.href).toString();

/** Runs one query or mutation; throws ApiError with the first error's message and code. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the pages that pass no T read the result untyped (typing them is a separate change)
export async function gql<T = any>(query: string, variables?: Record<string, unknown>, credential = storedCredential()): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (credential) headers.authorization = `Bearer ${credential}`;
  const response = await fetch(endpoint(), { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await response.json().catch(() => null)) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> } | null;
  if (body?.errors?.length) throw new ApiError(body.errors[0].message, body.errors[0].extensions?.code);
  if (!body?.data) throw new ApiError(`The gateway answered ${response.status}`, undefined);
  return body.data;
}

let ws: { client: Client; credential: string | null } | null = null;
const connectedListeners = new Set<() => void>();
let connected = false;

/** Whether the live socket is open now. */
export const isConnected = () => connected;

/**
 * Calls `listener` each time the live socket (re)connects, so a page can load again what it may
 * have missed while the socket was closed. Returns a function that stops listening.
 */
export function onConnected(listener: () => void): () => void {
  connectedListeners.add(listener);
  return () => void connectedListeners.delete(listener);
}

/** The graphql-ws client for the current credential (one socket, reopened when the credential changes). */
function wsClient(): Client {
  const credential = storedCredential();
  if (ws && ws.credential === credential) return ws.client;
  void ws?.client.dispose(); // closing the old socket: nothing waits for it, and graphql-ws reports no error from it
  const client = createClient({
    url: endpoint().replace(/^http/, 'ws'),
    connectionParams: credential ? { authorization: `Bearer ${credential}` } : {},
    lazy: true,
    retryAttempts: 5,
    on: {
      // A replaced client's socket may still report: only the current one counts.
      connected: () => {
        if (ws?.client !== client) return;
        connected = true;
        connectedListeners.forEach((listener) => listener());
      },
      closed: () => {
        if (ws?.client === client) connected = false;
      },
    },
  });
  ws = { client, credential };
  return client;
}

/** Subscribes; `onNext` gets each event's data. Returns a function that unsubscribes. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as for gql: T defaults to an untyped result
export function subscribe<T = any>(query: string, variables: Record<string, unknown>, handlers: { next(data: T): void; error?(message: string): void; complete?(): void }): () => void {
  return wsClient().subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) handlers.error?.(result.errors[0].message);
        else if (result.data) handlers.next(result.data);
      },
      error: (err) => handlers.error?.(err instanceof Error ? err.message : Array.isArray(err) ? String((err[0] as { message?: unknown } | undefined)?.message) : 'The live connection closed'),
      complete: () => handlers.complete?.(),
    },
  );
}

/** A fresh Idempotency-Key for one action (getRandomValues works on plain http too, unlike randomUUID). */
export const newIdempotencyKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

export function closeLive() {
  void ws?.client.dispose(); // as in wsClient: nothing waits for the socket to close
  ws = null;
  connected = false;
}
