/** HTTP, GraphQL and WebSocket clients for tests, speaking to the real server. */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A REST client authenticated with `apiKey` (or none). */
export function restClient(baseUrl: string, apiKey?: string) {
  async function request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the body stays the text
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
  return {
    request,
    get: <T = any>(path: string, headers?: Record<string, string>) => request<T>('GET', path, undefined, headers),
    post: <T = any>(path: string, body: unknown, headers?: Record<string, string>) => request<T>('POST', path, body, headers),
    delete: <T = any>(path: string) => request<T>('DELETE', path),
  };
}

/** Runs a GraphQL operation over HTTP. */
export async function graphql<T = any>(baseUrl: string, apiKey: string | null, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions: Record<string, any> }> } };
}

/** Collects messages from a WebSocket until it closes or `stopAfter` says stop (then closes it). */
export function collectWs(url: string, stopAfter?: (msg: any, all: any[]) => boolean, headers?: Record<string, string>) {
  return new Promise<{ messages: any[]; closeCode: number; unexpected?: { status: number; body: any } }>((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: any[] = [];
    ws.on('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString()); // ws hands text frames over as a Buffer
      messages.push(msg);
      if (stopAfter?.(msg, messages)) ws.close();
    });
    ws.on('close', (code) => resolve({ messages, closeCode: code }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ messages, closeCode: -1, unexpected: { status: res.statusCode ?? 0, body: JSON.parse(body || 'null') } }));
    });
    ws.on('error', (err) => {
      if (!messages.length) reject(err);
    });
  });
}

/** Subscribes over graphql-ws and collects results until completion or `stopAfter`. */
export function subscribeGraphql(
  wsUrl: string,
  apiKey: string,
  query: string,
  variables: Record<string, unknown>,
  stopAfter?: (data: any, all: any[]) => boolean,
) {
  const client = createClient({ url: `${wsUrl}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
  return new Promise<{ results: any[]; errors: any[] }>((resolve) => {
    const results: any[] = [];
    const errors: any[] = [];
    const finish = () => {
      void client.dispose();
      resolve({ results, errors });
    };
    const unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) errors.push(...value.errors);
          if (value.data) results.push(value.data);
          if (value.data && stopAfter?.(value.data, results)) {
            unsubscribe();
            finish();
          }
        },
        error: (err) => {
          errors.push(...(Array.isArray(err) ? err : [err]));
          finish();
        },
        complete: finish,
      },
    );
  });
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * What the `RateLimit` field of an answer says is left of the limit `name` (its `r`). To see what
 * a request was charged, compare the hour's: the minute window rolls, so credits spent a minute
 * earlier leave it between two requests.
 */
export function remainingIn(res: Pick<HttpResult, 'headers'>, name: 'minute' | 'hour' | 'month' | 'concurrency'): number {
  const field = res.headers.get('ratelimit') ?? '';
  const match = new RegExp(`"${name}";r=(\\d+)`).exec(field);
  if (!match) throw new Error(`no "${name}" in RateLimit: ${field}`);
  return Number(match[1]);
}
