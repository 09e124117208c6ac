/**
 * A mixed load of the calls dashboards and SDKs make (REST and GraphQL reads, list pages, task
 * submissions, cancels, task streams), each answer judged: right status, right owner, right shape.
 * The correctness test and `npm run bench:load` share it, so the bench counts the same wrong answers
 * the suite forbids.
 */
import WebSocket from 'ws';

export interface Actor {
  name: string;
  key: string;
  /** Tasks this actor owns (grows as its submissions are accepted). */
  taskIds: string[];
  /** Task ids its list pages returned: checked against the owner once the load is over. */
  listed: Set<string>;
}

export type Op = 'rest-get' | 'rest-get-foreign' | 'gql-task' | 'gql-task-foreign' | 'rest-list' | 'gql-list' | 'submit' | 'cancel' | 'stream';

export interface Outcome {
  op: Op;
  status: number;
  ms: number;
  /** Why the answer is wrong (null: correct). A limit refusal (429 with its code) is correct. */
  wrong: string | null;
  /** For streams: whether the final message (result or error) arrived before a 1000 close. */
  streamEnded?: boolean;
}

/** How often each operation is picked, out of the sum. */
export const DEFAULT_WEIGHTS: Record<Op, number> = {
  'rest-get': 20,
  'rest-get-foreign': 8,
  'gql-task': 15,
  'gql-task-foreign': 7,
  'rest-list': 12,
  'gql-list': 10,
  submit: 15,
  cancel: 6,
  stream: 7,
};

const SUBMIT_BODY = {
  task: 'Review this code for security vulnerabilities',
  agent_type: 'security_expert',
  context: { files: [{ path: 'src/q.js', content: 'db.query("SELECT * FROM users WHERE id = " + req.query.id);\n' }] },
};

/** Picks an operation by weight with `random` in [0, 1). */
export function pickOp(random: number, weights: Record<Op, number> = DEFAULT_WEIGHTS): Op {
  const entries = Object.entries(weights) as Array<[Op, number]>;
  let at = random * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [op, w] of entries) if ((at -= w) < 0) return op;
  return entries.at(-1)![0];
}

const pick = <T>(items: T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

function limitRefusal(status: number, body: any, headers: Headers): boolean {
  return status === 429 && ['rate_limit_exceeded', 'concurrency_limit_exceeded'].includes(body?.error?.code) && headers.has('retry-after');
}

async function rest(baseUrl: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the body is null
  }
  return { status: res.status, body: json, headers: res.headers };
}

async function gql(baseUrl: string, key: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as any, headers: res.headers };
}

const gqlCode = (body: any): string | undefined => body?.errors?.[0]?.extensions?.code;

/** Opens the task's WebSocket and reads it to the end: the final message must come before a 1000 close. */
function streamTask(wsUrl: string, key: string, taskId: string, timeoutMs: number): Promise<{ status: number; ended: boolean; why: string | null }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${wsUrl}/v1/agents/tasks/${taskId}/stream?token=${encodeURIComponent(key)}`);
    let last: any = null;
    let status = 101;
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ status, ended: false, why: `stream of ${taskId} still open after ${timeoutMs} ms` });
    }, timeoutMs);
    ws.on('message', (data) => (last = JSON.parse((data as Buffer).toString()))); // ws hands text frames over as a Buffer
    ws.on('unexpected-response', (_req, res) => {
      status = res.statusCode ?? 0;
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        clearTimeout(timer);
        const body = JSON.parse(text || 'null');
        const refused = status === 429 && ['rate_limit_exceeded', 'concurrency_limit_exceeded'].includes(body?.error?.code);
        resolve({ status, ended: false, why: refused ? null : `stream of own task ${taskId} refused with ${status} ${body?.error?.code}` });
      });
    });
    ws.on('error', () => {});
    ws.on('close', (code) => {
      clearTimeout(timer);
      const final = last && (last.type === 'result' || last.type === 'error');
      resolve({ status, ended: code === 1000 && final, why: code === 1000 && final ? null : `stream of ${taskId} closed ${code} after ${last?.type ?? 'nothing'}` });
    });
  });
}

/** Runs one operation as `me` (with `other` as the foreign account) and judges the answer. */
export async function runOp(baseUrl: string, op: Op, me: Actor, other: Actor, streamTimeoutMs = 60_000): Promise<Outcome> {
  const started = performance.now();
  const done = (status: number, wrong: string | null, extra: Partial<Outcome> = {}): Outcome => ({ op, status, ms: performance.now() - started, wrong, ...extra });
  const own = pick(me.taskIds);
  const foreign = pick(other.taskIds);
  switch (op) {
    case 'rest-get': {
      if (!own) return runOp(baseUrl, 'submit', me, other);
      const r = await rest(baseUrl, me.key, 'GET', `/v1/agents/tasks/${own}`);
      if (limitRefusal(r.status, r.body, r.headers)) return done(r.status, null);
      if (r.status === 200 && r.body?.task_id === own) return done(r.status, null);
      if (r.status === 408 && r.body?.error?.details?.task?.task_id === own) return done(r.status, null);
      return done(r.status, `GET own task ${own}: ${r.status} ${r.body?.error?.code ?? r.body?.task_id}`);
    }
    case 'rest-get-foreign': {
      if (!foreign) return runOp(baseUrl, 'rest-list', me, other);
      const r = await rest(baseUrl, me.key, 'GET', `/v1/agents/tasks/${foreign}`);
      if (limitRefusal(r.status, r.body, r.headers)) return done(r.status, null);
      return done(r.status, r.status === 404 && r.body?.error?.code === 'resource_not_found' ? null : `GET another account's task: ${r.status}`);
    }
    case 'gql-task': {
      if (!own) return runOp(baseUrl, 'submit', me, other);
      const r = await gql(baseUrl, me.key, 'query($id: ID!) { task(id: $id) { id status } }', { id: own });
      if (limitRefusal(r.status, r.body, r.headers) || gqlCode(r.body) === 'RATE_LIMIT_EXCEEDED' || gqlCode(r.body) === 'CONCURRENCY_LIMIT_EXCEEDED') return done(r.status, null);
      return done(r.status, r.body?.data?.task?.id === own ? null : `GraphQL own task ${own}: ${r.status} ${gqlCode(r.body) ?? JSON.stringify(r.body?.data)}`);
    }
    case 'gql-task-foreign': {
      if (!foreign) return runOp(baseUrl, 'gql-list', me, other);
      const r = await gql(baseUrl, me.key, 'query($id: ID!) { task(id: $id) { id prompt } }', { id: foreign });
      const code = gqlCode(r.body);
      if (limitRefusal(r.status, r.body, r.headers) || code === 'RATE_LIMIT_EXCEEDED' || code === 'CONCURRENCY_LIMIT_EXCEEDED') return done(r.status, null);
      return done(r.status, code === 'RESOURCE_NOT_FOUND' && !r.body?.data?.task ? null : `GraphQL another account's task: ${code ?? 'data returned'}`);
    }
    case 'rest-list': {
      const r = await rest(baseUrl, me.key, 'GET', '/v1/agents/tasks?limit=20');
      if (limitRefusal(r.status, r.body, r.headers)) return done(r.status, null);
      if (r.status !== 200 || !Array.isArray(r.body?.data)) return done(r.status, `list: ${r.status} ${r.body?.error?.code}`);
      const ids: string[] = r.body.data.map((t: any) => t.task_id);
      ids.forEach((id) => me.listed.add(id));
      const leaked = ids.find((id) => other.taskIds.includes(id));
      return done(r.status, leaked ? `list returned another account's task ${leaked}` : null);
    }
    case 'gql-list': {
      const r = await gql(baseUrl, me.key, '{ tasks(first: 20) { edges { node { id status } } } }', {});
      const code = gqlCode(r.body);
      if (limitRefusal(r.status, r.body, r.headers) || code === 'RATE_LIMIT_EXCEEDED' || code === 'CONCURRENCY_LIMIT_EXCEEDED') return done(r.status, null);
      const edges = r.body?.data?.tasks?.edges;
      if (!Array.isArray(edges)) return done(r.status, `GraphQL list: ${r.status} ${code}`);
      const ids: string[] = edges.map((e: any) => e.node.id);
      ids.forEach((id) => me.listed.add(id));
      const leaked = ids.find((id) => other.taskIds.includes(id));
      return done(r.status, leaked ? `GraphQL list returned another account's task ${leaked}` : null);
    }
    case 'submit': {
      const r = await rest(baseUrl, me.key, 'POST', '/v1/agents/execute', SUBMIT_BODY);
      if (limitRefusal(r.status, r.body, r.headers)) return done(r.status, null);
      if ((r.status === 201 || r.status === 202) && typeof r.body?.task_id === 'string') {
        me.taskIds.push(r.body.task_id);
        return done(r.status, null);
      }
      return done(r.status, `submit: ${r.status} ${r.body?.error?.code}`);
    }
    case 'cancel': {
      if (!own) return runOp(baseUrl, 'submit', me, other);
      const r = await rest(baseUrl, me.key, 'DELETE', `/v1/agents/tasks/${own}`);
      if (limitRefusal(r.status, r.body, r.headers)) return done(r.status, null);
      if (r.status === 200 && r.body?.task_id === own) return done(r.status, null);
      if (r.status === 409 && r.body?.error?.code === 'task_not_cancellable') return done(r.status, null); // it had already ended
      return done(r.status, `cancel own task ${own}: ${r.status} ${r.body?.error?.code}`);
    }
    case 'stream': {
      if (!own) return runOp(baseUrl, 'submit', me, other);
      const s = await streamTask(baseUrl.replace(/^http/, 'ws'), me.key, own, streamTimeoutMs);
      return done(s.status, s.why, { streamEnded: s.ended });
    }
  }
}

/** After the load: every task an actor's list pages showed must be readable by that actor (it is theirs). */
export async function checkListedOwnership(baseUrl: string, actors: Actor[]): Promise<string[]> {
  const wrong: string[] = [];
  for (const actor of actors) {
    for (const id of actor.listed) {
      if (actor.taskIds.includes(id)) continue;
      const r = await rest(baseUrl, actor.key, 'GET', `/v1/agents/tasks/${id}`);
      if (r.status !== 200 && r.status !== 408) wrong.push(`${actor.name}'s list showed ${id}, which ${actor.name} cannot read (${r.status})`);
    }
  }
  return wrong;
}

/** Tasks of the actors that are not in a terminal state (polled until `deadlineMs` passes or none are left). */
export async function unfinishedTasks(baseUrl: string, actors: Actor[], deadlineMs: number): Promise<string[]> {
  const terminal = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
  let pending = actors.flatMap((a) => a.taskIds.map((id) => ({ key: a.key, id })));
  while (pending.length) {
    const still: typeof pending = [];
    for (const t of pending) {
      const r = await rest(baseUrl, t.key, 'GET', `/v1/agents/tasks/${t.id}`);
      const status = r.status === 408 ? 'timed_out' : r.body?.status;
      if (!terminal.has(status)) still.push(t);
    }
    pending = still;
    if (!pending.length || Date.now() > deadlineMs) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return pending.map((t) => t.id);
}
