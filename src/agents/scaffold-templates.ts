/**
 * Built-in, model-free project templates for POST /v1/generations/scaffold. Each writes a small
 * TypeScript project (ES modules, NodeNext resolution, so relative imports carry `.js`) that
 * builds with `tsc` and tests itself with node:test: its only dependencies are `typescript` and
 * `@types/node`, so it builds wherever those resolve. Names and options parameterize the files;
 * nothing here calls a model.
 */

export const SCAFFOLD_TEMPLATES = ['http_service', 'cli', 'library'] as const;
export type ScaffoldTemplate = (typeof SCAFFOLD_TEMPLATES)[number];

export interface ScaffoldFile {
  path: string;
  content: string;
}

export interface ScaffoldParams {
  /** npm package name (lower-case letters, digits, dashes). */
  name: string;
  description: string;
  /** http_service: the port it listens on by default. */
  port: number;
  /** http_service: resources with list/create/get endpoints; cli: subcommands; library: modules. */
  parts: string[];
  /** Code the model wrote for the described behaviour (src/feature.ts), when a model filled it in. */
  feature: string | null;
}

/** camelCase of a kebab/snake name: "user-accounts" → "userAccounts". */
export const camel = (s: string) => s.replace(/[-_]+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
/** PascalCase: "user-accounts" → "UserAccounts". */
export const pascal = (s: string) => camel(s).replace(/^[a-z]/, (c) => c.toUpperCase());

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "declaration": true,
    "outDir": "dist",
    "rootDir": ".",
    "types": ["node"],
    "skipLibCheck": true
  },
  "include": ["src", "test"]
}
`;

function packageJson(p: ScaffoldParams, extra: Record<string, unknown> = {}) {
  return `${JSON.stringify(
    {
      name: p.name,
      version: '0.1.0',
      description: p.description,
      type: 'module',
      main: 'dist/src/index.js',
      types: 'dist/src/index.d.ts',
      ...extra,
      scripts: { build: 'tsc -p .', typecheck: 'tsc -p . --noEmit', test: 'tsc -p . && node --test dist/test/' },
      engines: { node: '>=20' },
      devDependencies: { typescript: '^5.9.0', '@types/node': '^20.19.0' },
    },
    null,
    2,
  )}\n`;
}

function readme(p: ScaffoldParams, kind: string, usage: string) {
  const feature = p.feature ? '\n`src/feature.ts` was written by the model from the description above; review it before use.\n' : '';
  return `# ${p.name}\n\n${p.description || `A ${kind}.`}\n${feature}\n## Develop\n\n\`\`\`sh\nnpm install\nnpm test        # builds with tsc, runs the node:test suites in test/\n\`\`\`\n\n## Use\n\n${usage}\n`;
}

const GITIGNORE = 'node_modules/\ndist/\n';

function featureFiles(p: ScaffoldParams): ScaffoldFile[] {
  return p.feature ? [{ path: 'src/feature.ts', content: p.feature.endsWith('\n') ? p.feature : `${p.feature}\n` }] : [];
}
const featureExport = (p: ScaffoldParams) => (p.feature ? "export * from './feature.js';\n" : '');

function httpService(p: ScaffoldParams): ScaffoldFile[] {
  const resources = p.parts.length ? p.parts : ['items'];
  const files: ScaffoldFile[] = [
    {
      path: 'src/store.ts',
      content: `/** An in-memory store per resource; replace it with a database. */
export interface Record_ {
  id: string;
  [field: string]: unknown;
}

export class Store {
  private readonly rows = new Map<string, Record_>();
  private next = 1;

  list(): Record_[] {
    return [...this.rows.values()];
  }

  get(id: string): Record_ | undefined {
    return this.rows.get(id);
  }

  create(fields: Record<string, unknown>): Record_ {
    const row: Record_ = { ...fields, id: String(this.next++) };
    this.rows.set(row.id, row);
    return row;
  }
}
`,
    },
    {
      path: 'src/http.ts',
      content: `import type { IncomingMessage, ServerResponse } from 'node:http';

/** Sends a JSON body with a status. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a JSON object body; rejects anything else. */
export async function readJson(req: IncomingMessage, limitBytes = 1_000_000): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new HttpError(413, 'body too large');
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, 'body must be a JSON object');
  return value as Record<string, unknown>;
}

/** An error with the HTTP status to answer. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
`,
    },
    ...resources.map((r) => ({
      path: `src/routes/${r}.ts`,
      content: `import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, readJson, sendJson } from '../http.js';
import { Store } from '../store.js';

const ${camel(r)} = new Store();

/** GET /${r}, POST /${r}, GET /${r}/:id. Returns false when the path is not ours. */
export async function handle${pascal(r)}(req: IncomingMessage, res: ServerResponse, path: string[]): Promise<boolean> {
  if (path[0] !== '${r}') return false;
  if (path.length === 1 && req.method === 'GET') return sendJson(res, 200, { data: ${camel(r)}.list() }), true;
  if (path.length === 1 && req.method === 'POST') return sendJson(res, 201, ${camel(r)}.create(await readJson(req))), true;
  if (path.length === 2 && req.method === 'GET') {
    const row = ${camel(r)}.get(path[1]!);
    if (!row) throw new HttpError(404, \`no ${r} with id \${path[1]}\`);
    return sendJson(res, 200, row), true;
  }
  throw new HttpError(405, \`\${req.method} is not allowed on /\${path.join('/')}\`);
}
`,
    })),
    {
      path: 'src/server.ts',
      content: `import { createServer, type Server } from 'node:http';
import { HttpError, sendJson } from './http.js';
${resources.map((r) => `import { handle${pascal(r)} } from './routes/${r}.js';`).join('\n')}

const handlers = [${resources.map((r) => `handle${pascal(r)}`).join(', ')}];

/** The HTTP server of ${p.name} (not yet listening). */
export function createApp(): Server {
  return createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.split('/').filter(Boolean);
    try {
      if (path.length === 1 && path[0] === 'health' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
      for (const handler of handlers) if (await handler(req, res, path)) return;
      throw new HttpError(404, \`no route for \${req.method} /\${path.join('/')}\`);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      console.error(err);
      return sendJson(res, 500, { error: 'internal error' });
    }
  });
}
`,
    },
    {
      path: 'src/index.ts',
      content: `import { createApp } from './server.js';

export { createApp } from './server.js';
${featureExport(p)}
// Started directly (node dist/src/index.js): listen on PORT (default ${p.port}).
if (process.argv[1] && import.meta.url === new URL(process.argv[1], 'file://').href) {
  const port = Number(process.env.PORT ?? ${p.port});
  createApp().listen(port, () => console.log(\`${p.name} listening on http://localhost:\${port}\`));
}
`,
    },
    {
      path: 'test/server.test.ts',
      content: `import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createApp } from '../src/index.js';

const app = createApp();
let base = '';
before(async () => {
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  base = \`http://127.0.0.1:\${(app.address() as AddressInfo).port}\`;
});
after(() => app.close());

test('GET /health answers ok', async () => {
  const res = await fetch(\`\${base}/health\`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('an unknown path answers 404', async () => {
  assert.equal((await fetch(\`\${base}/nowhere\`)).status, 404);
});
${resources
  .map(
    (r) => `
test('${r}: create, get and list', async () => {
  const created = await fetch(\`\${base}/${r}\`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'first' }) });
  assert.equal(created.status, 201);
  const row = (await created.json()) as { id: string; name: string };
  assert.equal(row.name, 'first');
  assert.equal((await fetch(\`\${base}/${r}/\${row.id}\`)).status, 200);
  const list = (await (await fetch(\`\${base}/${r}\`)).json()) as { data: unknown[] };
  assert.ok(list.data.length >= 1);
  assert.equal((await fetch(\`\${base}/${r}\`, { method: 'POST', body: 'not json' })).status, 400);
});
`,
  )
  .join('')}`,
    },
  ];
  return [
    { path: 'package.json', content: packageJson(p) },
    { path: 'tsconfig.json', content: TSCONFIG },
    { path: '.gitignore', content: GITIGNORE },
    {
      path: 'README.md',
      content: readme(
        p,
        'HTTP service',
        `\`\`\`sh\nnpm run build && PORT=${p.port} node dist/src/index.js\ncurl localhost:${p.port}/health\n${resources.map((r) => `curl -X POST localhost:${p.port}/${r} -H 'content-type: application/json' -d '{"name":"x"}'`).join('\n')}\n\`\`\``,
      ),
    },
    ...files,
    ...featureFiles(p),
  ];
}

function cli(p: ScaffoldParams): ScaffoldFile[] {
  const commands = p.parts.length ? p.parts : ['hello'];
  return [
    { path: 'package.json', content: packageJson(p, { bin: { [p.name]: 'dist/src/cli.js' } }) },
    { path: 'tsconfig.json', content: TSCONFIG },
    { path: '.gitignore', content: GITIGNORE },
    { path: 'README.md', content: readme(p, 'command-line tool', `\`\`\`sh\nnpm run build\n${commands.map((c) => `node dist/src/cli.js ${c} --name you`).join('\n')}\nnode dist/src/cli.js --help\n\`\`\``) },
    ...commands.map((c) => ({
      path: `src/commands/${c}.ts`,
      content: `/** The ${c} command: returns what it prints, so tests can call it directly. */
export function ${camel(c)}(options: { name?: string }): string {
  return \`${c}: \${options.name ?? 'world'}\`;
}
`,
    })),
    {
      path: 'src/run.ts',
      content: `import { parseArgs } from 'node:util';
${commands.map((c) => `import { ${camel(c)} } from './commands/${c}.js';`).join('\n')}

const commands: Record<string, (options: { name?: string }) => string> = { ${commands.map((c) => `'${c}': ${camel(c)}`).join(', ')} };

export const usage = \`Usage: ${p.name} <command> [--name <name>]\\nCommands: \${Object.keys(commands).join(', ')}\`;

/** Runs the command line; returns the exit code and what to print. */
export function run(argv: string[]): { code: number; out: string } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    return { code: 2, out: \`\${(err as Error).message}\\n\${usage}\` };
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || !command) return { code: command || parsed.values.help ? 0 : 2, out: usage };
  const handler = commands[command];
  if (!handler) return { code: 2, out: \`Unknown command "\${command}".\\n\${usage}\` };
  return { code: 0, out: handler({ name: parsed.values.name }) };
}
`,
    },
    {
      path: 'src/cli.ts',
      content: `#!/usr/bin/env node
import { run } from './run.js';

const { code, out } = run(process.argv.slice(2));
(code === 0 ? console.log : console.error)(out);
process.exitCode = code;
`,
    },
    { path: 'src/index.ts', content: `export { run, usage } from './run.js';\n${commands.map((c) => `export { ${camel(c)} } from './commands/${c}.js';`).join('\n')}\n${featureExport(p)}` },
    {
      path: 'test/cli.test.ts',
      content: `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../src/index.js';

test('no command prints the usage and exits 2', () => {
  const result = run([]);
  assert.equal(result.code, 2);
  assert.match(result.out, /Usage: ${p.name}/);
});

test('an unknown command is refused', () => {
  assert.equal(run(['nope']).code, 2);
});
${commands
  .map(
    (c) => `
test('${c} greets by name', () => {
  assert.deepEqual(run(['${c}', '--name', 'Ada']), { code: 0, out: '${c}: Ada' });
});
`,
  )
  .join('')}`,
    },
    ...featureFiles(p),
  ];
}

function library(p: ScaffoldParams): ScaffoldFile[] {
  const modules = p.parts.length ? p.parts : ['core'];
  return [
    { path: 'package.json', content: packageJson(p, { exports: { '.': { types: './dist/src/index.d.ts', import: './dist/src/index.js' } } }) },
    { path: 'tsconfig.json', content: TSCONFIG },
    { path: '.gitignore', content: GITIGNORE },
    { path: 'README.md', content: readme(p, 'library', `\`\`\`ts\nimport { ${modules.map((m) => camel(m)).join(', ')} } from '${p.name}';\n\`\`\``) },
    ...modules.map((m) => ({
      path: `src/${m}.ts`,
      content: `/** Options of ${camel(m)}. */
export interface ${pascal(m)}Options {
  /** Text put before the input. */
  prefix?: string;
}

/** ${pascal(m)}: trims the input and prefixes it; throws on empty input. Replace with the module's real work. */
export function ${camel(m)}(input: string, options: ${pascal(m)}Options = {}): string {
  const value = input.trim();
  if (!value) throw new TypeError('${camel(m)}: input must not be empty');
  return \`\${options.prefix ?? ''}\${value}\`;
}
`,
    })),
    { path: 'src/index.ts', content: `${modules.map((m) => `export { ${camel(m)}, type ${pascal(m)}Options } from './${m}.js';`).join('\n')}\n${featureExport(p)}` },
    ...modules.map((m) => ({
      path: `test/${m}.test.ts`,
      content: `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ${camel(m)} } from '../src/index.js';

test('${camel(m)} trims and prefixes', () => {
  assert.equal(${camel(m)}('  value '), 'value');
  assert.equal(${camel(m)}('value', { prefix: '> ' }), '> value');
});

test('${camel(m)} refuses empty input', () => {
  assert.throws(() => ${camel(m)}('   '), TypeError);
});
`,
    })),
    ...featureFiles(p),
  ];
}

/** The files of a template, under `<name>/`. */
export function renderTemplate(template: ScaffoldTemplate, params: ScaffoldParams): ScaffoldFile[] {
  const files = template === 'http_service' ? httpService(params) : template === 'cli' ? cli(params) : library(params);
  return files.map((f) => ({ path: `${params.name}/${f.path}`, content: f.content }));
}
