/**
 * test_gen writes tests that parse and run: the generated files for fixtures are written next to
 * them and run with vitest and with Python, and they fail when the contract they check breaks.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateTests } from '../../src/agents/test-gen.js';

const root = new URL('../../', import.meta.url).pathname;
const fixture = (name: string) => ({ path: name, content: readFileSync(new URL(`../fixtures/testgen/${name}`, import.meta.url), 'utf8') });
// Inside the repository (git-ignored), so the generated tests resolve vitest from its node_modules.
const dir = join(root, '.test-results', `testgen-${randomBytes(4).toString('hex')}`);
mkdirSync(dir, { recursive: true });
// Its own (empty) config, so the repository's test projects do not apply to the generated tests.
writeFileSync(join(dir, 'vitest.config.mjs'), 'export default {};\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(files: Array<{ path: string; content: string }>) {
  for (const f of files) writeFileSync(join(dir, f.path), f.content);
}
const vitest = () =>
  spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--root', dir, '--config', join(dir, 'vitest.config.mjs'), '--reporter=json'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
const python = (module: string) =>
  spawnSync('python3', ['-c', `import ${module} as t\nn = 0\nfor name, fn in vars(t).items():\n    if name.startswith('test_'):\n        fn(); n += 1\nprint(n)`], { cwd: dir, encoding: 'utf8' });

describe('test_gen', () => {
  const sources = [fixture('pricing.ts'), fixture('shapes.py')];
  const out = generateTests(sources);

  it('writes one test file per source, covering every public export and nothing private', () => {
    expect(out.files.map((f) => [f.path, f.tests])).toEqual([
      ['pricing.test.ts', 4],
      ['test_shapes.py', 4],
    ]);
    expect(out.skipped).toEqual([]);
    const ts = out.files[0].content;
    expect(ts).toContain("from 'vitest'");
    expect(ts).toContain('expect(mod.total.length).toBe(1);'); // taxRate has a default
    expect(ts).not.toContain('internalHelper');
    expect(out.files[1].content).not.toContain('_private');
  });

  it('generates tests that pass when run with vitest and with Python', () => {
    write([...sources, ...out.files]);
    const run = vitest();
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
    expect(report).toMatchObject({ numTotalTests: 4, numPassedTests: 4, numFailedTests: 0 });
    const py = python('test_shapes');
    expect(py.stderr).toBe('');
    expect(py.stdout.trim()).toBe('4');
  });

  it('generates tests that fail when the code breaks its declared contract', () => {
    write([{ path: 'pricing.ts', content: fixture('pricing.ts').content.replace('export function total(prices: number[], taxRate = 0)', 'export function total(prices: number[], taxRate: number)') }]);
    write([{ path: 'shapes.py', content: fixture('shapes.py').content.replace('def unit():\n    return 1.0', 'def unit():\n    raise ValueError("broken")') }]);
    const run = vitest();
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{')));
    expect(report.numFailedTests).toBe(1);
    expect(python('test_shapes').stderr).toContain('ValueError: broken');
  });

  it('follows jest when the project uses it', () => {
    const jest = generateTests([{ path: 'package.json', content: '{"devDependencies":{"jest":"^29"}}' }, fixture('pricing.ts')]);
    expect(jest.files[0].content).toContain("from '@jest/globals'");
  });
});
