/**
 * A gateway with no model provider: scaffolds come from the built-in templates (each archive is
 * unzipped, typechecked, built and its own node:test suite run, offline), while generation, retry
 * and chat answer model_not_configured (503) and write nothing.
 */
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { graphql, restClient } from '../helpers/client.js';
import { buildScaffold } from '../helpers/scaffold.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let apiKey: string;
let userId: string;

beforeAll(async () => {
  sys = await startTestSystem();
  ({ apiKey, userId } = await sys.createUser('Scaffolder'));
});
afterAll(() => sys?.close());

async function scaffold(body: unknown) {
  const res = await fetch(`${sys.url}/v1/generations/scaffold`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res;
}

describe('POST /v1/generations/scaffold', () => {
  it.each([
    ['http_service', 'orders-api', { port: 8081, resources: ['orders', 'line-items'] }, ['src/server.ts', 'src/routes/orders.ts', 'src/routes/line-items.ts', 'test/server.test.ts']],
    ['cli', 'todo-cli', { commands: ['add', 'list-all'] }, ['src/cli.ts', 'src/run.ts', 'src/commands/add.ts', 'src/commands/list-all.ts', 'test/cli.test.ts']],
    ['library', 'text-kit', { modules: ['slug', 'word-count'] }, ['src/index.ts', 'src/slug.ts', 'src/word-count.ts', 'test/slug.test.ts', 'test/word-count.test.ts']],
  ] as const)('%s: a ZIP that typechecks, builds and passes its own tests', async (template, name, options, expected) => {
    const res = await scaffold({ name, template, description: `The ${name} project`, options });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${name}.zip"`);
    expect(res.headers.get('x-scaffold-model')).toBe('none'); // no model configured: the template alone
    const zip = await JSZip.loadAsync(Buffer.from(await res.arrayBuffer()));
    const paths = Object.keys(zip.files).filter((p) => !zip.files[p].dir);
    for (const p of ['package.json', 'tsconfig.json', 'README.md', ...expected]) expect(paths).toContain(`${name}/${p}`);
    expect(paths.some((p) => p.endsWith('feature.ts'))).toBe(false);
    const pkg = JSON.parse(await zip.file(`${name}/package.json`)!.async('string'));
    expect(pkg).toMatchObject({ name, type: 'module', description: `The ${name} project` });
    const output = await buildScaffold(zip, name);
    expect(output).toMatch(/# fail 0/);
    expect(Number(/# pass (\d+)/.exec(output)![1])).toBeGreaterThanOrEqual(expected.filter((p) => p.startsWith('test/')).length + 1);
  }, 120_000);

  it('uses the port option in the http service', async () => {
    const zip = await JSZip.loadAsync(Buffer.from(await (await scaffold({ name: 'svc', template: 'http_service', options: { port: 9099 } })).arrayBuffer()));
    expect(await zip.file('svc/src/index.ts')!.async('string')).toContain('process.env.PORT ?? 9099');
  });

  it('is also a GraphQL mutation (the archive base64)', async () => {
    const res = await graphql(sys.url, apiKey, 'mutation { scaffoldProject(input: { name: "lib", template: "library" }) { filename files modelUsed archiveBase64 } }');
    const s = res.body.data!.scaffoldProject;
    expect(s).toMatchObject({ filename: 'lib.zip', modelUsed: false });
    const zip = await JSZip.loadAsync(Buffer.from(s.archiveBase64, 'base64'));
    expect(Object.keys(zip.files).filter((p) => !zip.files[p].dir).sort()).toEqual([...s.files].sort());
  });

  it('refuses bad input with the field and how to fix it', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ name: 'Bad Name', template: 'cli' }, 'name', 'npm package name'],
      [{ template: 'cli' }, 'name', 'is required'],
      [{ name: 'x', template: 'mobile_app' }, 'template', 'http_service'],
      [{ name: 'x', template: 'cli', language: 'python' }, 'language', 'must be typescript'],
      [{ name: 'x', template: 'http_service', options: { commands: ['go'] } }, 'options.commands', 'does not apply to the http_service template'],
      [{ name: 'x', template: 'cli', options: { commands: ['delete'] } }, 'options.commands.0', 'reserved word'],
      [{ name: 'x', template: 'cli', options: { commands: ['a', 'a'] } }, 'options.commands', 'names "a" twice'],
      [{ name: 'x', template: 'http_service', options: { resources: ['health'] } }, 'options.resources', 'must not include "health"'],
      [{ name: 'x', template: 'http_service', options: { port: 70000 } }, 'options.port', 'from 1 to 65535'],
      [{ name: 'x', template: 'library', options: { modules: ['Has Space'] } }, 'options.modules.0', 'lower-case'],
      [{ name: 'x', template: 'library', options: { colour: 'red' } }, 'options.colour', 'is not a known body field'],
    ];
    for (const [body, field, message] of cases) {
      const res = await scaffold(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      const error = ((await res.json()) as any).error;
      expect(error.code).toBe('validation_error');
      expect(error.details, JSON.stringify(body)).toContainEqual({ field, message: expect.stringContaining(message) });
    }
    const other = await sys.createUser('Other');
    const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: other.userId, name: 'theirs' } });
    const denied = await scaffold({ name: 'x', template: 'cli', project_id: project.id });
    expect(denied.status).toBe(404);
  });
});

describe('without a model provider', () => {
  it('generation answers model_not_configured (503) saying how to configure one, and writes nothing', async () => {
    const api = restClient(sys.url, apiKey);
    const res = await api.post('/v1/generations', { prompt: 'Add two numbers', language: 'typescript' });
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'model_not_configured', message: expect.stringContaining('MODEL_BASE_URL') });
    expect(res.body.error.request_id).toBe(res.headers.get('x-request-id'));
    const gql = await graphql(sys.url, apiKey, 'mutation { createGeneration(input: { prompt: "Add" }) { generation { id } } }');
    expect(gql.body.errors?.[0]?.extensions.code).toBe('MODEL_NOT_CONFIGURED');
    expect(await sys.services.db.generation.count()).toBe(0);
  });

  it('bad input is still a validation error, checked first', async () => {
    const res = await restClient(sys.url, apiKey).post('/v1/generations', { prompt: '' });
    expect(res.status).toBe(422);
  });

  it('retry and chat answer model_not_configured too', async () => {
    const g = await sys.services.db.generation.create({ data: { id: newId('generation'), ownerId: userId, prompt: 'old', promptTokenCount: 1, status: 'failed' } });
    const retry = await restClient(sys.url, apiKey).post(`/v1/generations/${g.id}/retry`, {});
    expect(retry.status).toBe(503);
    expect(retry.body.error.code).toBe('model_not_configured');
    expect((await sys.services.db.generation.findUniqueOrThrow({ where: { id: g.id } })).attempts).toBe(1);
    const chat = await restClient(sys.url, apiKey).post('/v1/chat', { messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.status).toBe(503);
    expect(chat.body.error).toMatchObject({ code: 'model_not_configured', message: expect.stringContaining('MODEL_BASE_URL') });
  });
});
