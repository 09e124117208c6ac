import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { analyzeFiles, detectLanguage, scanFile, SECURITY_RULES, summarizeFindings, type Finding } from '../../src/agents/security-expert.js';

const dir = new URL('../fixtures/security/', import.meta.url);
const fixtures = readdirSync(dir).filter((f) => !f.endsWith('.json'));

/** The findings a fixture declares: `expect: <rule-id>` in a comment on the exact line. */
function declared(content: string) {
  return content
    .split('\n')
    .flatMap((line, i) => [...line.matchAll(/expect: ([a-z-]+)/g)].map((m) => `${i + 1} ${m[1]}`))
    .sort();
}

describe('security_expert fixtures', () => {
  it('has a vulnerable and a clean file for each of the six languages', () => {
    expect(fixtures.filter((f) => /^vulnerable|^Vulnerable/.test(f)).map((f) => detectLanguage(f)).sort()).toEqual(
      ['go', 'java', 'javascript', 'python', 'rust', 'typescript'],
    );
    expect(fixtures.filter((f) => /^clean|^Clean/.test(f))).toHaveLength(6);
  });

  it.each(fixtures)('%s: exactly the declared findings, each on its line', (name) => {
    const content = readFileSync(new URL(name, dir), 'utf8');
    const findings = scanFile({ path: `src/${name}`, content });
    expect(findings.map((f) => `${f.line} ${f.ruleId}`).sort()).toEqual(declared(content));
    if (name.toLowerCase().startsWith('clean')) expect(findings).toEqual([]);
    else expect(findings.length).toBeGreaterThanOrEqual(5);
    for (const f of findings) {
      expect(f.file).toBe(`src/${name}`);
      expect(f.title.length).toBeGreaterThan(3);
      expect(f.description.length).toBeGreaterThan(20);
      expect(f.suggestion.length).toBeGreaterThan(20);
      expect(['critical', 'high', 'medium', 'low']).toContain(f.severity);
    }
  });

  it('covers every rule in at least one vulnerable fixture', () => {
    const seen = new Set(fixtures.flatMap((name) => scanFile({ path: name, content: readFileSync(new URL(name, dir), 'utf8') }).map((f) => f.ruleId)));
    expect([...seen].sort()).toEqual(SECURITY_RULES.map((r) => r.id).sort());
  });

  it('never repeats a secret in full in a finding', () => {
    const secrets = ['AKIAJ7Q2XK4M9PLW3RTZ', 'Tr0ub4dor&3xQ!', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'ghp_R8xKq2LmN4vB7cT1yW9zP3dF6hJ0sA5eG2uI', '9f8e7d6c5b4a3f2e1d0c9b8a', 'P@ssw0rd-2024-prod!'];
    const text = JSON.stringify(analyzeFiles(fixtures.map((name) => ({ path: name, content: readFileSync(new URL(name, dir), 'utf8') }))));
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).toContain('AKIA…');
  });
});

describe('rules', () => {
  const scan = (path: string, content: string) => scanFile({ path, content }).map((f) => `${f.line} ${f.ruleId}`);

  it('does not flag parameterized SQL or SQL without input', () => {
    expect(scan('a.js', 'db.query("SELECT * FROM t WHERE id = $1", [id]);\nconst q = "SELECT 1 FROM t WHERE a = " + "b";')).toEqual([]);
    expect(scan('a.py', 'cursor.execute("SELECT * FROM t WHERE id = %s", (i,))')).toEqual([]);
  });

  it('tells a password hash from a checksum', () => {
    expect(scan('a.py', 'digest = hashlib.md5(data).hexdigest()')).toEqual([]);
    expect(scan('a.py', 'digest = hashlib.sha1(password).hexdigest()')).toEqual(['1 weak-password-hash']);
  });

  it('ignores code in comments and strings that only mention a pattern', () => {
    expect(scan('a.js', '// eval(x)\n/* exec("rm " + x) */\nconsole.log("do not use eval(x)");')).toEqual([]);
    expect(scan('a.py', '# os.system("rm " + x)\nprint("eval(x) is dangerous")')).toEqual([]);
  });

  it('follows request input through a variable into a file read, and stops at a sanitizer', () => {
    expect(scan('a.js', 'const p = req.query.p;\nconst q = p;\nfs.readFileSync(q);')).toEqual(['3 path-traversal']);
    expect(scan('a.js', 'const p = path.basename(req.query.p);\nfs.readFileSync(p);')).toEqual([]);
  });

  it('applies secret detection to files of any language', () => {
    expect(scan('settings.yaml', 'aws_key: AKIAJ7Q2XK4M9PLW3RTZ')).toEqual(['1 hardcoded-secret']);
    expect(scan('notes.txt', 'nothing to see')).toEqual([]);
  });
});

describe('helpers', () => {
  it('detects languages by extension', () => {
    expect(['a.js', 'a.mjs', 'a.tsx', 'a.py', 'a.go', 'A.java', 'a.rs', 'a.rb', 'Makefile'].map(detectLanguage)).toEqual(
      ['javascript', 'javascript', 'typescript', 'python', 'go', 'java', 'rust', null, null],
    );
  });

  it('summarizes in the spec style', () => {
    const f = (severity: Finding['severity']) => ({ severity }) as Finding;
    expect(summarizeFindings([])).toBe('No security issues found');
    expect(summarizeFindings([f('high'), f('low'), f('high'), f('medium'), f('critical')])).toBe('Found 1 critical, 2 high, 1 medium, 1 low severity issues');
    expect(summarizeFindings([f('low')])).toBe('Found 1 low severity issue');
  });

  it('orders findings by file, then line', () => {
    const findings = analyzeFiles([
      { path: 'b.py', content: 'x = 1\neval(y)' },
      { path: 'a.py', content: 'eval(z)' },
    ]);
    expect(findings.map((f) => [f.file, f.line])).toEqual([['b.py', 2], ['a.py', 1]]);
  });
});
