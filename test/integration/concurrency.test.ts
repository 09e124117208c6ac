/**
 * 200 mixed requests at once from two accounts (REST and GraphQL reads, list pages, submissions,
 * cancels, task streams): every answer is checked for the right status, owner and shape, and every
 * task ends. The earlier embedded database answered such a load with 500s, false 404/401s and rows
 * of another request; this is the test that keeps it from coming back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkListedOwnership, pickOp, runOp, unfinishedTasks, type Actor, type Outcome } from '../helpers/load-mix.js';
import { restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
const actors: Actor[] = [];

beforeAll(async () => {
  sys = await startTestSystem();
  for (const name of ['Ada', 'Grace']) {
    const { apiKey } = await sys.createUser(name, { tier: 'team' });
    const actor: Actor = { name, key: apiKey, taskIds: [], listed: new Set() };
    // A few tasks each before the load, so reads have something to read from the first request on.
    const api = restClient(sys.url, apiKey);
    for (let i = 0; i < 3; i++) {
      const res = await api.post('/v1/agents/execute', { task: 'Review', agent_type: 'security_expert', context: { files: [{ path: 'a.js', content: 'eval(x);\n' }] } });
      actor.taskIds.push(res.body.task_id);
    }
    actors.push(actor);
  }
});
afterAll(() => sys?.close());

describe('200 concurrent mixed requests from two accounts', () => {
  it('answers every one correctly, leaks nothing across accounts, and every task ends', async () => {
    const [ada, grace] = actors as [Actor, Actor];
    const outcomes: Outcome[] = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? runOp(sys.url, pickOp(Math.random()), ada, grace) : runOp(sys.url, pickOp(Math.random()), grace, ada))),
    );
    const wrong = outcomes.filter((o) => o.wrong).map((o) => `${o.op}: ${o.wrong}`);
    // Limit refusals are correct answers, but a load that is mostly refused would prove nothing.
    const refused = outcomes.filter((o) => o.status === 429).length;
    expect(refused, JSON.stringify(outcomes.map((o) => [o.op, o.status]))).toBeLessThan(20);
    expect(wrong).toEqual([]);
    expect(outcomes.filter((o) => o.status >= 500)).toEqual([]);
    // Every kind of call was made (the mix is random; 200 draws make a missing kind vanishingly rare).
    expect(new Set(outcomes.map((o) => o.op)).size).toBeGreaterThanOrEqual(8);
    expect(outcomes.filter((o) => o.op === 'stream').every((o) => o.streamEnded || o.status === 429)).toBe(true);

    expect(await checkListedOwnership(sys.url, actors)).toEqual([]);
    expect(await unfinishedTasks(sys.url, actors, Date.now() + 60_000)).toEqual([]);
    // And the database agrees: each task row belongs to the account that submitted it.
    for (const actor of actors) {
      const owners = await sys.services.db.agentTask.findMany({ where: { id: { in: actor.taskIds } }, select: { id: true, owner: { select: { name: true } } } });
      expect(owners.length).toBe(actor.taskIds.length);
      expect(new Set(owners.map((o) => o.owner.name))).toEqual(new Set([actor.name]));
    }
  });
});
