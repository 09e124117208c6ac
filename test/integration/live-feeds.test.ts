/**
 * The REST feeds served only as Server-Sent Events, on the real server and Temporal: a bulk
 * operation's progress (GET /v1/agents/bulk/{bulk_id}/events) and the live task list
 * (GET /v1/agents/tasks/updates): events arrive, resume with Last-Event-ID or ?since= with nothing
 * repeated, another tenant's ids answer 404, and bad filters the 422 envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '100' } });
});
afterAll(() => sys?.close());

async function user(name: string) {
  const u = await sys.createUser(name);
  return { ...u, api: restClient(sys.url, u.apiKey) };
}

/** A stream refused before it opened: its status and the envelope's code and first field. */
async function refusal(url: string, apiKey: string, headers?: Record<string, string>) {
  const stream = await openSse(url, { apiKey, headers });
  const { error } = stream.error as { error: { code: string; message: string; details?: Array<{ field: string; message: string }> } };
  return { status: stream.res.status, code: error.code, field: error.details?.[0]?.field, message: error.details?.[0]?.message ?? error.message };
}

/** Reads events until `done` holds for one (that one included), or fails after 30 s. */
async function readUntil(stream: Awaited<ReturnType<typeof openSse>>, done: (e: SseEvent) => boolean): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  const timeout = setTimeout(() => stream.close(), 30_000);
  try {
    for (let e = await stream.next(); e; e = await stream.next()) {
      seen.push(e);
      if (done(e)) return seen;
    }
  } finally {
    clearTimeout(timeout);
  }
  throw new Error(`the stream ended after ${JSON.stringify(seen.map((e) => e.event))} without the awaited event`);
}

describe('GET /v1/agents/bulk/{bulk_id}/events', () => {
  it('streams the operation, its progress and its summary, then ends; resumes after Last-Event-ID or since', async () => {
    const { api, apiKey } = await user('Bulk watcher');
    for (let i = 0; i < 3; i++) await api.post('/v1/agents/execute', executeBody(manyFiles(300)));
    const started = await api.post('/v1/agents/bulk', { action: 'cancel', filter: { status: ['queued', 'running', 'completed', 'failed'] } });
    expect([started.status, started.body.matched]).toEqual([202, 3]);
    const id = started.body.bulk_id;

    const stream = await openSse(`${sys.url}/v1/agents/bulk/${id}/events`, { apiKey, headers: { accept: '*/*' } }); // any Accept: this route only streams
    expect([stream.res.status, stream.res.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
    expect(stream.res.headers.get('x-ratelimit-used')).toMatch(/^\d+$/);
    const events = await stream.all();
    expect(events[0]).toMatchObject({ event: 'bulk_operation', id: undefined, data: { bulk_id: id, action: 'cancel', matched: 3 } });
    const progress = events.slice(1);
    expect(progress[0]).toMatchObject({ id: '1', event: 'progress', data: { bulk_id: id, seq: 1, status: 'running', matched: 3, processed: 0 } });
    expect(progress.at(-1)).toMatchObject({ event: 'completed', data: { status: 'completed', matched: 3, processed: 3, failed: 0 } });
    expect(progress.at(-1)!.data.succeeded + progress.at(-1)!.data.skipped).toBe(3);
    expect(progress.map((e) => Number(e.id))).toEqual(progress.map((_, i) => i + 1));

    const byHeader = await openSse(`${sys.url}/v1/agents/bulk/${id}/events`, { apiKey, headers: { 'last-event-id': '1' } });
    expect((await byHeader.all()).slice(1).map((e) => e.id)).toEqual(progress.slice(1).map((e) => e.id));
    const byQuery = await openSse(`${sys.url}/v1/agents/bulk/${id}/events?since=1`, { apiKey });
    expect((await byQuery.all()).slice(1).map((e) => e.id)).toEqual(progress.slice(1).map((e) => e.id));
  });

  it("answers another tenant's operation, an unknown id and a bad since with the JSON envelope", async () => {
    const a = await user('Bulk owner');
    const b = await user('Bulk stranger');
    await a.api.post('/v1/agents/execute', executeBody());
    const id = (await a.api.post('/v1/agents/bulk', { action: 'cancel', filter: { status: ['queued', 'running', 'completed'] } })).body.bulk_id;
    expect(await refusal(`${sys.url}/v1/agents/bulk/${id}/events`, b.apiKey)).toMatchObject({ status: 404, code: 'resource_not_found' });
    expect(await refusal(`${sys.url}/v1/agents/bulk/bop_01900000-0000-7000-8000-000000000000/events`, a.apiKey)).toMatchObject({ status: 404, code: 'resource_not_found' });
    expect(await refusal(`${sys.url}/v1/agents/bulk/${id}/events?since=-1`, a.apiKey)).toMatchObject({ status: 422, code: 'validation_error', field: 'since' });
    const anonymous = await fetch(`${sys.url}/v1/agents/bulk/${id}/events`);
    expect(anonymous.status).toBe(401);
  });
});

describe('GET /v1/agents/tasks/updates', () => {
  it('streams the changes of matching tasks live, and resumes after Last-Event-ID or since with nothing repeated', async () => {
    const { api, apiKey } = await user('List watcher');
    const stream = await openSse(`${sys.url}/v1/agents/tasks/updates?agent_type=code_expert`, { apiKey });
    expect(stream.res.status).toBe(200);
    expect(await stream.next()).toMatchObject({ event: 'tasks', id: undefined, data: { total_count: 0 } });
    await api.post('/v1/agents/execute', executeBody()); // security_expert: filtered out
    const task = (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'code_expert' })).body.task_id;
    const live = await readUntil(stream, (e) => e.data.status === 'completed');
    stream.close();
    expect(live[0]).toMatchObject({ event: 'created', data: { kind: 'created', task_id: task, agent_type: 'code_expert', status: 'queued' } });
    expect(live.every((e) => e.data.task_id === task && e.id === e.data.cursor)).toBe(true);
    expect(live.at(-1)).toMatchObject({ event: 'status', data: { kind: 'status', status: 'completed' } });

    const first = live[0].id!;
    const resumed = await openSse(`${sys.url}/v1/agents/tasks/updates?agent_type=code_expert`, { apiKey, headers: { 'last-event-id': first } });
    await resumed.next(); // the opening count
    const again = await readUntil(resumed, (e) => e.id === live.at(-1)!.id);
    resumed.close();
    expect(again.map((e) => e.id)).toEqual(live.slice(1).map((e) => e.id));
    const bySince = await openSse(`${sys.url}/v1/agents/tasks/updates?agent_type=code_expert&since=${first}`, { apiKey });
    expect(await bySince.next()).toMatchObject({ event: 'tasks', data: { total_count: 1 } });
    expect((await bySince.next())!.id).toBe(live[1].id);
    bySince.close();
  });

  it('refuses q, a bad filter and a bad cursor with the 422 envelope, and another tenant\'s team with 404', async () => {
    const a = await user('Feed team owner');
    const b = await user('Feed stranger');
    const updates = `${sys.url}/v1/agents/tasks/updates`;
    expect(await refusal(`${updates}?q=login`, a.apiKey)).toMatchObject({ status: 422, code: 'validation_error', field: 'q', message: expect.stringMatching(/not available on live updates/) });
    expect(await refusal(`${updates}?status=bogus`, a.apiKey)).toMatchObject({ status: 422, code: 'validation_error', field: 'status.0' });
    expect(await refusal(`${updates}?created_after=yesterday`, a.apiKey)).toMatchObject({ status: 422, code: 'validation_error', field: 'created_after' });
    expect(await refusal(updates, a.apiKey, { 'last-event-id': 'x' })).toMatchObject({ status: 422, code: 'validation_error', field: 'last-event-id' });
    const team = (await a.api.post('/v1/teams', { name: 'Feed team' })).body.id;
    expect(await refusal(`${updates}?team_id=${team}`, b.apiKey)).toMatchObject({ status: 404, code: 'resource_not_found' });
    const mine = await openSse(`${updates}?team_id=${team}`, { apiKey: a.apiKey });
    expect(mine.res.status).toBe(200);
    mine.close();
  });
});
