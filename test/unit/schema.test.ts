import { readFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';

describe('schema/schema.graphql', () => {
  it('matches the schema built from the code (run `npm run schema:print` after a change)', () => {
    const printed = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
    expect(printed).toBe(`${printSchema(schema)}\n`);
  });

  it('exposes the foundation operations', () => {
    const names = (type: 'Query' | 'Mutation' | 'Subscription') => Object.keys((schema.getType(type) as any).getFields());
    expect(names('Query')).toEqual(expect.arrayContaining(['node', 'nodes', 'viewer', 'task', 'tasks']));
    expect(names('Mutation')).toEqual(expect.arrayContaining(['executeAgentTask', 'cancelTask']));
    expect(names('Subscription').sort()).toEqual(['chat', 'generationUpdated', 'orchestrationEvents', 'projectIndexEvents', 'reviewEvents', 'taskEvents', 'visualizationEvents']);
  });
});
