/**
 * What the HTTP server answers outside the route table's own work: 405 with Allow for a method a
 * known path does not answer, and /metrics kept from the world (a separate listener, or a token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const TOKEN = 'metrics-token-0123456789abcdef';
let sys: TestSystem;
let withToken: TestSystem;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false, env: { METRICS_LISTEN: '127.0.0.1:0' } });
  withToken = await startTestSystem({ worker: false, database: sys.database, env: { METRICS_TOKEN: TOKEN } });
  api = restClient(sys.url, (await sys.createUser('Surface')).apiKey);
});
afterAll(async () => {
  await withToken?.close();
  await sys?.close();
});

describe('methods a path does not answer', () => {
  it.each([
    ['PUT', '/v1/keys', ['GET', 'HEAD', 'POST']],
    ['DELETE', '/v1/health', ['GET', 'HEAD']],
    ['POST', '/v1/agents/tasks/task_01935f2e-0000-7000-8000-000000000000', ['GET', 'HEAD']],
    ['PATCH', '/v1/openapi.json', ['GET', 'HEAD']],
  ])('%s %s answers 405 with Allow, in the error envelope', async (method, path, allowed) => {
    const res = await api.request(method, path, method === 'DELETE' ? undefined : {});
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')?.split(', ')).toEqual(expect.arrayContaining(allowed));
    expect(res.headers.get('allow')).not.toContain(method);
    expect(res.body.error).toMatchObject({ code: 'method_not_allowed', message: expect.stringContaining(`does not answer ${method}`), request_id: expect.any(String) });
  });

  it('keeps 404 for unknown paths and for what a route did not find', async () => {
    expect((await api.request('PUT', '/v1/no-such-thing', {})).status).toBe(404);
    const asset = await api.get('/viz-assets/no-such.js');
    expect(asset.status).toBe(404);
    expect(asset.body.error.code).toBe('resource_not_found');
    expect((await api.get('/v1/keys')).status).toBe(200);
  });
});

describe('/metrics', () => {
  it('is not served on the main port without METRICS_TOKEN; METRICS_LISTEN serves it alone', async () => {
    const main = await restClient(sys.url).get('/metrics');
    expect(main.status).toBe(404);
    expect(JSON.stringify(main.body)).not.toContain('codex_http_request_duration_seconds');
    const { host, port } = sys.server.metricsAddress!;
    expect(host).toBe('127.0.0.1');
    const scraped = await fetch(`http://${host}:${port}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('codex_http_request_duration_seconds');
    expect((await fetch(`http://${host}:${port}/v1/keys`)).status).toBe(404);
  });

  it('answers the main port only to the METRICS_TOKEN bearer', async () => {
    expect(withToken.server.metricsAddress).toBeNull();
    const anonymous = await restClient(withToken.url).get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('authentication_required');
    expect((await restClient(withToken.url, `${TOKEN}x`).get('/metrics')).status).toBe(401);
    const userKey = (await withToken.createUser('Not the operator')).apiKey;
    expect((await restClient(withToken.url, userKey).get('/metrics')).status).toBe(401);
    const scraped = await restClient(withToken.url, TOKEN).get('/metrics');
    expect(scraped.status).toBe(200);
    expect(String(scraped.body)).toContain('codex_http_request_duration_seconds');
  });
});

describe('text PostgreSQL cannot store', () => {
  it('is refused with 422 naming the field, never a 500, and nothing is stored (found by Schemathesis: a NUL in an OAuth client name)', async () => {
    for (const [path, body, field] of [
      ['/v1/oauth/clients', { name: 'ci\u0000bot' }, 'name'],
      ['/v1/teams', { name: 'team\u0000' }, 'name'],
      ['/v1/keys', { name: 'key \u0000' }, 'name'],
    ] as const) {
      const res = await api.post(path, body);
      expect(res.status, path).toBe(422);
      expect(res.body.error.details, path).toContainEqual({ field, message: expect.stringContaining('no NUL characters') });
    }
    // An empty team id is a team that does not exist, not "no team" (also a 500 Schemathesis found).
    const noTeam = await api.post('/v1/oauth/clients', { name: 'ci', team_id: '' });
    expect([noTeam.status, noTeam.body.error.code]).toEqual([404, 'resource_not_found']);
    expect((await api.get('/v1/oauth/clients')).body.data).toEqual([]);
    expect((await api.get('/v1/teams')).body.data).toEqual([]);
    expect((await api.get('/v1/keys')).body.data).toHaveLength(1); // the key the test signs in with
  });
});
