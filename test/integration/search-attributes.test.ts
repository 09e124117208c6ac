/**
 * Workflows carry who and what they run for: typed search attributes an operator can query in
 * Temporal (UI, `temporal workflow list --query`) and the same facts as a memo. A namespace
 * without the attributes registered still runs every workflow, without them.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { createLogger } from '../../src/logger.js';
import { searchAttributeKeys } from '../../src/temporal/search-attributes.js';
import { start } from '../../src/temporal/start-for-row.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(() => sys?.close());

/** Every workflow id a visibility query lists (the listing lags the start by a moment). */
async function listed(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
  return ids;
}

describe('Temporal search attributes and memo', () => {
  it("find a task's workflow by account, tag and agent type, and describe it with its memo", async () => {
    const { userId, apiKey } = await sys.createUser('Searchable');
    const other = await sys.createUser('Someone else');
    const tag = `sa-${randomBytes(4).toString('hex')}`;
    const task = (await restClient(sys.url, apiKey).post('/v1/agents/execute', executeBody(undefined, { tags: ['nightly', tag] }))).body;
    expect(task.task_id).toMatch(/^task_/);
    const client = sys.services.temporal;

    const byAccount = await waitFor(async () => {
      const ids = await listed(client, `CodexAccountId = '${userId}'`);
      return ids.includes(task.task_id) ? ids : undefined;
    });
    expect(byAccount).toEqual([task.task_id]);
    expect(await listed(client, `CodexTags = '${tag}' AND CodexAgentType = 'security_expert'`)).toEqual([task.task_id]);
    expect(await listed(client, `CodexResourceId = '${task.task_id}'`)).toEqual([task.task_id]);
    expect(await listed(client, `CodexAccountId = '${other.userId}'`)).toEqual([]);

    const described = await client.workflow.getHandle(task.task_id).describe();
    expect(described.memo).toEqual({ accountId: userId, teamId: null, agentType: 'security_expert', tags: ['nightly', tag], resourceId: task.task_id });
    expect(described.typedSearchAttributes.get(searchAttributeKeys.accountId)).toBe(userId);
    expect(described.typedSearchAttributes.get(searchAttributeKeys.tags)).toEqual(['nightly', tag]);
    expect(described.typedSearchAttributes.get(searchAttributeKeys.teamId)).toBeUndefined();
  });

  it('a namespace without the attributes registered starts workflows without them, with one warning', async () => {
    const namespace = `codex-plain-${randomBytes(4).toString('hex')}`;
    await sys.services.temporal.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    const client = new Client({ connection: sys.services.temporal.connection, namespace });
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const deps = { temporal: client, config: sys.config, logger: createLogger('info', sink) };
    // Named like a workflow type; nothing has to run it for the start to be recorded.
    async function searchAttributesProbe(): Promise<void> {}
    const index = { accountId: 'user_probe', teamId: null, agentType: 'security_expert', tags: ['x'], resourceId: 'probe' };

    // A freshly registered namespace takes a moment to be known to the frontend.
    const first = await waitFor(() => start(deps, searchAttributesProbe, { workflowId: `probe-${namespace}-1`, args: [], index }).catch(() => undefined), 30_000, 500);
    const second = await start(deps, searchAttributesProbe, { workflowId: `probe-${namespace}-2`, args: [], index });
    for (const handle of [first, second]) {
      const described = await handle.describe();
      expect(described.memo).toEqual({ ...index, tags: ['x'] });
      expect(described.typedSearchAttributes.get(searchAttributeKeys.accountId)).toBeUndefined();
      await handle.terminate('test done');
    }
    const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toContain('search attributes are not registered');
  });
});
