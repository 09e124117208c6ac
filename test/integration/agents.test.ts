/** The agent catalog and the code_expert agent run end to end through the task engine. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let key: string;

beforeAll(async () => {
  sys = await startTestSystem();
  ({ apiKey: key } = await sys.createUser('Reviewer'));
});
afterAll(() => sys?.close());

const fixture = (name: string) => ({ path: `src/${name}`, content: readFileSync(new URL(`../fixtures/review/${name}`, import.meta.url), 'utf8') });

describe('agent catalog', () => {
  it('lists every agent with its inputs and queue, over REST and GraphQL', async () => {
    const res = await restClient(sys.url, key).get('/v1/agents/types');
    expect(res.status).toBe(200);
    expect(res.body.data.map((a: any) => a.agent_type)).toEqual(['security_expert', 'code_expert', 'test_gen', 'assistant']);
    expect(res.body.data[3]).toMatchObject({ queue: 'gpu', needs_model: true });
    expect(res.body.data[1]).toMatchObject({ inputs: ['context.files'], queue: 'cpu', needs_model: false, description: expect.stringMatching(/complexity/) });
    const gql = await graphql(sys.url, key, '{ agentTypes { type queue needsModel } }');
    expect(gql.body.data.agentTypes).toHaveLength(4);
  });

  it('refuses a model agent when no model is configured, naming the setting', async () => {
    const res = await restClient(sys.url, key).post('/v1/agents/execute', { ...executeBody(), agent_type: 'assistant' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toEqual({ field: 'agent_type', message: 'assistant needs a model and this server has none configured (MODEL_BASE_URL)' });
  });

  it('names the valid agent types when given an unknown one', async () => {
    const res = await restClient(sys.url, key).post('/v1/agents/execute', { ...executeBody(), agent_type: 'poet' });
    expect(res.status).toBe(422);
    expect(res.body.error.details[0]).toEqual({ field: 'agent_type', message: 'must be one of: security_expert, code_expert, test_gen, assistant' });
  });
});

describe('test_gen', () => {
  it('returns generated test files as a task result, and an orchestration counts their tests', async () => {
    const api = restClient(sys.url, key);
    const source = { path: 'src/math.ts', content: 'export function add(a: number, b: number) {\n  return a + b;\n}\nexport const zero = () => 0;\n' };
    const res = await api.post('/v1/agents/orchestrate', { goal: 'tests', agents: ['test_gen', 'code_expert'], context: { files: [source] } });
    const o = await waitFor(async () => {
      const body = (await api.get(`/v1/agents/orchestrations/${res.body.orchestration_id}`)).body;
      return body.status !== 'in_progress' ? body : undefined;
    });
    expect(o.status).toBe('completed');
    const task = (await api.get(`/v1/agents/tasks/${o.agents[0].task_id}`)).body;
    expect(task.result.files).toEqual([{ path: 'src/math.test.ts', content: expect.stringContaining("import * as mod from './math.js'"), tests: 2 }]);
    expect(task.result.summary).toBe('Generated 2 tests in 1 files');
    expect(o.aggregated_result.tests_generated).toBe(2);
    expect(o.aggregated_result.files_modified).toBe(1);
  });
});

describe('code_expert', () => {
  it('reviews files as a task and returns located findings with a summary', async () => {
    const api = restClient(sys.url, key);
    const started = await api.post('/v1/agents/execute', { ...executeBody([fixture('issues.ts'), fixture('clean.ts')]), agent_type: 'code_expert' });
    expect(started.status).toBe(202);
    const task = await waitFor(async () => {
      const t = (await api.get(`/v1/agents/tasks/${started.body.task_id}`)).body;
      return t.status === 'completed' ? t : undefined;
    });
    const rules = task.result.findings.map((f: any) => `${f.rule_id}@${f.file}:${f.line}`);
    expect(rules).toEqual([
      'swallowed-error@src/issues.ts:6',
      'unhandled-promise@src/issues.ts:11',
      'swallowed-error@src/issues.ts:12',
      'resource-leak@src/issues.ts:16',
      'unreachable-code@src/issues.ts:25',
      'high-complexity@src/issues.ts:30',
    ]);
    expect(task.result.summary).toBe('Found 6 code review issues: 2 swallowed-error, 1 unhandled-promise, 1 resource-leak, 1 unreachable-code, 1 high-complexity');
    expect(task.agent_type).toBe('code_expert');
    // No model on this server: the result says the built-in analysis stands alone, and why.
    expect(task.result.analysis).toEqual({
      mode: 'builtin',
      builtin_findings: 6,
      model_findings: 0,
      note: 'No model is configured (MODEL_BASE_URL), so these are the built-in findings alone.',
    });
  });
});
