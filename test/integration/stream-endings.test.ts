/**
 * Every stream of a task that is cancelled or times out delivers its final `error` message and then
 * closes normally (REST WebSocket: 1000; graphql-ws: `complete`), also when the end lands while the
 * agent is writing progress events. Repeated, several tasks at once, because the failures this
 * guards against (a 1011 close before the final message) were races that showed up one run in a few.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectWs, restClient, subscribeGraphql } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { openSse } from '../helpers/sse.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const RUNS = 20;
const AT_ONCE = 5;
let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  // 50 ms a file: the agent writes a progress event every 50 ms while the end arrives.
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: '50', REVIEW_FILE_DELAY_MS: '50' } });
  key = (await sys.createUser()).apiKey;
  api = restClient(sys.url, key);
});
afterAll(() => sys?.close());

const TASK_EVENTS = `subscription($taskId: ID!) {
  taskEvents(taskId: $taskId) { seq type status error { code } }
}`;

interface Ending {
  rest: { closeCode: number; last: any; seqs: number[] };
  graphql: { last: any; errors: any[]; seqs: number[] };
}

/** Submits a task, watches it on both transports, and ends it with `end` once it is running. */
async function watchEnding(extra: Record<string, unknown>, end: (taskId: string) => Promise<void>): Promise<Ending> {
  const taskId = (await api.post('/v1/agents/execute', executeBody(manyFiles(40), extra))).body.task_id as string;
  let ended = null as Promise<unknown> | null; // a cast: set in a callback, which narrowing does not see
  // The outcome is kept (not thrown here) and checked once both streams have closed.
  const endOnce = () => (ended ??= end(taskId).then(() => null, (err: unknown) => err));
  const [rest, graphql] = await Promise.all([
    collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?token=${key}`, (m) => {
      if (m.type === 'progress' && m.status === 'running' && m.progress > 0) void endOnce();
      return false;
    }),
    subscribeGraphql(sys.wsUrl, key, TASK_EVENTS, { taskId }),
  ]);
  const failure = await ended;
  if (failure) throw failure as Error;
  return {
    rest: { closeCode: rest.closeCode, last: rest.messages.at(-1), seqs: rest.messages.map((m) => m.seq) },
    graphql: { last: graphql.results.at(-1)?.taskEvents, errors: graphql.errors, seqs: graphql.results.map((r) => r.taskEvents.seq) },
  };
}

async function repeat(run: () => Promise<Ending>): Promise<Ending[]> {
  const out: Ending[] = [];
  for (let i = 0; i < RUNS; i += AT_ONCE) out.push(...(await Promise.all(Array.from({ length: Math.min(AT_ONCE, RUNS - i) }, run))));
  return out;
}

function expectEnding(endings: Ending[], status: string, code: string) {
  const summary = endings.map((e) => ({
    rest: [e.rest.closeCode, e.rest.last?.type, e.rest.last?.status, e.rest.last?.error?.code],
    graphql: [e.graphql.errors.length, e.graphql.last?.type, e.graphql.last?.status, e.graphql.last?.error?.code],
  }));
  // Every run, on both transports: the final message is the error with its code, then a normal close.
  expect(summary).toEqual(endings.map(() => ({ rest: [1000, 'error', status, code], graphql: [0, 'ERROR', status.toUpperCase(), code.toUpperCase()] })));
  for (const e of endings) {
    // Nothing lost or repeated on the way: sequence numbers run 1, 2, 3 … on both transports.
    expect(e.rest.seqs).toEqual(e.rest.seqs.map((_, i) => i + 1));
    expect(e.graphql.seqs).toEqual(e.rest.seqs);
  }
}

describe(`stream endings (${RUNS} runs each, ${AT_ONCE} at a time)`, () => {
  it('a cancelled task ends every stream with task_cancelled', async () => {
    const endings = await repeat(() =>
      watchEnding({}, async (taskId) => {
        const res = await api.delete(`/v1/agents/tasks/${taskId}`);
        expect(res.status).toBe(200);
      }),
    );
    expectEnding(endings, 'cancelled', 'task_cancelled');
  });

  it('a task over its time limit ends every stream with task_timeout', async () => {
    const endings = await repeat(() => watchEnding({ timeout_seconds: 1 }, async () => {}));
    expectEnding(endings, 'timed_out', 'task_timeout');
  });
});

describe(`review event streams over SSE (${RUNS} runs, ${AT_ONCE} at a time)`, () => {
  const files = Array.from({ length: 6 }, (_, i) => ({ path: `src/f${i}.ts`, content: `export function f${i}(x: string) {\n  return eval(x);\n}\n` }));

  it('each ends with its summary event after every finding, ids consecutive', async () => {
    const run = async () => {
      const stream = await openSse(`${sys.url}/v1/reviews`, { method: 'POST', apiKey: key, body: { files } });
      expect(stream.res.status).toBe(200);
      const events = [(await stream.next())!, ...(await stream.all())];
      return { ids: events.filter((e) => e.id !== undefined).map((e) => Number(e.id)), last: events.at(-1) };
    };
    const outcomes: Array<Awaited<ReturnType<typeof run>>> = [];
    for (let i = 0; i < RUNS; i += AT_ONCE) outcomes.push(...(await Promise.all(Array.from({ length: AT_ONCE }, run))));
    expect(outcomes.map((o) => [o.last?.event, o.last?.data.status])).toEqual(outcomes.map(() => ['summary', 'completed']));
    for (const o of outcomes) {
      expect(o.ids.length).toBeGreaterThan(files.length); // a finding per file, then the summary
      expect(o.ids).toEqual(o.ids.map((_, i) => o.ids[0] + i));
    }
  });
});
