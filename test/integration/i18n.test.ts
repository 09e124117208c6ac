/**
 * Localized error messages: `message` (and a validation error's field messages) follows
 * Accept-Language on REST and GraphQL, `code` never changes, Content-Language names the language.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { restClient } from '../helpers/client.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let api: ReturnType<typeof restClient>;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  api = restClient(sys.url, (await sys.createUser('Yamada')).apiKey);
});
afterAll(() => sys?.close());

const missingTask = () => `/v1/agents/tasks/task_${randomUUID()}`;

describe('REST errors follow Accept-Language', () => {
  it('404 in Japanese (the best q-value wins) and German, the same code, Content-Language set; English by default', async () => {
    const path = missingTask();
    const id = path.split('/').pop()!;
    const en = await api.get(path);
    expect(en.status).toBe(404);
    expect(en.body.error).toMatchObject({ code: 'resource_not_found', message: `No task with id "${id}" exists for this account.` });
    expect(en.headers.get('content-language')).toBe('en');

    const ja = await api.get(path, { 'accept-language': 'de;q=0.8, ja-JP;q=0.9' });
    expect(ja.status).toBe(404);
    expect(ja.body.error).toMatchObject({ code: 'resource_not_found', message: `ID "${id}" のタスクはこのアカウントに存在しません。` });
    expect(ja.body.error.request_id).toBe(ja.headers.get('x-request-id'));
    expect(ja.headers.get('content-language')).toBe('ja');
    expect(ja.headers.get('vary')).toMatch(/accept-language/i);

    const de = await api.get(path, { 'accept-language': 'de-AT' });
    expect(de.body.error).toMatchObject({ code: 'resource_not_found', message: `Für dieses Konto existiert kein Objekt vom Typ Aufgabe mit der ID "${id}".` });
    expect(de.headers.get('content-language')).toBe('de');
  });

  it('an unknown endpoint answers 404 in the language too', async () => {
    const res = await api.get('/v1/no-such-thing', { 'accept-language': 'es' });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'resource_not_found', message: 'No existe el endpoint GET /v1/no-such-thing. Consulte /v1/openapi.json para ver la API.' });
    expect(res.headers.get('content-language')).toBe('es');
  });

  it('422 with every field message in German and in Japanese, field names and code unchanged', async () => {
    const body = { agent_type: 'security_expert', temperature: 'hot', bogus: 1 };
    const en = await api.post('/v1/agents/execute', body);
    expect(en.status).toBe(422);
    expect(en.body.error.details).toEqual([
      { field: 'task', message: 'is required' },
      { field: 'temperature', message: 'must be number' },
      { field: 'bogus', message: 'is not a known body field' },
    ]);

    const de = await api.post('/v1/agents/execute', body, { 'accept-language': 'de' });
    expect(de.status).toBe(422);
    expect(de.headers.get('content-language')).toBe('de');
    expect(de.body.error.code).toBe('validation_error');
    expect(de.body.error.details).toEqual([
      { field: 'task', message: 'ist erforderlich' },
      { field: 'temperature', message: 'muss vom Typ number sein' },
      { field: 'bogus', message: 'ist kein bekanntes Feld des Anfragetexts' },
    ]);
    expect(de.body.error.message).toBe(
      'Die Anfrage hat 3 ungültige Felder: task: ist erforderlich; temperature: muss vom Typ number sein; bogus: ist kein bekanntes Feld des Anfragetexts.',
    );

    const ja = await api.post('/v1/agents/execute', { task: 'x', agent_type: 'security_expert', max_tokens: 0 }, { 'accept-language': 'ja' });
    expect(ja.status).toBe(422);
    expect(ja.body.error.code).toBe('validation_error');
    expect(ja.body.error.details).toHaveLength(1);
    expect(ja.body.error.details[0].field).toBe('max_tokens');
    expect(ja.body.error.details[0].message).toMatch(/[\u3040-\u30ff]/); // zod's Japanese wording of the issue
    expect(ja.body.error.message).toMatch(/^リクエストに無効なフィールドが 1 件あります: max_tokens: /);
  });

  it('429 in Japanese and German with the window, limit and retry seconds; details and code unchanged', async () => {
    const { userId, apiKey } = await sys.createUser('Limited', { tier: 'free' });
    await sys.services.db.accountLimits.create({ data: { userId, requestsPerMinute: 1 } });
    const limited = restClient(sys.url, apiKey);
    expect((await limited.get('/v1/agents/tasks')).status).toBe(200);
    const ja = await limited.get('/v1/agents/tasks', { 'accept-language': 'ja' });
    expect(ja.status).toBe(429);
    expect(ja.headers.get('content-language')).toBe('ja');
    const { retry_after: retryAfter } = ja.body.error.details;
    expect(ja.body.error).toMatchObject({ code: 'rate_limit_exceeded', details: { limit: 1, window: 'minute', tier: 'free' } });
    expect(ja.body.error.message).toBe(`レート制限を超えました: free プランでは1 分あたり 1 クレジットまでです。${retryAfter} 秒後に再試行してください。`);
    const de = await limited.get('/v1/agents/tasks', { 'accept-language': 'de' });
    expect(de.status).toBe(429);
    expect(de.body.error.code).toBe('rate_limit_exceeded');
    expect(de.body.error.message).toMatch(/^Ratenlimit überschritten: 1 Credits pro Minute im Tarif free\. Versuchen Sie es in \d+ Sekunden erneut\.$/);
  });

  it('unsupported languages and * fall back to English; q=0 excludes a language', async () => {
    const path = missingTask();
    for (const header of ['zh-CN, ko;q=0.9', '*', 'ja;q=0, pt-BR']) {
      const res = await api.get(path, { 'accept-language': header });
      expect(res.body.error.message, header).toMatch(/^No task with id/);
      expect(res.headers.get('content-language'), header).toBe('en');
    }
    const fr = await api.get(path, { 'accept-language': 'ja;q=0, fr;q=0.3, en;q=0.2' });
    expect(fr.body.error.message).toMatch(/^Aucun objet tâche avec l’identifiant/);
  });

  it('401 without a valid credential answers in the language', async () => {
    const res = await restClient(sys.url).get('/v1/agents/tasks', { 'accept-language': 'fr' });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'authentication_required', message: expect.stringMatching(/^Authentification requise/) });
    expect(res.headers.get('content-language')).toBe('fr');
  });
});

describe('GraphQL errors follow Accept-Language', () => {
  async function graphqlIn(language: string, query: string, apiKey?: string) {
    const res = await fetch(`${sys.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-language': language, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ query }),
    });
    return { headers: res.headers, body: (await res.json()) as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> } };
  }

  it('a missing task in French, extensions.code unchanged, no locale leaking into extensions', async () => {
    const { apiKey } = await sys.createUser('Dupont');
    const id = `task_${randomUUID()}`;
    const res = await graphqlIn('fr-FR, en;q=0.5', `{ task(id: "${id}") { id } }`, apiKey);
    expect(res.headers.get('content-language')).toBe('fr');
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0].message).toBe(`Aucun objet tâche avec l’identifiant "${id}" n’existe pour ce compte.`);
    expect(res.body.errors![0].extensions).toEqual({ code: 'RESOURCE_NOT_FOUND', requestId: expect.any(String) });
  });

  it('a bad credential (refused while building the context) in Spanish', async () => {
    const res = await graphqlIn('es', '{ viewer { id } }', 'cdx_sk_not_a_real_key');
    expect(res.body.errors![0].extensions.code).toBe('AUTHENTICATION_REQUIRED');
    expect(res.body.errors![0].message).toMatch(/^Se requiere autenticación/);
  });

  it('over graphql-ws, in the language of the upgrade request', async () => {
    const { apiKey } = await sys.createUser('Suzuki');
    /** ws with the Accept-Language a browser sends on the upgrade. */
    class JapaneseSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { 'accept-language': 'ja-JP,ja;q=0.9,en;q=0.8' } });
      }
    }
    const client = createClient({ url: `${sys.wsUrl}/graphql`, webSocketImpl: JapaneseSocket, connectionParams: { authorization: `Bearer ${apiKey}` }, retryAttempts: 0 });
    const id = `task_${randomUUID()}`;
    try {
      const errors = await new Promise<Array<{ message: string; extensions?: Record<string, unknown> }>>((resolve, reject) => {
        client.subscribe(
          { query: `{ task(id: "${id}") { id } }` },
          { next: (value) => resolve([...(value.errors ?? [])]), error: reject, complete: () => resolve([]) },
        );
      });
      expect(errors).toHaveLength(1);
      expect(errors[0].message).toBe(`ID "${id}" のタスクはこのアカウントに存在しません。`);
      expect(errors[0].extensions).toMatchObject({ code: 'RESOURCE_NOT_FOUND' });
      expect(errors[0].extensions).not.toHaveProperty('locale');
    } finally {
      await client.dispose();
    }
  });
});
