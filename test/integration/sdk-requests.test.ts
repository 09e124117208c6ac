/**
 * Requests as SDKs really send them: `Content-Type: application/json` with an empty body on a
 * DELETE or a body-less POST (accepted; invalid JSON still the 400 envelope), and urql's default
 * client (queries over GET with its Accept header) against the running gateway: queries run,
 * a GET without a preflight header is refused naming the header, and a mutation over GET is 405.
 */
import { Client, fetchExchange, gql } from '@urql/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let user: { userId: string; apiKey: string };

beforeAll(async () => {
  sys = await startTestSystem();
  user = await sys.createUser('Sdk');
});
afterAll(() => sys?.close());

const json = { 'content-type': 'application/json' };

describe('an empty body with Content-Type: application/json', () => {
  it('is no body: a DELETE and a body-less POST are accepted', async () => {
    const api = restClient(sys.url, user.apiKey);
    const team = await api.post('/v1/teams', { name: 'Empty bodies' });
    expect(team.status).toBe(201);
    const removed = await api.request('DELETE', `/v1/teams/${team.body.id}`, '', json);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body).toMatchObject({ id: team.body.id, deleted: true });
    // Whitespace only is empty too.
    const decline = await api.request('POST', '/v1/invitations/inv_0000000000000000000000/decline', ' \n', json);
    expect(decline.status, JSON.stringify(decline.body)).toBe(404);
    expect(decline.body.error.code).toBe('resource_not_found');
  });

  it('a route that needs a body answers 422 naming it, and invalid JSON is still the 400 envelope', async () => {
    const api = restClient(sys.url, user.apiKey);
    const missing = await api.request('POST', '/v1/teams', '', json);
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe('validation_error');
    const broken = await api.request('POST', '/v1/teams', '{"name":', json);
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('not valid JSON') });
    const poisoned = await api.request('POST', '/v1/teams', '{"__proto__":{"x":1},"name":"p"}', json);
    expect(poisoned.status).toBe(400);
  });
});

describe('urql with its defaults', () => {
  const client = (apiKey: string) =>
    new Client({ url: `${sys.url}/graphql`, exchanges: [fetchExchange], fetchOptions: { headers: { authorization: `Bearer ${apiKey}` } } });

  it('runs a query over GET (its default for queries)', async () => {
    const sent: Array<{ method: string; accept: string | null }> = [];
    const recording = new Client({
      url: `${sys.url}/graphql`,
      exchanges: [fetchExchange],
      fetchOptions: { headers: { authorization: `Bearer ${user.apiKey}` } },
      fetch: (input, init) => {
        sent.push({ method: init?.method ?? 'GET', accept: new Headers(init?.headers).get('accept') });
        return fetch(input, init);
      },
    });
    const result = await recording.query(gql`query Me { viewer { id } }`, {}).toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data).toEqual({ viewer: { id: user.userId } });
    expect(sent).toEqual([{ method: 'GET', accept: expect.stringContaining('application/graphql-response+json') }]);
  });

  it('runs a mutation as a POST', async () => {
    const result = await client(user.apiKey).mutation(gql`mutation T($input: CreateTeamInput!) { createTeam(input: $input) { team { name } } }`, { input: { name: 'urql' } }).toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data.createTeam.team.name).toBe('urql');
  });

  it('refuses a GET query without a preflight header, naming the header to send', async () => {
    const res = await fetch(`${sys.url}/graphql?query=${encodeURIComponent('{ viewer { id } }')}`, { headers: { authorization: `Bearer ${user.apiKey}`, accept: 'application/json' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: unknown };
    expect(body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('Accept: application/graphql-response+json') });
    const signals: Array<Record<string, string>> = [{ 'apollo-require-preflight': 'true' }, { 'x-apollo-operation-name': 'Me' }, { 'content-type': 'application/json' }];
    for (const headers of signals) {
      const ok = await fetch(`${sys.url}/graphql?query=${encodeURIComponent('{ viewer { id } }')}`, { headers: { authorization: `Bearer ${user.apiKey}`, accept: 'application/json', ...headers } });
      expect(ok.status, JSON.stringify(headers)).toBe(200);
    }
  });

  it('refuses a mutation over GET with 405, even with urql\'s headers, and runs nothing', async () => {
    const mutation = 'mutation { createTeam(input: { name: "over GET" }) { team { id } } }';
    const res = await fetch(`${sys.url}/graphql?query=${encodeURIComponent(mutation)}`, {
      headers: { authorization: `Bearer ${user.apiKey}`, accept: 'application/graphql-response+json, application/json' },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({ code: 'method_not_allowed', message: expect.stringContaining('send it as a POST') });
    const teams = await restClient(sys.url, user.apiKey).get('/v1/teams');
    expect(teams.body.data.map((t: { name: string }) => t.name)).not.toContain('over GET');
  });
});
