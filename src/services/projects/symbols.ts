/**
 * What the index learns from a file: its language (from the extension), its symbols (functions,
 * classes, methods, interfaces, types, enums, exported values) found with a real parser — the
 * TypeScript compiler API for TS/JS, Python's own `ast` module (through python3) for Python —
 * and its chunks (runs of lines). Other languages are chunked only.
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import ts from 'typescript';
import { scriptKind } from '../../agents/code-expert.js';

export interface ExtractedSymbol {
  name: string;
  kind: 'function' | 'class' | 'method' | 'interface' | 'type' | 'enum' | 'variable';
  line: number;
  endLine: number;
  exported: boolean;
  signature: string;
}

export interface Chunk {
  startLine: number;
  endLine: number;
  content: string;
}

/** Languages a project may declare (lower-case), each with the extensions that mark its files. */
export const LANGUAGES: Record<string, string[]> = {
  typescript: ['.ts', '.tsx', '.mts', '.cts'],
  javascript: ['.js', '.jsx', '.mjs', '.cjs'],
  python: ['.py', '.pyi'],
  go: ['.go'],
  rust: ['.rs'],
  java: ['.java'],
  kotlin: ['.kt', '.kts'],
  csharp: ['.cs'],
  c: ['.c', '.h'],
  cpp: ['.cc', '.cpp', '.cxx', '.hpp', '.hh'],
  ruby: ['.rb'],
  php: ['.php'],
  swift: ['.swift'],
  scala: ['.scala'],
  shell: ['.sh', '.bash'],
  sql: ['.sql'],
  html: ['.html', '.htm'],
  css: ['.css', '.scss'],
  markdown: ['.md', '.mdx'],
  json: ['.json'],
  yaml: ['.yml', '.yaml'],
};

export const LANGUAGE_NAMES = Object.keys(LANGUAGES);

const languageByExt = new Map(Object.entries(LANGUAGES).flatMap(([lang, exts]) => exts.map((e) => [e, lang] as const)));

/** The language of a path from its extension; null when unknown (the file is still chunked). */
export function languageOf(path: string): string | null {
  return languageByExt.get(extname(path).toLowerCase()) ?? null;
}

const CHUNK_LINES = 40;
const CHUNK_MAX_CHARS = 8000;

/** Splits a file into runs of CHUNK_LINES lines (each cut at CHUNK_MAX_CHARS: minified lines). */
export function chunkFile(content: string): Chunk[] {
  const lines = content.split(/\r?\n/);
  const chunks: Chunk[] = [];
  for (let i = 0; i < lines.length; i += CHUNK_LINES) {
    const part = lines.slice(i, i + CHUNK_LINES);
    const text = part.join('\n');
    if (!text.trim()) continue;
    chunks.push({ startLine: i + 1, endLine: i + part.length, content: text.slice(0, CHUNK_MAX_CHARS) });
  }
  return chunks;
}

const hasModifier = (n: ts.Node, kind: ts.SyntaxKind) => ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === kind);

/** Symbols of a TypeScript or JavaScript file, with the TypeScript compiler API (tolerates syntax errors). */
export function tsSymbols(path: string, content: string): ExtractedSymbol[] {
  const kind = scriptKind(path);
  if (kind === null) return [];
  const source = ts.createSourceFile(path, content, ts.ScriptTarget.Latest, true, kind);
  const found: ExtractedSymbol[] = [];
  const exportedNames = new Set<string>();
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const signatureOf = (n: ts.Node) => {
    const text = n.getText(source);
    const head = text.split('{')[0].split('\n').map((l) => l.trim()).join(' ');
    return head.replace(/\s+/g, ' ').trim().slice(0, 200);
  };
  const add = (name: string, k: ExtractedSymbol['kind'], node: ts.Node, exported: boolean) =>
    found.push({ name, kind: k, line: lineOf(node.getStart(source)), endLine: lineOf(node.getEnd()), exported, signature: signatureOf(node) });

  const visit = (stmts: ts.NodeArray<ts.Statement>, inNamespaceExported: boolean | null) => {
    for (const stmt of stmts) {
      const exported = hasModifier(stmt, ts.SyntaxKind.ExportKeyword) && (inNamespaceExported ?? true);
      if (ts.isFunctionDeclaration(stmt) && stmt.name) add(stmt.name.text, 'function', stmt, exported);
      else if (ts.isClassDeclaration(stmt) && stmt.name) {
        add(stmt.name.text, 'class', stmt, exported);
        for (const m of stmt.members) {
          if ((ts.isMethodDeclaration(m) || ts.isGetAccessor(m) || ts.isSetAccessor(m)) && m.name && (ts.isIdentifier(m.name) || ts.isPrivateIdentifier(m.name))) {
            add(m.name.text, 'method', m, exported && !hasModifier(m, ts.SyntaxKind.PrivateKeyword) && !ts.isPrivateIdentifier(m.name));
          }
        }
      } else if (ts.isInterfaceDeclaration(stmt)) add(stmt.name.text, 'interface', stmt, exported);
      else if (ts.isTypeAliasDeclaration(stmt)) add(stmt.name.text, 'type', stmt, exported);
      else if (ts.isEnumDeclaration(stmt)) add(stmt.name.text, 'enum', stmt, exported);
      else if (ts.isVariableStatement(stmt)) {
        for (const d of stmt.declarationList.declarations) {
          if (!ts.isIdentifier(d.name)) continue;
          const init = d.initializer;
          const fn = !!init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init));
          if (fn || exported) add(d.name.text, fn ? 'function' : 'variable', d, exported);
        }
      } else if (ts.isModuleDeclaration(stmt) && stmt.body && ts.isModuleBlock(stmt.body)) {
        visit(stmt.body.statements, exported);
      } else if (ts.isExportDeclaration(stmt) && !stmt.moduleSpecifier && stmt.exportClause && ts.isNamedExports(stmt.exportClause)) {
        for (const el of stmt.exportClause.elements) exportedNames.add((el.propertyName ?? el.name).text);
      } else if (ts.isExportAssignment(stmt) && ts.isIdentifier(stmt.expression)) {
        exportedNames.add(stmt.expression.text);
      } else if (ts.isExpressionStatement(stmt)) {
        // CommonJS: module.exports.name = … / exports.name = function …
        const e = stmt.expression;
        if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isPropertyAccessExpression(e.left)) {
          const target = e.left.expression.getText(source);
          if (target === 'exports' || target === 'module.exports') {
            const fn = ts.isArrowFunction(e.right) || ts.isFunctionExpression(e.right);
            add(e.left.name.text, fn ? 'function' : 'variable', stmt, true);
          }
        }
      }
    }
  };
  visit(source.statements, null);
  for (const s of found) if (exportedNames.has(s.name) && s.kind !== 'method') s.exported = true;
  return found;
}

const PY_SYMBOLS = String.raw`
import ast, json, sys
out = {}
for f in json.load(sys.stdin):
    try:
        tree = ast.parse(f['content'], filename=f['path'])
    except (SyntaxError, ValueError):
        out[f['path']] = None
        continue
    syms = []
    def visit(body, in_class, public):
        for n in body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = n.args
                names = [p.arg for p in a.posonlyargs + a.args]
                if a.vararg: names.append('*' + a.vararg.arg)
                names += [p.arg for p in a.kwonlyargs]
                if a.kwarg: names.append('**' + a.kwarg.arg)
                prefix = 'async def ' if isinstance(n, ast.AsyncFunctionDef) else 'def '
                syms.append({'name': n.name, 'kind': 'method' if in_class else 'function', 'line': n.lineno,
                             'endLine': getattr(n, 'end_lineno', None) or n.lineno,
                             'exported': public and not n.name.startswith('_'),
                             'signature': (prefix + n.name + '(' + ', '.join(names) + ')')[:200]})
            elif isinstance(n, ast.ClassDef):
                bases = [ast.unparse(b) for b in n.bases] if hasattr(ast, 'unparse') else []
                syms.append({'name': n.name, 'kind': 'class', 'line': n.lineno, 'endLine': getattr(n, 'end_lineno', None) or n.lineno,
                             'exported': public and not n.name.startswith('_'),
                             'signature': ('class ' + n.name + ('(' + ', '.join(bases) + ')' if bases else ''))[:200]})
                visit(n.body, True, public and not n.name.startswith('_'))
    visit(tree.body, False, True)
    out[f['path']] = syms
json.dump(out, sys.stdout)
`;

/**
 * Symbols of Python files, by path, from one python3 run over the whole batch. A file that does
 * not parse maps to null; when python3 cannot run at all the result is null (files stay chunked).
 */
export function pythonSymbols(files: Array<{ path: string; content: string }>, timeoutMs = 60_000): Promise<Record<string, ExtractedSymbol[] | null> | null> {
  if (files.length === 0) return Promise.resolve({});
  return new Promise((resolve) => {
    const child = spawn('python3', ['-c', PY_SYMBOLS], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.resume();
    child.on('error', () => resolve(null)); // python3 is not installed
    child.on('close', (code) => {
      if (code !== 0) return resolve(null);
      try {
        resolve(JSON.parse(out) as Record<string, ExtractedSymbol[] | null>);
      } catch {
        resolve(null);
      }
    });
    child.stdin.on('error', () => {}); // closed early by a failing interpreter: reported through 'close'
    child.stdin.end(JSON.stringify(files));
  });
}
