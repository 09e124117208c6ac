/** The linear glob matcher of ignored paths: picomatch's answers on ordinary globs, none of its backtracking. */
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { compileGlob, compileGlobs, GlobError, isValidGlob } from '../../src/services/glob.js';
import { ignoreMatcher } from '../../src/services/projects/index-run.js';

const PATTERNS = [
  '*', '*.js', '**/*.js', '**', 'a/**', 'a/**/b', '**/b', 'a/*', 'a**b', '*/**', 'a?/**', '[ab]/**', '{a,b}/**', 'a*/**',
  '?.js', 'a?c', '[abc].md', '[a-c]x', '[^a]x', '[[]x', '[]]x', '[a-]x',
  'src/{a,b}/*.ts', '*.{js,ts}', 'a{,.min}.js', '{a..c}', '{1..3}.txt', 'x/{a,{b,c}}/y',
  'a\\*b', 'a.b', '$x', '^x', 'a+b', 'dist/', 'dist', '**/node_modules/**', '**/.git/**', '.env*', '**/.*',
  '!*.js', '!**/*.ts', 'foo/**/bar/*.ts', '**/test/**', '*/*', '**/*.min.js', 'docs/**/*.md', '*a*a*a*a*b',
];
const PATHS = [
  'a.js', 'b.ts', 'x/a.js', 'x/y/a.js', 'a', 'a/b', 'a/x/y/b', 'a/b/c', 'b', 'ab', 'axb', 'axxb', 'ax/xb', 'a.js.map', 'abc', 'a.c',
  'ab.js', 'a.md', 'b.md', 'd.md', 'bx', 'ax', 'cx', '[x', ']x', '-x', 'a/q', 'b/x', 'src/a/z.ts', 'src/c/z.ts', 'src/a/q/z.ts',
  'x.ts', 'a.min.js', 'c', '2.txt', '4.txt', 'a*b', 'dist', 'dist/x', 'node_modules/x', 'p/node_modules/q/r.js', '.git/HEAD',
  'x/.git/config', '.env', '.env.local', 'x/.hidden', 'x/b/y', 'x/c/y', 'a.b', '$x', '^x', 'a+b', 'aab', 'foo/bar/a.ts',
  'foo/q/bar/a.ts', 'foo/bar/q/a.ts', 'test/x', 'q/test/y', 'docs/a.md', 'docs/x/y.md', 'aaaab', 'xaxaxaxaxb', '.a', '..a',
];

describe('glob matcher', () => {
  it('answers as picomatch (dot: true) does on ordinary globs: **, *, ?, classes, braces, ranges, escapes, dotfiles, negation', () => {
    const differences: string[] = [];
    for (const pattern of PATTERNS) {
      const ours = compileGlob(pattern);
      const theirs = picomatch(pattern, { dot: true });
      for (const path of PATHS) if (ours(path) !== theirs(path)) differences.push(`${pattern} ${path}: ${ours(path)}`);
    }
    expect(differences).toEqual([]);
  });

  it('spot checks that make the table above mean something', () => {
    expect(compileGlob('**/*.js')('x/y/a.js')).toBe(true);
    expect(compileGlob('*.js')('x/a.js')).toBe(false);
    expect(compileGlob('a/**')('a')).toBe(true);
    expect(compileGlob('a/**/b')('a/b')).toBe(true);
    expect(compileGlob('?.js')('ab.js')).toBe(false);
    expect(compileGlob('{1..3}.txt')('2.txt')).toBe(true);
    expect(compileGlob('{1..3}.txt')('4.txt')).toBe(false);
    expect(compileGlob('!*.js')('a.ts')).toBe(true);
    expect(compileGlob('.env*')('.env.local')).toBe(true);
  });

  it('where it departs from picomatch: [!a] negates as in shells and .gitignore; parentheses are plain characters', () => {
    expect(compileGlob('[!a]x')('bx')).toBe(true);
    expect(compileGlob('[!a]x')('ax')).toBe(false);
    expect(compileGlob('app/(marketing)/**')('app/(marketing)/page.tsx')).toBe(true);
    expect(compileGlob('?')('/')).toBe(false);
    expect(compileGlob('[a/]')('/')).toBe(false);
  });

  it('matches the pathological pattern on 10,000 characters at once (no backtracking)', { timeout: 5000 }, () => {
    const match = compileGlob('*a*a*a*a*a*a*a*a*a*a*b');
    expect(match('a'.repeat(10_000))).toBe(false);
    expect(match(`${'a'.repeat(10_000)}b`)).toBe(true);
    expect(match(`${'a'.repeat(9)}b`)).toBe(false);
    expect(match(`${'xa'.repeat(10)}b`)).toBe(true);
    // picomatch's expression backtracks on the same input: tens of seconds from 40 characters on.
    expect(picomatch.makeRe('*a*a*a*a*a*a*a*a*a*a*b').source).toContain('[^/]*?a[^/]*?a');
  });

  it('refuses extglobs and impossible ranges with a message that says what to write instead', () => {
    expect(() => compileGlob('@(a|b)')).toThrow(GlobError);
    expect(() => compileGlob('src/!(vendor)/**')).toThrow(/extglob syntax "!\(…\)".*use braces such as \{a,b\}/);
    expect(() => compileGlob('{1..5000}')).toThrow(/more than 100 values/);
    expect(() => compileGlob('{1..60}/{1..60}')).toThrow(/more than 100 values in all/);
    expect(compileGlob('{1..50}/{1..50}')('25/49')).toBe(true);
    expect(() => compileGlob('{a..10}')).toThrow(/not both numbers or both single characters/);
    expect(() => compileGlob('a\\')).toThrow(/unfinished escape/);
    expect(() => compileGlob('!')).toThrow(/something after "!"/);
    expect(isValidGlob('a\\(b)')).toBe(true);
    expect(compileGlob('a\\(b)')('a(b)')).toBe(true);
  });

  it('a list matches when any of its patterns does; a negated one matches what it does not name', () => {
    const match = compileGlobs(['dist/**', '**/*.min.js', '!src/**']);
    expect(['dist/a.js', 'x/y.min.js', 'README.md'].map(match)).toEqual([true, true, true]);
    expect(match('src/a.ts')).toBe(false);
    expect(compileGlobs([])('a')).toBe(false);
  });

  it("a project's ignore test: always .git and node_modules, directories with or without their slash, stored patterns it refuses match nothing", () => {
    const ignored = ignoreMatcher(['dist/', 'gen/**', '@(a|b)', '*a*a*a*a*a*a*a*a*a*a*b']);
    expect(ignored('node_modules/x/index.js')).toBe(true);
    expect(ignored('pkg/.git/HEAD')).toBe(true);
    expect(ignored('dist/')).toBe(true);
    expect(ignored('gen/')).toBe(true);
    expect(ignored('gen/a/b.ts')).toBe(true);
    expect(ignored('a')).toBe(false);
    expect(ignored(`${'a'.repeat(49)}b`)).toBe(true);
    expect(ignored('a'.repeat(50))).toBe(false);
    expect(ignored('src/app.ts')).toBe(false);
  });
});
