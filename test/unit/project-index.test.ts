/** The pure parts of the project index: identifier-aware terms, symbol extraction, chunking, repository URL checks. */
import { describe, expect, it } from 'vitest';
import { checkRepositoryUrl } from '../../src/services/projects/repository.js';
import { chunkFile, languageOf, pythonSymbols, tsSymbols } from '../../src/services/projects/symbols.js';
import { identifierParts, indexTerms, searchQuery } from '../../src/services/projects/terms.js';

describe('terms', () => {
  it('splits camelCase, PascalCase, snake_case and acronyms, keeping the joined form', () => {
    expect(identifierParts('parseUser')).toEqual(['parse', 'user']);
    expect(identifierParts('HTTPServerError')).toEqual(['http', 'server', 'error']);
    expect(identifierParts('load_config_v2')).toEqual(['load', 'config', 'v2']);
    expect(identifierParts('__init__')).toEqual(['init']);
    expect(indexTerms('const x = parseUser(raw);')).toBe('const x parseuser parse user raw');
  });

  it('builds tsqueries only from letters and digits', () => {
    expect(searchQuery('parseUser', 'all')).toBe('(parseuser | (parse & user))');
    expect(searchQuery('parse user', 'all')).toBe('parse & user');
    expect(searchQuery("x'); DROP TABLE projects; --", 'all')).toBe('x & drop & table & projects');
    expect(searchQuery('add the parser to it', 'any')).toBe('parser');
    expect(searchQuery(' !! ', 'all')).toBeNull();
  });
});

describe('symbols', () => {
  it('finds TypeScript declarations, their export state and CommonJS exports', () => {
    const found = tsSymbols(
      'a.ts',
      'export function a() {}\nfunction b() {}\nexport { b };\nexport default class C { m() {} }\nexport type T = string;\nexport enum E { X }\nexport const v = 1;\nnamespace N { export function inner() {} }\n',
    );
    expect(found.map((s) => `${s.kind}:${s.name}:${s.exported}`)).toEqual([
      'function:a:true',
      'function:b:true',
      'class:C:true',
      'method:m:true',
      'type:T:true',
      'enum:E:true',
      'variable:v:true',
      'function:inner:false',
    ]);
    expect(tsSymbols('b.js', 'module.exports.run = function () {};\nexports.name = "x";\n').map((s) => s.name)).toEqual(['run', 'name']);
    expect(tsSymbols('broken.ts', 'export function ok() {}\nexport function (((').map((s) => s.name)).toContain('ok');
  });

  it('finds Python functions, classes and methods with the ast module, and reports files that do not parse', async () => {
    const out = await pythonSymbols([
      { path: 'a.py', content: 'def f(a, b=1):\n    pass\n\nclass K:\n    def m(self):\n        pass\n' },
      { path: 'bad.py', content: 'def (:\n' },
    ]);
    expect(out!['a.py']!.map((s) => `${s.kind}:${s.name}@${s.line}`)).toEqual(['function:f@1', 'class:K@4', 'method:m@5']);
    expect(out!['bad.py']).toBeNull();
  });

  it('chunks by lines and knows languages by extension', () => {
    const content = Array.from({ length: 95 }, (_, i) => `line ${i + 1}`).join('\n');
    expect(chunkFile(content).map((c) => [c.startLine, c.endLine])).toEqual([[1, 40], [41, 80], [81, 95]]);
    expect(languageOf('src/x.TSX')).toBe('typescript');
    expect(languageOf('Makefile')).toBeNull();
  });
});

describe('repository URLs', () => {
  const config = { REPOSITORY_ROOT: undefined, REPOSITORY_ALLOW_PRIVATE_HOSTS: false };
  it.each([
    ['http://github.com/a/b', /https/],
    ['ext::sh -c id', /ext::/],
    ['-c core.sshCommand=id', /git option/],
    ['/srv/repos/a', /REPOSITORY_ROOT/],
    ['file:///srv/repos/a', /REPOSITORY_ROOT/],
    ['https://169.254.169.254/latest', /public addresses only/],
    ['https://[::ffff:127.0.0.1]/x', /public addresses only/],
    ['https://intranet/x', /public addresses only/],
    ['https://a:b@github.com/x', /credentials/],
    ['https://github.com/x?ref=main', /query/],
  ])('refuses %s', async (url, reason) => {
    await expect(checkRepositoryUrl(url, config, false)).rejects.toThrow(reason);
  });

  it('accepts a public https URL, and private hosts when the operator allows them', async () => {
    await expect(checkRepositoryUrl('https://github.com/owner/repo.git', config, false)).resolves.toMatchObject({ kind: 'https', host: 'github.com', port: 443 });
    await expect(checkRepositoryUrl('https://10.0.0.5:8443/r.git', { ...config, REPOSITORY_ALLOW_PRIVATE_HOSTS: true }, false)).resolves.toMatchObject({ host: '10.0.0.5', port: 8443 });
  });
});
