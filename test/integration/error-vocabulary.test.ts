/**
 * The error vocabulary a client of either shape understands: a real 429 and a real 402 carry their
 * limit fields at the top of `error` and in `details`; `documentation_url` and `doc_url` both point
 * at the reference the gateway serves (or DOCS_URL), whose anchor for the code exists; the
 * reference lists every code of the table; `Codex-Error-Codes: upper` switches `error.code` (also a
 * failed task's), a value it does not know is a 400; a failed task's GET stays 200 in both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, type ErrorCode } from '../../src/errors.js';
import { collectWs, restClient } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
});
afterAll(() => sys?.close());

const UPPER = { 'Codex-Error-Codes': 'upper' };

/** A user whose limits are `tier`'s plan with these overrides. */
async function userWith(tier: string, overrides: Record<string, number>) {
  const user = await sys.createUser(`vocabulary-${tier}`, { tier });
  await sys.services.db.accountLimits.create({ data: { userId: user.userId, ...overrides } });
  return user;
}

/** The reference page a link points at (without its anchor), and the anchor. */
async function resolveLink(link: string) {
  const url = new URL(link);
  const anchor = decodeURIComponent(url.hash.slice(1));
  url.hash = '';
  const res = await fetch(url, { headers: { accept: 'text/html' } });
  return { status: res.status, html: await res.text(), anchor };
}

describe('limit refusals', () => {
  it('a real 429 carries retry_after, tier, limit and reset_at at the top of error and in details, with Retry-After', async () => {
    const { apiKey } = await userWith('team', { requestsPerMinute: 1, concurrent: 100 });
    const api = restClient(sys.url, apiKey);
    expect((await api.get('/v1/agents/tasks')).status).toBe(200);
    const refused = await api.get('/v1/agents/tasks');
    expect(refused.status).toBe(429);
    const { error } = refused.body;
    expect(error).toMatchObject({
      code: 'rate_limit_exceeded',
      retry_after: expect.any(Number),
      tier: 'team',
      limit: 1,
      reset_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      details: { window: 'minute' },
    });
    for (const field of ['retry_after', 'tier', 'limit', 'reset_at']) expect(error[field]).toEqual(error.details[field]);
    expect(String(error.retry_after)).toBe(refused.headers.get('retry-after'));
    expect(error.documentation_url).toBe(`${sys.url}/docs/errors#rate_limit_exceeded`);
    expect(error.doc_url).toBe(error.documentation_url);
  });

  it('a real 402 carries the plan and usage at the top of error and in details', async () => {
    const { apiKey } = await userWith('free', { requestsPerMonth: 1, requestsPerMinute: 1000, requestsPerHour: 1000, concurrent: 100 });
    const api = restClient(sys.url, apiKey);
    expect((await api.get('/v1/agents/tasks')).status).toBe(200);
    const refused = await api.get('/v1/agents/tasks');
    expect(refused.status).toBe(402);
    const expected = { current_tier: 'free', requests_used: 1, requests_limit: 1, upgrade_url: 'https://codex.ai/pricing' };
    expect(refused.body.error).toMatchObject({ code: 'insufficient_credits', ...expected, details: expected });
    expect(refused.body.error.doc_url).toBe(`${sys.url}/docs/errors#insufficient_credits`);
    // In the upper-case vocabulary the code changes, nothing else does.
    const upper = await api.get('/v1/agents/tasks', UPPER);
    expect(upper.status).toBe(402);
    expect(upper.body.error).toMatchObject({ code: 'INSUFFICIENT_CREDITS', ...expected, doc_url: refused.body.error.doc_url });
  });

  it('an error without limit fields has none at the top', async () => {
    const { apiKey } = await sys.createUser('no-limit-fields');
    const res = await restClient(sys.url, apiKey).get('/v1/agents/tasks/task_unknown');
    expect(res.status).toBe(404);
    expect(Object.keys(res.body.error).sort()).toEqual(['code', 'doc_url', 'documentation_url', 'message', 'request_id']);
  });
});

describe('the error reference', () => {
  it('both links of an error resolve to the served reference, with the code anchor on the page', async () => {
    const res = await restClient(sys.url).get('/v1/agents/tasks');
    expect(res.status).toBe(401);
    for (const link of [res.body.error.documentation_url, res.body.error.doc_url]) {
      const page = await resolveLink(link);
      expect(page.status).toBe(200);
      expect(page.anchor).toBe('authentication_required');
      expect(page.html).toContain(`id="${page.anchor}"`);
    }
  });

  it('lists every code of the error table with its status, meaning and fix, as HTML, JSON and Markdown', async () => {
    const codes = Object.keys(errorCodes) as ErrorCode[];
    const html = await fetch(`${sys.url}/docs/errors`);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await html.text();
    const json = await restClient(sys.url).get('/docs/errors', { accept: 'application/json' });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.body.codes.map((e: { code: string }) => e.code)).toEqual(codes);
    const markdown = await restClient(sys.url).get('/docs/errors', { accept: 'text/markdown, text/html;q=0.5' });
    expect(markdown.headers.get('content-type')).toMatch(/^text\/markdown/);
    for (const code of codes) {
      const { status, description, fix, upper } = errorCodes[code];
      expect(page, code).toContain(`<section id="${code}">`);
      expect(fix.length, `${code} has no fix`).toBeGreaterThan(10);
      expect(json.body.codes.find((e: { code: string }) => e.code === code)).toEqual({
        code,
        status,
        graphql_code: errorCodes[code].graphql,
        upper_code: upper,
        description,
        fix,
        top_level_fields: [...errorCodes[code].lifted],
      });
      expect(markdown.body, code).toContain(`## ${code}\n\nStatus ${status}.`);
    }
    // Text from the table is escaped in HTML.
    expect(page).toContain('&quot;Authorization: Bearer &lt;key or token&gt;&quot;');
  });
});

describe('DOCS_URL', () => {
  it('replaces the default base: {code} in it is replaced by the code', async () => {
    const other = await startTestSystem({ worker: false, env: { DOCS_URL: 'https://docs.example.com/errors/{code}' } });
    try {
      const res = await restClient(other.url).get('/v1/agents/tasks');
      expect(res.body.error).toMatchObject({
        code: 'authentication_required',
        documentation_url: 'https://docs.example.com/errors/authentication_required',
        doc_url: 'https://docs.example.com/errors/authentication_required',
      });
    } finally {
      await other.close();
    }
  });
});

describe('Codex-Error-Codes', () => {
  it('upper switches error.code to the upper-case vocabulary; the link keeps the code anchor', async () => {
    const anonymous = await restClient(sys.url).get('/v1/agents/tasks', UPPER);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toMatchObject({ code: 'UNAUTHORIZED', doc_url: `${sys.url}/docs/errors#authentication_required` });
    const { apiKey } = await sys.createUser('upper');
    const api = restClient(sys.url, apiKey);
    const missing = await api.get('/v1/agents/tasks/task_unknown', UPPER);
    expect([missing.status, missing.body.error.code]).toEqual([404, 'NOT_FOUND']);
    const invalid = await api.post('/v1/agents/execute', { agent_type: 'security_expert' }, UPPER);
    expect([invalid.status, invalid.body.error.code]).toEqual([422, 'INVALID_REQUEST']);
    expect(invalid.body.error.details).toEqual([{ field: 'task', message: 'is required' }]);
    const malformed = await api.post('/v1/agents/execute', '{not json', { ...UPPER, 'content-type': 'application/json' });
    expect([malformed.status, malformed.body.error.code]).toEqual([400, 'INVALID_REQUEST']);
    // Without the header (or with "snake") the same refusal keeps the snake_case code.
    expect((await api.get('/v1/agents/tasks/task_unknown')).body.error.code).toBe('resource_not_found');
    expect((await api.get('/v1/agents/tasks/task_unknown', { 'Codex-Error-Codes': 'Snake' })).body.error.code).toBe('resource_not_found');
  });

  it('upper also applies to a 429 and to the refusal of a WebSocket upgrade', async () => {
    const { apiKey } = await userWith('pro', { requestsPerMinute: 1, concurrent: 100 });
    const api = restClient(sys.url, apiKey);
    await api.get('/v1/agents/tasks');
    const refused = await api.get('/v1/agents/tasks', UPPER);
    expect(refused.body.error).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED', tier: 'pro', limit: 1, retry_after: expect.any(Number) });
    const socket = await collectWs(`${sys.wsUrl}/v1/agents/tasks/task_x/stream`, undefined, UPPER);
    expect(socket.unexpected?.status).toBe(401);
    expect(socket.unexpected?.body.error).toMatchObject({ code: 'UNAUTHORIZED', doc_url: `${sys.url}/docs/errors#authentication_required` });
  });

  it('a value it does not know is a 400 invalid_request naming the header, and the request changes nothing', async () => {
    const { apiKey, userId } = await sys.createUser('bad-vocabulary');
    const api = restClient(sys.url, apiKey);
    const res = await api.post('/v1/agents/execute', executeBody(), { 'Codex-Error-Codes': '2024-11-01' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'invalid_request',
      message: expect.stringContaining('Codex-Error-Codes header must be "snake" or "upper"'),
      details: { header: 'Codex-Error-Codes', allowed: ['snake', 'upper'] },
    });
    expect(await sys.services.db.agentTask.count({ where: { ownerId: userId } })).toBe(0);
    const socket = await collectWs(`${sys.wsUrl}/v1/agents/tasks/task_x/stream?token=${apiKey}`, undefined, { 'Codex-Error-Codes': 'shout' });
    expect(socket.unexpected?.status).toBe(400);
    expect(socket.unexpected?.body.error.code).toBe('invalid_request');
  });
});

describe('a failed agent task', () => {
  it('answers GET with 200 and its error, in either vocabulary', async () => {
    const { apiKey } = await sys.createUser('failed-task');
    const api = restClient(sys.url, apiKey);
    const created = await api.post('/v1/agents/execute', executeBody());
    expect(created.status).toBe(202);
    const taskId = created.body.task_id as string;
    // The agent's failure, as the workflow records it.
    await sys.services.db.agentTask.update({
      where: { id: taskId },
      data: { status: 'failed', completedAt: new Date(), error: { code: 'agent_error', message: 'The model provider answered 500.' } },
    });
    const plain = await api.get(`/v1/agents/tasks/${taskId}`);
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ task_id: taskId, status: 'failed', error: { code: 'agent_error', message: 'The model provider answered 500.' } });
    const upper = await api.get(`/v1/agents/tasks/${taskId}`, UPPER);
    expect(upper.status).toBe(200);
    expect(upper.body).toMatchObject({ status: 'failed', error: { code: 'AGENT_ERROR', message: 'The model provider answered 500.' } });
  });
});
