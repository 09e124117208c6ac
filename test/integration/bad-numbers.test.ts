/**
 * Bad numbers are 422, never 500: every whole number a caller sends (bodies, query parameters,
 * cursors, Last-Event-ID, the task stream's ?since=, GraphQL arguments and input fields), just
 * past its bound and far past what a 32-bit column or GraphQL's Int holds, answers
 * validation_error (VALIDATION_ERROR) naming the field, with or without a credential, and
 * writes nothing. The bounds themselves are accepted and shown in the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { collectWs, graphql, restClient, subscribeGraphql } from '../helpers/client.js';
import { cleanJs, executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const INT32_MAX = 2_147_483_647;
const HUGE = [INT32_MAX + 1, 1e20];

let sys: TestSystem;
let key: string;
let api: ReturnType<typeof restClient>;
let anon: ReturnType<typeof restClient>;
let vizId: string;
let projectId: string;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  const user = await sys.createUser('Nina');
  key = user.apiKey;
  api = restClient(sys.url, key);
  anon = restClient(sys.url);
  // A finished visualization with two commits and a project, written directly: only their ids and pages matter here.
  vizId = newId('visualization');
  await sys.services.db.visualization.create({
    data: { id: vizId, ownerId: user.userId, repositoryUrl: 'https://example.com/r.git', analysisDepth: 'full', options: { maxCommits: 10 }, status: 'completed', completedAt: new Date() },
  });
  await sys.services.db.visualizationCommit.createMany({
    data: ['a1', 'b2'].map((sha, i) => ({
      visualizationId: vizId, sha: sha.repeat(20), author: 'nina@example.com', authorName: 'Nina', message: `commit ${i}`,
      timestamp: new Date(Date.UTC(2025, 0, 1 + i)), parents: [], filesChanged: 1, insertions: 1, deletions: 0, branches: ['main'],
    })),
  });
  projectId = (await api.post('/v1/projects', { name: 'numbers' })).body.id;
  expect(projectId).toMatch(/^prj_/);
});
afterAll(() => sys?.close());

/** Rows a refused request must not have written. */
async function writes() {
  const db = sys.services.db;
  const [tasks, orchestrations, visualizations, shares, subscriptions, charges] = await Promise.all([
    db.agentTask.count(), db.orchestration.count(), db.visualization.count(), db.visualizationShare.count(), db.paidPlan.count(), db.billingCharge.count(),
  ]);
  return { tasks, orchestrations, visualizations, shares, subscriptions, charges };
}

function expect422(res: { status: number; headers: Headers; body: any }, field: string, label: string) {
  expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(422);
  expect(res.body.error.code, label).toBe('validation_error');
  expect(res.body.error.details[0].field, label).toBe(field);
  expect(res.body.error.details[0].message, label).toMatch(/^(\(header\) )?must be /);
  expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
}

const card = (exp: { exp_month?: number; exp_year?: number }) => ({ new_tier: 'team', payment_method: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, ...exp } });

describe('REST bodies', () => {
  // [what, path, body with the number, field, just past the rule, what a request without a credential gets for a number past 32 bits]
  const cases: Array<[string, () => string, (n: number) => unknown, string, () => number, 401 | 422]> = [
    ['timeout_seconds', () => '/v1/agents/execute', (n) => executeBody([cleanJs], { timeout_seconds: n }), 'timeout_seconds', () => sys.config.TASK_MAX_TIMEOUT_SECONDS + 1, 422],
    ['max_tokens', () => '/v1/agents/execute', (n) => executeBody([cleanJs], { max_tokens: n }), 'max_tokens', () => 200_001, 422],
    [
      'an orchestration timeout_seconds',
      () => '/v1/agents/orchestrate',
      (n) => ({ goal: 'Check it', agents: ['security_expert'], context: { files: [cleanJs] }, timeout_seconds: n }),
      'timeout_seconds',
      () => sys.config.TASK_MAX_TIMEOUT_SECONDS + 1,
      422,
    ],
    ['max_commits', () => '/v1/visualize/repository', (n) => ({ repository_url: 'https://example.com/r.git', options: { max_commits: n } }), 'options.max_commits', () => 50_001, 422],
    ['expires_in_days', () => `/v1/visualize/${vizId}/share`, (n) => ({ expires_in_days: n }), 'expires_in_days', () => 366, 422],
    ["a card's exp_year", () => '/v1/subscription/upgrade', (n) => card({ exp_year: n }), 'payment_method.exp_year', () => 2101, 422],
    ["a card's exp_month", () => '/v1/subscription/upgrade', (n) => card({ exp_month: n }), 'payment_method.exp_month', () => 13, 422],
    ['a scaffold port', () => '/v1/generations/scaffold', (n) => ({ name: 'svc', template: 'http_service', options: { port: n } }), 'options.port', () => 65_536, 422],
    ['chat max_tokens', () => '/v1/chat', (n) => ({ messages: [{ role: 'user', content: 'hi' }], max_tokens: n }), 'max_tokens', () => 32_001, 401],
  ];

  it.each(cases)('%s: past its bound and past 32 bits → 422 naming it, nothing written', async (_what, path, body, field, justPast, withoutCredential) => {
    const before = await writes();
    for (const n of [justPast(), ...HUGE]) {
      const res = await api.post(path(), body(n));
      expect422(res, field, `${path()} ${n}`);
      // Past what the field's type holds, the route's schema refuses it before authentication; within it, the
      // service's rule runs after authentication, so a caller without a credential learns nothing from it.
      const anonymous = await anon.post(path(), body(n));
      if (withoutCredential === 422 && n > INT32_MAX) expect422(anonymous, field, `${path()} ${n} without a credential`);
      else expect([anonymous.status, anonymous.body.error.code], `${path()} ${n} without a credential`).toEqual([401, 'authentication_required']);
    }
    // A huge number as the client wrote it, not as JavaScript would print it.
    const raw = JSON.stringify(body(7)).replace(/:7([,}])/, ':99999999999999999999$1');
    expect422(await api.post(path(), raw, { 'content-type': 'application/json' }), field, `${path()} raw`);
    expect(await writes()).toEqual(before);
  });

  it('accepts the bounds themselves', async () => {
    const before = await writes();
    const res = await api.post('/v1/agents/execute', executeBody([cleanJs], { timeout_seconds: sys.config.TASK_MAX_TIMEOUT_SECONDS, max_tokens: 200_000 }));
    expect(res.status).toBe(202);
    expect((await api.post(`/v1/visualize/${vizId}/share`, { expires_in_days: 365 })).status).toBe(201);
    expect(await writes()).toMatchObject({ tasks: before.tasks + 1, shares: before.shares + 1 });
  });

  it('reports a bad number together with the service’s other findings', async () => {
    const res = await api.post('/v1/subscription/upgrade', { new_tier: 'team', payment_method: { brand: 'visa', last4: '42', exp_month: 13, exp_year: 2030 } });
    expect(res.status).toBe(422);
    expect(res.body.error.details.map((d: any) => d.field)).toEqual(['payment_method.last4', 'payment_method.exp_month']);
  });
});

describe('REST query parameters and cursors', () => {
  const cases: Array<[string, () => string, string]> = [
    ['limit', () => '/v1/agents/tasks?limit={n}', 'limit'],
    ['limit of another list', () => '/v1/webhooks?limit={n}', 'limit'],
    ['starting_after', () => '/v1/agents/tasks?starting_after={n}', 'starting_after'],
    ['ending_before', () => '/v1/generations?ending_before={n}', 'ending_before'],
    ['an offset cursor as starting_after', () => '/v1/agents/orchestrations?starting_after=o:{n}', 'starting_after'],
    ['commits offset', () => `/v1/visualize/${vizId}/commits?offset={n}`, 'offset'],
    ['commits limit', () => `/v1/visualize/${vizId}/commits?limit={n}`, 'limit'],
    ['index events since', () => `/v1/projects/${projectId}/index/events?since={n}`, 'since'],
    ['index events limit', () => `/v1/projects/${projectId}/index/events?limit={n}`, 'limit'],
    ['search limit', () => `/v1/projects/${projectId}/search?q=x&limit={n}`, 'limit'],
  ];
  const values = ['2147483648', '99999999999999999999', '-1', '1.5', 'abc', '1e400'];

  it.each(cases)('%s: %s', async (_what, template, field) => {
    for (const value of values) {
      const path = template().replace('{n}', value);
      expect422(await api.get(path), field, path);
      expect422(await anon.get(path), field, `${path} without a credential`);
    }
  });

  it('accepts the bounds themselves', async () => {
    expect((await api.get('/v1/agents/tasks?limit=100')).status).toBe(200);
    const commits = await api.get(`/v1/visualize/${vizId}/commits?offset=${INT32_MAX}&limit=10000`);
    expect(commits.status).toBe(200);
    expect(commits.body).toMatchObject({ commits: [], total: 2, offset: INT32_MAX, has_more: false });
    expect((await api.get(`/v1/visualize/${vizId}/commits?offset=1`)).body.commits).toHaveLength(1);
    expect((await api.get(`/v1/projects/${projectId}/index/events?since=${INT32_MAX}&limit=500`)).body).toMatchObject({ data: [] });
  });
});

describe('resuming streams', () => {
  it('Last-Event-ID past 32 bits → 422 before anything runs', async () => {
    const before = await writes();
    for (const id of ['2147483648', '99999999999999999999', '-1', '1e3']) {
      const res = await api.get(`/v1/reviews/${newId('review')}`, { accept: 'text/event-stream', 'last-event-id': id });
      expect422(res, 'last-event-id', `Last-Event-ID ${id}`);
      expect422(await anon.get(`/v1/reviews/${newId('review')}`, { accept: 'text/event-stream', 'last-event-id': id }), 'last-event-id', `Last-Event-ID ${id} without a credential`);
    }
    expect(await writes()).toEqual(before);
  });

  it('the task stream’s ?since= past 32 bits → 422 before the upgrade, with or without a token', async () => {
    const taskId = newId('task');
    for (const since of ['2147483648', '99999999999999999999', '-1', '1.5', '1e3', 'abc']) {
      for (const token of [`&token=${key}`, '']) {
        const res = await collectWs(`${sys.wsUrl}/v1/agents/tasks/${taskId}/stream?since=${since}${token}`);
        expect(res.unexpected?.status, `since=${since}${token ? '' : ' without a token'}`).toBe(422);
        expect(res.unexpected?.body.error).toMatchObject({ code: 'validation_error', details: [{ field: 'since' }] });
      }
    }
  });
});

describe('GraphQL over HTTP', () => {
  const EXECUTE = 'mutation($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { task { id } } }';
  const task = (extra: Record<string, unknown>) => ({ task: 'Check it', agentType: 'security_expert', context: { files: [cleanJs] }, ...extra });

  function expectValidation(res: { status: number; body: any }, field: string, label: string) {
    expect(res.status, label).toBeLessThan(500);
    const error = res.body.errors?.[0];
    expect(error?.extensions.code, `${label}: ${JSON.stringify(res.body)}`).toBe('VALIDATION_ERROR');
    expect(error.extensions.details[0].field, label).toBe(field);
    expect(error.extensions.requestId, label).toMatch(/^req_/);
  }

  // [what, query, variables for a number, field, just past the rule (where the service names the field as GraphQL does)]
  const cases: Array<[string, string, (n: number) => Record<string, unknown> | undefined, string, number | null]> = [
    ['timeoutSeconds', EXECUTE, (n) => ({ input: task({ timeoutSeconds: n }) }), 'timeoutSeconds', 3601],
    ['maxTokens', EXECUTE, (n) => ({ input: task({ maxTokens: n }) }), 'maxTokens', 200_001],
    ['first', 'query($n: Int) { tasks(first: $n) { edges { node { id } } } }', (n) => ({ n }), 'first', 101],
    [
      'maxCommits',
      'mutation($input: StartVisualizationInput!) { startVisualization(input: $input) { replayed } }',
      (n) => ({ input: { repositoryUrl: 'https://example.com/r.git', options: { maxCommits: n } } }),
      'options.maxCommits',
      null, // past the rule, the service names it options.max_commits, as REST callers spell it
    ],
    ['expiresInDays', 'mutation($id: ID!, $d: Int) { createVisualizationShare(visualizationId: $id, input: {expiresInDays: $d}) { replayed } }', (n) => ({ id: vizId, d: n }), 'expiresInDays', null],
    [
      'expYear',
      'mutation($input: UpgradeSubscriptionInput!) { upgradeSubscription(input: $input) { message } }',
      (n) => ({ input: { newTier: 'team', paymentMethod: { brand: 'visa', last4: '4242', expMonth: 12, expYear: n } } }),
      'paymentMethod.expYear',
      null, // past the rule: payment_method.exp_year, as above
    ],
    ['indexEvents since', 'query($id: ID!, $s: Int) { project(id: $id) { indexEvents(since: $s) { seq } } }', (n) => ({ id: projectId, s: n }), 'since', -1],
  ];

  it.each(cases)('%s: past its bound and past 32 bits → VALIDATION_ERROR naming it, nothing written', async (_what, query, variables, field, justPast) => {
    const before = await writes();
    for (const n of [...(justPast === null ? [] : [justPast]), ...HUGE]) {
      expectValidation(await graphql(sys.url, key, query, variables(n)), field, `${field} ${n}`);
      if (n > INT32_MAX) expectValidation(await graphql(sys.url, null, query, variables(n)), field, `${field} ${n} without a credential`);
    }
    expect(await writes()).toEqual(before);
  });

  it('names the argument of a bad literal in the document, with or without a credential', async () => {
    const queries: Array<[string, string]> = [
      ['{ tasks(first: 2147483648) { edges { node { id } } } }', 'first'],
      ['{ tasks(last: 99999999999999999999) { edges { node { id } } } }', 'last'],
      ['mutation { executeAgentTask(input: {task: "x", agentType: "security_expert", timeoutSeconds: 2147483648}) { task { id } } }', 'timeoutSeconds'],
      [`{ visualization(id: "${newId('visualization')}") { commits(first: 2147483648) { totalCount } } }`, 'first'],
    ];
    for (const [query, field] of queries) {
      expectValidation(await graphql(sys.url, key, query), field, query);
      expectValidation(await graphql(sys.url, null, query), field, `${query} without a credential`);
    }
  });

  it('refuses offset cursors of a visualization’s commits that are not ours, and pages with the ones that are', async () => {
    const query = 'query($id: ID!, $after: String) { visualization(id: $id) { commits(first: 1, after: $after) { edges { cursor node { sha } } } } }';
    for (const after of ['o:99999999999999999999', `o:${INT32_MAX}`, 'o:-1', 'o:abc', '12']) {
      expectValidation(await graphql(sys.url, key, query, { id: vizId, after }), 'after', after);
    }
    const first = await graphql(sys.url, key, query, { id: vizId });
    const cursor = first.body.data.visualization.commits.edges[0].cursor;
    const next = await graphql(sys.url, key, query, { id: vizId, after: cursor });
    expect(next.body.data.visualization.commits.edges).toHaveLength(1);
    expect(next.body.data.visualization.commits.edges[0].node.sha).not.toBe(first.body.data.visualization.commits.edges[0].node.sha);
  });

  it('is not priced as a huge page: a bad first is a validation error, not a query too expensive to run', async () => {
    const res = await graphql(sys.url, key, 'query($n: Int) { tasks(first: $n) { edges { node { id } } } }', { n: 1e20 });
    expectValidation(res, 'first', 'first 1e20');
    expect((res.body as { extensions?: { cost?: unknown } }).extensions?.cost).toBeUndefined();
  });
});

describe('GraphQL over WebSocket', () => {
  it('a subscription with since past 32 bits → VALIDATION_ERROR naming it', async () => {
    for (const since of HUGE) {
      const res = await subscribeGraphql(sys.wsUrl, key, 'subscription($id: ID!, $since: Int) { taskEvents(taskId: $id, since: $since) { seq } }', { id: newId('task'), since });
      expect(res.errors[0]?.extensions?.code, JSON.stringify(res.errors)).toBe('VALIDATION_ERROR');
      expect(res.errors[0].extensions.details[0].field).toBe('since');
    }
    const literal = await subscribeGraphql(sys.wsUrl, key, `subscription { taskEvents(taskId: "${newId('task')}", since: 2147483648) { seq } }`, {});
    expect(literal.errors[0]?.extensions?.code, JSON.stringify(literal.errors)).toBe('VALIDATION_ERROR');
    expect(literal.errors[0].extensions.details[0].field).toBe('since');
    expect(sys.logs.join('\n')).not.toMatch(/unexpected error in a GraphQL operation/);
  });
});

describe('the OpenAPI document', () => {
  it('declares the bounds', async () => {
    const doc = (await api.get('/v1/openapi.json')).body;
    const execute = doc.paths['/v1/agents/execute'].post.requestBody.content['application/json'].schema.properties;
    const int = (s: any) => (s.anyOf ? s.anyOf.find((x: any) => x.type === 'integer') : s);
    expect(int(execute.timeout_seconds)).toMatchObject({ type: 'integer', minimum: 1, maximum: INT32_MAX });
    expect(int(execute.max_tokens)).toMatchObject({ type: 'integer', minimum: 1, maximum: 200_000 });
    const upgrade = doc.paths['/v1/subscription/upgrade'].post.requestBody.content['application/json'].schema.properties.payment_method.properties;
    expect(upgrade.exp_year).toMatchObject({ type: 'integer', minimum: 2000, maximum: 2100 });
    const commits = doc.paths['/v1/visualize/{visualization_id}/commits'].get.parameters;
    expect(commits.find((p: any) => p.name === 'offset').schema).toMatchObject({ type: 'integer', minimum: 0, maximum: INT32_MAX });
    const review = doc.paths['/v1/reviews/{review_id}'].get.parameters;
    expect(review.find((p: any) => p.name === 'Last-Event-ID').schema).toMatchObject({ type: 'integer', minimum: 0, maximum: INT32_MAX });
  });
});

describe('logs', () => {
  it('hold no unexpected error from any of the above', () => {
    const text = sys.logs.join('\n');
    expect(text).not.toMatch(/"level":50/); // pino's error level
  });
});
