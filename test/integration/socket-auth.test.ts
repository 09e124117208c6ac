/**
 * Credentials on connections that outlive a request (graphql-ws, the REST task WebSocket, SSE):
 * each operation is authenticated again, a revoked key or ended session closes them (on every
 * replica), an expired access token closes them, and messages, operations and connections are capped.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_TYPE } from '../../src/services/auth/authenticate.js';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { openSse } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const PASSWORD = 'correct horse battery staple';
const VIEWER = 'query { viewer { id } }';
const CREATE_KEY = 'mutation { createApiKey(input: { name: "minted" }) { secret apiKey { id } } }';
const TASK_EVENTS = 'subscription($taskId: ID!) { taskEvents(taskId: $taskId) { seq status } }';

// No worker: tasks and reviews stay queued, so their streams stay open until something ends them.
let sys: TestSystem;
let owner: { userId: string; apiKey: string };

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  owner = await sys.createUser('Owner', { email: 'owner@example.com', password: PASSWORD });
});
afterAll(() => sys?.close());

/** A WebSocket whose messages (JSON) and close are recorded for the test to wait on. */
function openSocket(url: string, protocol?: string) {
  const ws = new WebSocket(url, protocol);
  const inbox: any[] = [];
  let close: { code: number; reason: string } | null = null;
  ws.on('message', (data) => inbox.push(JSON.parse((data as Buffer).toString()))); // ws hands text frames over as a Buffer
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve((close = { code, reason: String(reason) }))));
  const opened = new Promise<{ status: number; body?: any }>((resolve, reject) => {
    ws.on('open', () => resolve({ status: 101 }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body || 'null') }));
    });
    ws.on('error', reject);
  });
  return {
    ws,
    inbox,
    opened,
    closed,
    send: (message: unknown) => ws.send(JSON.stringify(message)),
    /** The first message matching `match`, or null once the socket closed without one. */
    next: (match: (m: any) => boolean, timeoutMs = 15_000) =>
      waitFor(async () => inbox.find(match) ?? (close ? null : undefined), timeoutMs, 20),
  };
}

/** A graphql-transport-ws socket, acknowledged, that runs operations by id. */
async function graphqlSocket(token: string, base = sys) {
  const socket = openSocket(`${base.wsUrl}/graphql`, 'graphql-transport-ws');
  expect((await socket.opened).status).toBe(101);
  socket.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
  const acked = await socket.next((m) => m.type === 'connection_ack');
  let ids = 0;
  return {
    ...socket,
    /** The connection_ack, or null when the socket was closed instead. */
    acked,
    /** Starts an operation; returns its id. */
    start(query: string, variables?: Record<string, unknown>) {
      const id = String(++ids);
      socket.send({ id, type: 'subscribe', payload: { query, variables } });
      return id;
    },
    /** The first answer (next or error) to operation `id`. */
    answer: (id: string) => socket.next((m) => m.id === id && (m.type === 'next' || m.type === 'error')),
    async run(query: string) {
      return this.answer(this.start(query));
    },
  };
}

async function newKey(apiKey = owner.apiKey, body: Record<string, unknown> = { name: 'socket' }) {
  const res = await restClient(sys.url, apiKey).post('/v1/keys', body);
  expect(res.status).toBe(201);
  return { id: res.body.id as string, secret: res.body.secret as string };
}

const revoke = (id: string, on = sys) => restClient(on.url, owner.apiKey).delete(`/v1/keys/${id}`);
const keyCount = () => sys.services.db.apiKey.count({ where: { userId: owner.userId } });

async function login() {
  const res = await restClient(sys.url).post('/v1/auth/login', { email: 'owner@example.com', password: PASSWORD });
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

async function queuedTask(apiKey: string) {
  const res = await restClient(sys.url, apiKey).post('/v1/agents/execute', executeBody(manyFiles(1)));
  expect(res.status).toBe(202);
  return res.body.task_id as string;
}

describe('graphql-ws', () => {
  it('closes a socket with 4401 as soon as its key is revoked; the socket cannot mint a key after', async () => {
    const key = await newKey();
    const socket = await graphqlSocket(key.secret);
    expect(socket.acked).not.toBeNull();
    expect((await socket.run(VIEWER))!.payload.data.viewer.id).toBe(owner.userId);
    const minted = await socket.run(CREATE_KEY);
    const mintedKey = minted!.payload.data.createApiKey;
    const before = await keyCount();

    expect((await revoke(key.id)).status).toBe(200);
    // Sent at once, before or after the socket learns of the revocation: refused either way.
    const after = socket.ws.readyState === WebSocket.OPEN ? await socket.run(CREATE_KEY) : null;
    expect(after?.type ?? 'closed').not.toBe('next');
    const closed = await socket.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/invalid or revoked/);
    expect(await keyCount()).toBe(before);
    // What it minted before is an ordinary key of the account: it works until revoked in turn.
    expect((await restClient(sys.url, mintedKey.secret).get('/v1/agents/tasks')).status).toBe(200);
    expect((await revoke(mintedKey.apiKey.id)).status).toBe(200);
    expect((await restClient(sys.url, mintedKey.secret).get('/v1/agents/tasks')).status).toBe(401);
  });

  it('authenticates every operation: a key revoked behind its back (no broadcast) refuses the next one and closes with 4401', async () => {
    // A gateway that does not cache credentials sees the revocation on the next operation, as HTTP does.
    const uncached = await startTestSystem({ worker: false, database: sys.database, env: { AUTH_CACHE_SECONDS: '0' } });
    try {
      const key = await newKey();
      const socket = await graphqlSocket(key.secret, uncached);
      expect((await socket.run(VIEWER))!.payload.data.viewer.id).toBe(owner.userId);
      await sys.services.db.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
      const before = await keyCount();
      const refused = await socket.run(CREATE_KEY);
      expect(refused?.type ?? 'closed').not.toBe('next');
      if (refused) expect(refused.payload[0].extensions.code).toBe('AUTHENTICATION_REQUIRED');
      expect((await socket.closed).code).toBe(4401);
      expect(await keyCount()).toBe(before);
    } finally {
      await uncached.close();
    }
  });

  it('closes the socket of a session that logged out, with 4401', async () => {
    const token = await login();
    const socket = await graphqlSocket(token);
    expect((await socket.run(VIEWER))!.payload.data.viewer.id).toBe(owner.userId);
    expect((await restClient(sys.url, token).post('/v1/auth/logout', undefined)).status).toBe(200);
    const closed = await socket.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/session has ended/);
  });

  it('closes the socket when its access token expires, with 4401', async () => {
    const sid = decodeJwt(await login()).sid;
    const issuer = sys.config.jwtIssuer;
    const token = await sys.services.signingKeys.sign(
      { sid, scope: 'read write generate account' },
      { issuer, audience: issuer, subject: owner.userId, ttlSeconds: 2, type: ACCESS_TOKEN_TYPE },
    );
    const socket = await graphqlSocket(token);
    expect((await socket.run(VIEWER))!.payload.data.viewer.id).toBe(owner.userId);
    const openedAt = Date.now();
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4401, reason: expect.stringMatching(/expired/) });
    expect(Date.now() - openedAt).toBeLessThan(5000);
  });

  it('refuses a bad credential with 4401 and a key used outside its CIDR allow-list with 4403', async () => {
    const bad = await graphqlSocket('cdx_sk_not_a_key_at_all_xxxxxxxxxxxx');
    expect(await bad.closed).toEqual({ code: 4401, reason: expect.stringMatching(/invalid or revoked/) });
    const ranged = await newKey(owner.apiKey, { name: 'ranged', allowed_cidrs: ['203.0.113.0/24'] });
    const outside = await graphqlSocket(ranged.secret);
    expect((await outside.closed).code).toBe(4403);
    expect(outside.inbox).toEqual([]);
  });

  it('closes with 1009, unread and unauthenticated, a connection_init larger than WS_MAX_PAYLOAD_BYTES', async () => {
    const socket = openSocket(`${sys.wsUrl}/graphql`, 'graphql-transport-ws');
    await socket.opened;
    // No valid credential inside: were it parsed, the answer would be 4401.
    socket.send({ type: 'connection_init', payload: { authorization: 'Bearer x', padding: 'x'.repeat(2 * 1024 * 1024) } });
    expect((await socket.closed).code).toBe(1009);
    expect(socket.inbox).toEqual([]);
  });

  it('closes with 1009 as soon as a frame header announces 30 MB, without waiting for (or holding) the body', async () => {
    const { port } = new URL(sys.url);
    const raw = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    let received = Buffer.alloc(0);
    raw.on('data', (chunk) => (received = Buffer.concat([received, chunk])));
    raw.write(
      `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
    );
    await waitFor(async () => (received.includes('\r\n\r\n') ? true : undefined), 5000, 10);
    expect(received.toString('latin1')).toMatch(/^HTTP\/1.1 101/);
    const headerEnd = received.indexOf('\r\n\r\n') + 4;
    // A masked text frame announcing 30 MiB (64-bit length), then a few bytes of it and no more.
    const header = Buffer.alloc(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(30 * 1024 * 1024), 2);
    raw.write(Buffer.concat([header, Buffer.from('{"type":"connection_init"')]));
    const close = await waitFor(async () => (received.length >= headerEnd + 4 ? received.subarray(headerEnd) : undefined), 5000, 10);
    expect(close[0]).toBe(0x88); // a close frame
    expect(close.readUInt16BE(2)).toBe(1009);
    raw.destroy();
  });

  it('ends a socket on another replica when the key is revoked here', async () => {
    const replica = await startTestSystem({ worker: false, database: sys.database, env: { AUTH_CACHE_SECONDS: '300' } });
    try {
      const key = await newKey();
      const socket = await graphqlSocket(key.secret, replica);
      expect((await socket.run(VIEWER))!.payload.data.viewer.id).toBe(owner.userId);
      expect((await revoke(key.id, sys)).status).toBe(200);
      expect((await socket.closed).code).toBe(4401);
    } finally {
      await replica.close();
    }
  });
});

describe('REST task WebSocket and SSE', () => {
  it('closes a task stream with 4401 when its key is revoked', async () => {
    const key = await newKey();
    const taskId = await queuedTask(key.secret);
    const stream = openSocket(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${key.secret}`);
    expect((await stream.opened).status).toBe(101);
    expect(await stream.next((m) => m.seq === 1)).toMatchObject({ type: 'progress', status: 'queued' });
    expect((await revoke(key.id)).status).toBe(200);
    expect((await stream.closed).code).toBe(4401);
  });

  it('closes a task stream with 1009 when the client sends a message over the limit', async () => {
    const taskId = await queuedTask(owner.apiKey);
    const stream = openSocket(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${owner.apiKey}`);
    await stream.next((m) => m.seq === 1);
    stream.ws.send('x'.repeat(1024 * 1024 + 1));
    expect((await stream.closed).code).toBe(1009);
  });

  it('ends an event stream with an authentication_required error event when its key is revoked', async () => {
    const key = await newKey();
    const stream = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key.secret, body: { files: [{ path: 'src/a.ts', content: 'export const a = 1;\n' }] } });
    expect(stream.res.status).toBe(200);
    expect((await stream.next())!.event).toBe('review');
    expect((await revoke(key.id)).status).toBe(200);
    const rest = await stream.all();
    expect(rest.at(-1)).toMatchObject({ event: 'error', data: { error: { code: 'authentication_required' } } });
  });
});

describe('caps', () => {
  let capped: TestSystem;
  beforeAll(async () => {
    capped = await startTestSystem({
      worker: false,
      database: sys.database,
      env: { WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2', WS_MAX_SOCKETS_PER_CREDENTIAL: '2', WS_MAX_SOCKETS_PER_ADDRESS: '4' },
    });
  });
  afterAll(() => capped?.close());

  /** Closes sockets and waits until the server counted them closed. */
  async function closeAll(sockets: Array<{ ws: WebSocket; closed: Promise<unknown> }>) {
    for (const s of sockets) s.ws.close();
    await Promise.all(sockets.map((s) => s.closed));
    await new Promise((r) => setTimeout(r, 200));
  }

  it('refuses operations past WS_MAX_SUBSCRIPTIONS_PER_SOCKET with RATE_LIMIT_EXCEEDED; the socket stays open', async () => {
    const taskId = await queuedTask(owner.apiKey);
    const socket = await graphqlSocket(owner.apiKey, capped);
    const first = socket.start(TASK_EVENTS, { taskId });
    const second = socket.start(TASK_EVENTS, { taskId });
    expect((await socket.answer(first))!.type).toBe('next');
    expect((await socket.answer(second))!.type).toBe('next');
    const third = await socket.answer(socket.start(TASK_EVENTS, { taskId }));
    expect(third!.type).toBe('error');
    expect(third!.payload[0]).toMatchObject({ message: expect.stringMatching(/already runs 2 operations/), extensions: { code: 'RATE_LIMIT_EXCEEDED', details: { limit: 2 } } });
    // Completing one frees its place.
    socket.send({ id: first, type: 'complete' });
    await new Promise((r) => setTimeout(r, 100));
    expect((await socket.answer(socket.start(TASK_EVENTS, { taskId })))!.type).toBe('next');
    await closeAll([socket]);
  });

  it('refuses sockets past WS_MAX_SOCKETS_PER_CREDENTIAL: graphql-ws with 4429, the task stream with 429', async () => {
    const key = await newKey();
    const taskId = await queuedTask(key.secret);
    const a = await graphqlSocket(key.secret, capped);
    const b = await graphqlSocket(key.secret, capped);
    expect(a.acked).not.toBeNull();
    expect(b.acked).not.toBeNull();
    const c = await graphqlSocket(key.secret, capped);
    expect(await c.closed).toEqual({ code: 4429, reason: expect.stringMatching(/already has 2 open/) });
    const stream = openSocket(`${capped.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${key.secret}`);
    const refused = await stream.opened;
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limit_exceeded', details: { limit: 2 } });
    // Another key of the same account has its own places.
    const other = await graphqlSocket(owner.apiKey, capped);
    expect(other.acked).not.toBeNull();
    await closeAll([a, other]);
    const d = await graphqlSocket(key.secret, capped);
    expect(d.acked).not.toBeNull();
    await closeAll([b, d]);
  });

  it('refuses upgrades past WS_MAX_SOCKETS_PER_ADDRESS with 429, before any authentication', async () => {
    const sockets = [];
    for (let i = 0; i < 4; i++) {
      const s = openSocket(`${capped.wsUrl}/graphql`, 'graphql-transport-ws');
      expect((await s.opened).status).toBe(101);
      sockets.push(s);
    }
    const fifth = openSocket(`${capped.wsUrl}/graphql`, 'graphql-transport-ws');
    const refused = await fifth.opened;
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limit_exceeded', message: expect.stringMatching(/client address already has 4 open/) });
    // graphql-ws closes sockets that never initialise (4408); their places are given back.
    await Promise.all(sockets.map((s) => s.closed));
    await new Promise((r) => setTimeout(r, 200));
    const again = openSocket(`${capped.wsUrl}/graphql`, 'graphql-transport-ws');
    expect((await again.opened).status).toBe(101);
    await closeAll([again]);
  });
});
