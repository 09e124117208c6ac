import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildOpenApi } from '../../src/rest/openapi.js';
import { restRoutes } from '../../src/rest/v1/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const docFiles = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** The lines of a Markdown text outside fenced code blocks (links and headings there are text). */
function proseLines(markdown: string): string[] {
  let fence: string | null = null;
  const lines: string[] = [];
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      continue;
    }
    if (fence === null) lines.push(line);
  }
  return lines;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2… */
function headingSlugs(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const slugs = new Set<string>();
  for (const line of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    slugs.add(count ? `${base}-${count}` : base);
  }
  return slugs;
}

/** Relative link targets of a Markdown text (inline code spans and external URLs left out). */
function relativeLinks(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    const text = line.replace(/`[^`]*`/g, '``');
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1];
      if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) targets.push(target);
    }
  }
  return targets;
}

/** Why each relative link of `file` (given its text) does not resolve in the repository at `base`. */
function brokenLinks(file: string, markdown: string, base = root): string[] {
  const problems: string[] = [];
  for (const target of relativeLinks(markdown)) {
    const [path = '', anchor] = target.split('#', 2);
    const resolved = path ? resolve(base, dirname(file), decodeURIComponent(path)) : join(base, file);
    const inside = relative(base, resolved);
    if (inside.startsWith('..')) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target}: no file ${inside}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
      problems.push(`${file}: ${target}: an anchor into a file that is not Markdown`);
    } else if (!headingSlugs(readFileSync(resolved, 'utf8')).has(anchor)) {
      problems.push(`${file}: ${target}: ${inside} has no heading with the anchor #${anchor}`);
    }
  }
  return problems;
}

/** The `METHOD /path` entries of the table rows under one heading of docs/api.md's route index. */
function indexEntries(markdown: string): { documented: string[]; outside: string[] } {
  const lines = proseLines(markdown);
  const start = lines.findIndex((l) => /^## Index of REST routes\s*$/.test(l));
  if (start < 0) return { documented: [], outside: [] };
  const documented: string[] = [];
  const outside: string[] = [];
  let inOutside = false;
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,2}\s/.test(line)) break;
    if (/^###\s/.test(line)) inOutside = /^### Outside the OpenAPI document/.test(line);
    const entry = /^\|\s*`([A-Z]+ \S+)`\s*\|/.exec(line)?.[1];
    if (entry) (inOutside ? outside : documented).push(entry);
  }
  return { documented, outside };
}

const openApiRoutes = (() => {
  const doc = buildOpenApi(restRoutes, 'http://localhost', 'test') as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
})();

describe('the checks themselves', () => {
  it('make anchors the way GitHub does', () => {
    const slugs = headingSlugs('# Title\n## Limits, plans and usage\n### `GET /v1/usage` (open)\n## Limits, plans and usage\n```\n# not a heading\n```\n');
    expect([...slugs]).toEqual(['title', 'limits-plans-and-usage', 'get-v1usage-open', 'limits-plans-and-usage-1']);
  });

  it('find a missing file, a missing anchor, a link out of the repository, and skip code and URLs', () => {
    const text = [
      '[ok](docs/api.md#index-of-rest-routes) [gone](docs/nothing.md) [bad](docs/api.md#no-such-heading)',
      '[out](../../etc/passwd) [web](https://example.com/x.md) `[code](nowhere.md)`',
      '```',
      '[fenced](nowhere.md)',
      '```',
    ].join('\n');
    expect(brokenLinks('README.md', text)).toEqual([
      'README.md: docs/nothing.md: no file docs/nothing.md',
      'README.md: docs/api.md#no-such-heading: docs/api.md has no heading with the anchor #no-such-heading',
      'README.md: ../../etc/passwd points outside the repository',
    ]);
  });

  it('read the route index by section', () => {
    const text = '## Index of REST routes\n### Tasks\n| `GET /v1/a` | x |\n### Outside the OpenAPI document\n| `WS /b` | y |\n## Next\n| `GET /c` | z |\n';
    expect(indexEntries(text)).toEqual({ documented: ['GET /v1/a'], outside: ['WS /b'] });
  });
});

describe('the documentation', () => {
  it('has README.md and the docs/ pages it maps', () => {
    expect(docFiles).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/agents.md', 'docs/webhooks.md', 'docs/operations.md', 'docs/architecture.md', 'docs/development.md']));
  });

  it.each(docFiles)('%s: every relative link and anchor resolves', (file) => {
    expect(brokenLinks(file, read(file))).toEqual([]);
  });

  it.each(docFiles)('%s: cites no document outside the repository', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/DESIGN\.md|\bspec (000|004)\b|\/work\/shared/i);
  });

  it('keeps README.md a short start (the details belong in docs/)', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(260);
  });
});

describe("docs/api.md's route index", () => {
  const { documented, outside } = indexEntries(read('docs/api.md'));

  it('lists every route of the OpenAPI document, and only those, once each', () => {
    expect(openApiRoutes.length).toBeGreaterThan(50);
    expect(openApiRoutes.filter((route) => !documented.includes(route))).toEqual([]);
    expect(documented.filter((route) => !openApiRoutes.includes(route))).toEqual([]);
    expect(documented.filter((route, i) => documented.indexOf(route) !== i)).toEqual([]);
  });

  it('keeps the routes served outside the OpenAPI document in their own section', () => {
    expect(outside).toEqual(expect.arrayContaining(['POST /graphql', 'WS /graphql', 'WS /v1/agents/tasks/{task_id}/stream', 'GET /v1/openapi.json']));
    expect(outside.filter((route) => openApiRoutes.includes(route))).toEqual([]);
  });
});
