import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';

describe('schema/schema.graphql', () => {
  it('matches the schema built from the code (run `npm run schema:print` after a change)', () => {
    const printed = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
    expect(printed).toBe(`${printSchema(schema)}\n`);
  });

  it('src/rest/graphql-env.d.ts is its introspection, which types the REST documents (run `npm run schema:print` after a change)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graphql-env-'));
    try {
      const output = join(dir, 'graphql-env.d.ts');
      execFileSync(fileURLToPath(new URL('../../node_modules/.bin/gql.tada', import.meta.url)), ['generate', 'output', '--output', output], { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: 'pipe' });
      expect(readFileSync(new URL('../../src/rest/graphql-env.d.ts', import.meta.url), 'utf8')).toBe(readFileSync(output, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exposes the foundation operations', () => {
    const names = (type: 'Query' | 'Mutation' | 'Subscription') => Object.keys((schema.getType(type) as any).getFields());
    expect(names('Query')).toEqual(expect.arrayContaining(['node', 'nodes', 'viewer', 'task', 'tasks']));
    expect(names('Mutation')).toEqual(expect.arrayContaining(['executeAgentTask', 'cancelTask']));
    expect(names('Subscription').sort()).toEqual(['bulkOperationEvents', 'chat', 'generationUpdated', 'orchestrationEvents', 'projectIndexEvents', 'reviewEvents', 'taskEvents', 'taskUpdates', 'visualizationEvents']);
  });
});
