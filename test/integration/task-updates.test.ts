/**
 * The list-level subscription taskUpdates over graphql-ws: a subscriber sees each of its tasks go
 * created → running → completed, never another tenant's; a team's updates reach members only;
 * and a subscriber that reconnects with its last cursor loses nothing and repeats nothing.
 * Appends to a stream many writers share (an account's feed) coalesce without losing, repeating or reordering;
 * this process's subscribers take its own appends from memory and still get another writer's, in order.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, subscribeGraphql, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '50' } });
});
afterAll(() => sys?.close());

const SUB = `subscription($filter: TaskFilter, $after: String) { taskUpdates(filter: $filter, after: $after) { cursor kind taskId status progress agentType } }`;

/** A live subscription collecting what it receives until `stop()`. */
function listen(apiKey: string, variables: Record<string, unknown>) {
  const client = createClient({ url: `${sys.wsUrl}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
  const updates: any[] = [];
  const errors: any[] = [];
  const ready = new Promise<void>((resolve) => setTimeout(resolve, 300));
  const unsubscribe = client.subscribe(
    { query: SUB, variables },
    { next: (v) => (v.errors ? errors.push(...v.errors) : updates.push((v.data as any).taskUpdates)), error: (e) => errors.push(e), complete: () => {} },
  );
  return {
    updates,
    errors,
    ready,
    stop: async () => {
      unsubscribe();
      await client.dispose();
    },
  };
}

describe('taskUpdates', () => {
  it("sends created → running → completed for the caller's tasks, and nothing of another tenant's", async () => {
    const a = await sys.createUser('Lister A');
    const b = await sys.createUser('Lister B');
    const sub = listen(a.apiKey, {});
    await sub.ready;
    const mine = (await restClient(sys.url, a.apiKey).post('/v1/agents/execute', executeBody())).body.task_id;
    const theirs = (await restClient(sys.url, b.apiKey).post('/v1/agents/execute', executeBody())).body.task_id;
    await waitFor(async () => (sub.updates.some((u) => u.taskId === mine && u.status === 'COMPLETED') ? true : undefined));
    await sub.stop();
    expect(sub.errors).toEqual([]);
    const kinds = sub.updates.filter((u) => u.taskId === mine).map((u) => `${u.kind}:${u.status}`);
    expect(kinds[0]).toBe('CREATED:QUEUED');
    expect(kinds).toContain('STATUS:RUNNING');
    expect(kinds.at(-1)).toBe('STATUS:COMPLETED');
    expect(sub.updates.some((u) => u.taskId === theirs)).toBe(false);
  });

  it('filters in memory by status and agent type', async () => {
    const a = await sys.createUser('Filterer');
    const sub = listen(a.apiKey, { filter: { status: ['COMPLETED'], agentType: ['code_expert'] } });
    await sub.ready;
    const api = restClient(sys.url, a.apiKey);
    const sec = (await api.post('/v1/agents/execute', executeBody())).body.task_id;
    const code = (await api.post('/v1/agents/execute', { ...executeBody(), agent_type: 'code_expert' })).body.task_id;
    await waitFor(async () => (sub.updates.some((u) => u.taskId === code) ? true : undefined));
    await waitFor(async () => ((await api.get(`/v1/agents/tasks/${sec}`)).body.status === 'completed' ? true : undefined));
    await sub.stop();
    expect(sub.updates.map((u) => [u.taskId, u.kind, u.status])).toEqual([[code, 'STATUS', 'COMPLETED']]);
  });

  it('filters by task ids: only the listed tasks, from the stored updates on; an id of another tenant adds nothing', async () => {
    const a = await sys.createUser('Id filterer');
    const b = await sys.createUser('Id stranger');
    const api = restClient(sys.url, a.apiKey);
    const [picked, other] = [(await api.post('/v1/agents/execute', executeBody())).body.task_id, (await api.post('/v1/agents/execute', executeBody())).body.task_id];
    const theirs = (await restClient(sys.url, b.apiKey).post('/v1/agents/execute', executeBody())).body.task_id;
    for (const id of [picked, other]) await waitFor(async () => ((await api.get(`/v1/agents/tasks/${id}`)).body.status === 'completed' ? true : undefined));
    const sub = listen(a.apiKey, { filter: { ids: [picked, theirs] }, after: '0' });
    await waitFor(async () => (sub.errors.length || sub.updates.some((u) => u.status === 'COMPLETED') ? true : undefined), 20_000);
    await sub.stop();
    expect(sub.errors).toEqual([]);
    expect(new Set(sub.updates.map((u) => u.taskId))).toEqual(new Set([picked]));
    expect(sub.updates.map((u) => `${u.kind}:${u.status}`)).toEqual(expect.arrayContaining(['CREATED:QUEUED', 'STATUS:COMPLETED']));
    const tooMany = await subscribeGraphql(sys.wsUrl, a.apiKey, SUB, { filter: { ids: Array.from({ length: 101 }, (_, i) => `tsk_${i}`) } });
    expect(JSON.stringify(tooMany.errors)).toMatch(/filter\.ids.*at most 100/);
    const badTag = await subscribeGraphql(sys.wsUrl, a.apiKey, SUB, { filter: { tags: ['no spaces allowed'] } });
    expect(JSON.stringify(badTag.errors)).toMatch(/filter\.tags/);
  });

  it("sends a team's updates to its members only; an outsider asking for the team gets RESOURCE_NOT_FOUND", async () => {
    const owner = await sys.createUser('Team lister');
    const outsider = await sys.createUser('Outsider');
    const team = (await restClient(sys.url, owner.apiKey).post('/v1/teams', { name: 'Listers' })).body.id;
    const refused = await subscribeGraphql(sys.wsUrl, outsider.apiKey, SUB, { filter: { teamId: team } });
    expect(refused.errors[0].extensions?.code ?? refused.errors[0].message).toMatch(/RESOURCE_NOT_FOUND|PERMISSION_DENIED/);
    const sub = listen(owner.apiKey, { filter: { teamId: team } });
    const personal = listen(owner.apiKey, {});
    await sub.ready;
    const task = (await restClient(sys.url, owner.apiKey).post('/v1/agents/execute', executeBody([], { team_id: team, context: { files: [{ path: 'a.js', content: 'eval(x)' }] } }))).body.task_id;
    await waitFor(async () => (sub.updates.some((u) => u.taskId === task && u.status === 'COMPLETED') ? true : undefined));
    await Promise.all([sub.stop(), personal.stop()]);
    expect(personal.updates.some((u) => u.taskId === task)).toBe(false);
  });

  it('resumes after a disconnect from the last cursor: nothing lost, nothing repeated', async () => {
    const a = await sys.createUser('Resumer');
    const api = restClient(sys.url, a.apiKey);
    const first = listen(a.apiKey, {});
    await first.ready;
    const t1 = (await api.post('/v1/agents/execute', executeBody())).body.task_id;
    await waitFor(async () => (first.updates.some((u) => u.taskId === t1) ? true : undefined));
    await first.stop();
    const cursor = first.updates.at(-1).cursor;
    // While nobody listens: t1 goes on, and t2 is submitted and finishes.
    const t2 = (await api.post('/v1/agents/execute', executeBody())).body.task_id;
    for (const id of [t1, t2]) await waitFor(async () => ((await api.get(`/v1/agents/tasks/${id}`)).body.status === 'completed' ? true : undefined));
    const resumed = listen(a.apiKey, { after: cursor });
    await waitFor(async () => (resumed.updates.some((u) => u.taskId === t2 && u.status === 'COMPLETED') ? true : undefined));
    await resumed.stop();
    const all = [...first.updates, ...resumed.updates];
    const cursors = all.map((u) => Number(u.cursor));
    expect(cursors).toEqual(cursors.map((_, i) => i + 1)); // every feed event once, in order
    for (const id of [t1, t2]) expect(all.filter((u) => u.taskId === id).map((u) => u.status).at(-1)).toBe('COMPLETED');
    const bad = await graphql(sys.url, a.apiKey, 'query { __typename }');
    expect(bad.status).toBe(200);
    const badCursor = await subscribeGraphql(sys.wsUrl, a.apiKey, SUB, { after: 'abc' });
    expect(JSON.stringify(badCursor.errors)).toMatch(/after/);
  });
});

describe('appends to shared streams', () => {
  it('batches concurrent appends: every event once, contiguous seqs in arrival order per stream, a repeated key stored once and answered with the first', async () => {
    const { appendEventsBatched, readEvents } = await import('../../src/events/event-store.js');
    const shared = `shared-${Date.now()}`;
    const own = (i: number) => `own-${shared}-${i % 3}`;
    // Each call stores its own stream's event and the shared copy together, as a task event does.
    const append = (i: number) =>
      appendEventsBatched(sys.services.db, sys.services.bus, [
        { streamId: own(i), type: 'progress', key: `k${i}`, data: { i } },
        { streamId: shared, type: 'progress', key: `k${i}`, data: { i } },
      ]);
    const first = await Promise.all([...Array.from({ length: 30 }, (_, i) => append(i)), append(3), append(7)]);
    const again = await append(29); // a retried emission after the fact adds nothing and answers the stored event
    expect(again.map((e) => [e.streamId, e.seq])).toEqual(first[29].map((e) => [e.streamId, e.seq]));
    expect(first[30].map((e) => e.seq)).toEqual(first[3].map((e) => e.seq));
    const events = await readEvents(sys.services.db, shared, 0);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(events.map((e) => e.data.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    for (const r of [0, 1, 2]) {
      const mine = await readEvents(sys.services.db, own(r), 0);
      expect(mine.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      expect(mine.map((e) => e.data.i)).toEqual(Array.from({ length: 10 }, (_, i) => r + 3 * i));
    }
  });

  it("hands a writer's events to this process's subscribers from memory, and reads what another writer stored in between from the table: every event once, in order", async () => {
    const { appendEventsBatched, insertEvents } = await import('../../src/events/event-store.js');
    const { streamEvents } = await import('../../src/events/event-stream.js');
    const { db, bus } = sys.services;
    const streamId = `offered-${Date.now()}`;
    const event = (n: number, type = 'progress') => ({ streamId, type, key: `k${n}`, data: { n } });
    const here = async (n: number, type?: string) => (await appendEventsBatched(db, bus, [event(n, type)]))[0];
    await here(1);
    // No poll within the test: whatever arrives came from an offer, a notification or a gap seen.
    const stream = streamEvents({ db, bus, streamId, since: 0, isTerminal: (e) => e.type === 'end', pollMs: 600_000 });
    const got: Array<{ seq: number; data: Record<string, unknown> }> = [];
    const done = (async () => {
      for await (const e of stream) got.push(e);
    })();
    const seen = (n: number) => waitFor(async () => (got.length >= n ? true : undefined), 10_000, 20);
    await seen(1);
    const second = await here(2);
    await seen(2);
    expect(got[1]).toBe(second); // the very event the writer stored: not read back
    // Another process's event: its notification names a sequence number memory lacks, so the table is read.
    const [third] = await insertEvents(db, [event(3)]);
    await bus.publish(streamId, third.seq);
    await seen(3);
    // Another process's event whose notification was lost, then one of ours: the gap sends the read to the table.
    await insertEvents(db, [event(4)]);
    await here(5);
    await here(6, 'end');
    await seen(6);
    await done;
    expect(got.map((e) => [e.seq, e.data.n])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [n, n]));
  });
});
