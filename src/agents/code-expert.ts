/**
 * The built-in `code_expert` agent: review findings that matter, from the syntax tree of
 * JavaScript and TypeScript files (the TypeScript compiler API) and, for every language, from the
 * text (duplicated blocks):
 *  - swallowed-error: an empty `catch` block, or `.catch()` with a handler that does nothing;
 *  - unhandled-promise: a `.then(...)` chain used as a statement with no `.catch(...)` and no
 *    second (rejection) argument: a rejection goes unhandled;
 *  - unreachable-code: a statement after `return`, `throw`, `break` or `continue` in the same block;
 *  - high-complexity: a function whose cyclomatic complexity passes COMPLEXITY_THRESHOLD (the
 *    measure is in the finding);
 *  - duplicated-block: DUPLICATE_LINES or more consecutive non-trivial lines that occur again,
 *    in the same file or another (reported at the repeat, pointing at the first);
 *  - resource-leak: a file descriptor or stream opened into a local variable that the function
 *    neither closes nor hands on (returns, passes or stores).
 * With the `review` rule set (the reviews API) also performance and style rules:
 *  - await-in-loop: `await` inside a loop body, so independent operations run one after another;
 *  - sync-io-in-async: a blocking `fs.*Sync` call inside an async function;
 *  - no-var: a `var` declaration (function-scoped, hoisted);
 *  - loose-equality: `==` / `!=` other than against null (type coercion).
 */
import ts from 'typescript';
import type { Finding, SourceFile } from './security-expert.js';

export const COMPLEXITY_THRESHOLD = 10;
export const DUPLICATE_LINES = 6;

const SCRIPT_KINDS: Record<string, ts.ScriptKind> = {
  '.ts': ts.ScriptKind.TS,
  '.mts': ts.ScriptKind.TS,
  '.cts': ts.ScriptKind.TS,
  '.tsx': ts.ScriptKind.TSX,
  '.js': ts.ScriptKind.JS,
  '.mjs': ts.ScriptKind.JS,
  '.cjs': ts.ScriptKind.JS,
  '.jsx': ts.ScriptKind.JSX,
};

/** The TypeScript compiler's script kind for a JS/TS path, or null for other files. */
export function scriptKind(path: string): ts.ScriptKind | null {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? null : (SCRIPT_KINDS[path.slice(dot).toLowerCase()] ?? null);
}

/** Which rules run: the code_expert agent's, or those plus the reviews API's performance and style rules. */
export type RuleSet = 'agent' | 'review';

/** Reports a finding at `node`; its line range spans `range` (default: the node). */
type Emit = (node: ts.Node, f: Omit<Finding, 'file' | 'line'>, range?: ts.Node) => void;

const isFunctionLike = (n: ts.Node): n is ts.FunctionLikeDeclaration =>
  ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isArrowFunction(n) || ts.isMethodDeclaration(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n);

/** A block with no statements (comments do not count: they do not handle anything). */
const isEmptyBlock = (n: ts.Node | undefined) => !!n && ts.isBlock(n) && n.statements.length === 0;

function functionName(fn: ts.FunctionLikeDeclaration): string {
  if (fn.name && ts.isIdentifier(fn.name)) return fn.name.text;
  const parent = fn.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isConstructorDeclaration(fn)) return 'constructor';
  return '(anonymous)';
}

/** McCabe's measure: 1 + one per decision point, not counting nested functions. */
function cyclomaticComplexity(fn: ts.FunctionLikeDeclaration): number {
  let complexity = 1;
  const visit = (n: ts.Node) => {
    if (n !== fn && isFunctionLike(n)) return;
    switch (n.kind) {
      case ts.SyntaxKind.IfStatement:
      case ts.SyntaxKind.ForStatement:
      case ts.SyntaxKind.ForInStatement:
      case ts.SyntaxKind.ForOfStatement:
      case ts.SyntaxKind.WhileStatement:
      case ts.SyntaxKind.DoStatement:
      case ts.SyntaxKind.CaseClause:
      case ts.SyntaxKind.CatchClause:
      case ts.SyntaxKind.ConditionalExpression:
        complexity++;
        break;
      case ts.SyntaxKind.BinaryExpression: {
        const op = (n as ts.BinaryExpression).operatorToken.kind;
        if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.QuestionQuestionToken) complexity++;
      }
    }
    ts.forEachChild(n, visit);
  };
  ts.forEachChild(fn, visit);
  return complexity;
}

/** The outermost call of a `.then(...)…` statement chain, and whether any link handles rejection. */
function unhandledThen(expr: ts.Expression): boolean {
  let sawThen = false;
  let current: ts.Expression = expr;
  while (ts.isCallExpression(current) && ts.isPropertyAccessExpression(current.expression)) {
    const method = current.expression.name.text;
    if (method === 'catch') return false;
    if (method === 'then') {
      if (current.arguments.length >= 2) return false; // then(onFulfilled, onRejected)
      sawThen = true;
    }
    current = current.expression.expression;
  }
  return sawThen;
}

const OPENERS = new Set(['openSync', 'open', 'createReadStream', 'createWriteStream']);
const CLOSERS = new Set(['close', 'closeSync', 'end', 'destroy']);
/** fs functions that use a descriptor without taking charge of it. */
const USERS = new Set(['read', 'readSync', 'write', 'writeSync', 'fstat', 'fstatSync', 'fsync', 'fsyncSync', 'ftruncate', 'ftruncateSync', 'fdatasync', 'fdatasyncSync', 'readv', 'readvSync', 'writev', 'writevSync']);

/** Local variables assigned a file descriptor or stream that the function never releases or hands on. */
function resourceLeaks(fn: ts.FunctionLikeDeclaration, emit: Emit) {
  if (!fn.body || !ts.isBlock(fn.body)) return;
  const opened = new Map<string, ts.VariableDeclaration>();
  const released = new Set<string>();
  const visit = (n: ts.Node) => {
    if (n !== fn && isFunctionLike(n)) {
      // A variable used inside a callback is handed on (the callback may close it).
      const names = new Set<string>();
      const collect = (m: ts.Node): void => {
        if (ts.isIdentifier(m)) names.add(m.text);
        else ts.forEachChild(m, collect);
      };
      collect(n);
      names.forEach((name) => released.add(name));
      return;
    }
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      let init = n.initializer;
      if (ts.isAwaitExpression(init)) init = init.expression;
      if (ts.isCallExpression(init)) {
        const callee = init.expression;
        const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
        if (OPENERS.has(name)) opened.set(n.name.text, n);
      }
    }
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      // x.close() / x.end() / x.destroy()
      if (ts.isPropertyAccessExpression(callee) && CLOSERS.has(callee.name.text) && ts.isIdentifier(callee.expression)) released.add(callee.expression.text);
      // fs.closeSync(fd), close(fd), or any other call that receives it (handed on); fs.readSync(fd) only uses it.
      const calleeName = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
      if (!USERS.has(calleeName)) for (const arg of n.arguments) if (ts.isIdentifier(arg)) released.add(arg.text);
    }
    if (ts.isReturnStatement(n) && n.expression && ts.isIdentifier(n.expression)) released.add(n.expression.text);
    if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isIdentifier(n.right)) released.add(n.right.text);
    if ((ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) && ts.isIdentifier(ts.isPropertyAssignment(n) ? n.initializer : n.name)) {
      released.add((ts.isPropertyAssignment(n) ? (n.initializer as ts.Identifier) : n.name).text);
    }
    ts.forEachChild(n, visit);
  };
  ts.forEachChild(fn.body, visit);
  for (const [name, decl] of opened) {
    if (released.has(name)) continue;
    emit(decl, {
      ruleId: 'resource-leak',
      severity: 'medium',
      title: 'Resource opened and never closed',
      description: `"${name}" is opened in ${functionName(fn)} but never closed, returned or handed on: every call leaks a file descriptor.`,
      suggestion: `Close it in a finally block (${name}.close() / fs.closeSync(${name})), or use a helper that closes for you (fs.readFile, stream.pipeline).`,
    });
  }
}

/** Findings from the syntax tree of one JavaScript or TypeScript file. */
function analyzeSyntax(file: SourceFile, kind: ts.ScriptKind, rules: RuleSet): Finding[] {
  const source = ts.createSourceFile(file.path, file.content, ts.ScriptTarget.Latest, true, kind);
  const findings: Finding[] = [];
  const emit: Emit = (node, f, range = node) => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const endLine = source.getLineAndCharacterOfPosition(range.getEnd()).line + 1;
    findings.push({ ...f, file: file.path, line, endLine: Math.max(line, endLine) });
  };

  const visit = (node: ts.Node) => {
    if (ts.isCatchClause(node) && isEmptyBlock(node.block)) {
      emit(node, {
        ruleId: 'swallowed-error',
        severity: 'medium',
        title: 'Error swallowed by an empty catch block',
        description: 'The catch block does nothing: the failure disappears and the code goes on as if it had worked.',
        suggestion: 'Handle the error, log it with context, or rethrow it; if ignoring it is intended, say why in a comment and narrow what is caught.',
      });
    }
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'catch') {
      const handler = node.arguments[0];
      if (handler && (ts.isArrowFunction(handler) || ts.isFunctionExpression(handler)) && isEmptyBlock(handler.body)) {
        emit(node.expression.name, {
          ruleId: 'swallowed-error',
          severity: 'medium',
          title: 'Promise rejection swallowed by an empty handler',
          description: 'The .catch() handler does nothing: the rejection is silenced and nobody learns the operation failed.',
          suggestion: 'Log or report the error in the handler, or let it propagate to a caller that handles it.',
        });
      }
    }
    if (ts.isExpressionStatement(node) && unhandledThen(node.expression)) {
      emit(node, {
        ruleId: 'unhandled-promise',
        severity: 'high',
        title: 'Promise chain without rejection handling',
        description: 'This .then() chain is neither awaited nor returned and has no .catch(): a rejection becomes an unhandledRejection, which stops a Node.js process by default.',
        suggestion: 'Add .catch() with real handling, or await the promise inside try/catch.',
      });
    }
    if (ts.isBlock(node) || ts.isSourceFile(node) || ts.isCaseClause(node) || ts.isDefaultClause(node)) {
      const statements = node.statements;
      const exit = statements.findIndex(
        (s) => ts.isReturnStatement(s) || ts.isThrowStatement(s) || ts.isBreakStatement(s) || ts.isContinueStatement(s),
      );
      // Function declarations are hoisted: they are reachable after a return.
      const dead = exit >= 0 ? statements.slice(exit + 1).find((s) => !ts.isFunctionDeclaration(s) && !ts.isEmptyStatement(s)) : undefined;
      if (dead) {
        emit(dead, {
          ruleId: 'unreachable-code',
          severity: 'low',
          title: 'Unreachable code',
          description: `This statement comes after a ${ts.SyntaxKind[statements[exit].kind].replace('Statement', '').toLowerCase()} in the same block and can never run.`,
          suggestion: 'Delete it, or move it before the statement that leaves the block if it was meant to run.',
        });
      }
    }
    if (isFunctionLike(node) && node.body) {
      const complexity = cyclomaticComplexity(node);
      if (complexity > COMPLEXITY_THRESHOLD) {
        emit(node.name ?? node, {
          ruleId: 'high-complexity',
          severity: complexity > 2 * COMPLEXITY_THRESHOLD ? 'high' : 'medium',
          title: `Function ${functionName(node)} is too complex (cyclomatic complexity ${complexity})`,
          description: `${functionName(node)} has a cyclomatic complexity of ${complexity} (threshold ${COMPLEXITY_THRESHOLD}): it has more paths than a reader or a test suite can follow.`,
          suggestion: 'Split it into smaller functions, replace condition chains with a lookup table or early returns, and test each part.',
        }, node);
      }
      resourceLeaks(node, emit);
    }
    if (rules === 'review') reviewRules(node, emit);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return findings;
}

const LOOPS = new Set([ts.SyntaxKind.ForStatement, ts.SyntaxKind.ForInStatement, ts.SyntaxKind.ForOfStatement, ts.SyntaxKind.WhileStatement, ts.SyntaxKind.DoStatement]);
const BLOCKING_FS = /^(readFile|writeFile|appendFile|exists|stat|lstat|readdir|mkdir|rm|rmdir|unlink|copyFile|rename|access|open|read|write)Sync$/;

/** The nearest enclosing function of a node, or undefined at top level. */
function enclosingFunction(node: ts.Node): ts.FunctionLikeDeclaration | undefined {
  for (let n = node.parent; n; n = n.parent) if (isFunctionLike(n)) return n;
  return undefined;
}

/** Whether `node` sits in the body of a loop of its own function (the loop's header does not count). */
function inLoopBody(node: ts.Node): boolean {
  for (let child = node, n = node.parent; n; child = n, n = n.parent) {
    if (isFunctionLike(n)) return false;
    if (LOOPS.has(n.kind) && (n as ts.IterationStatement).statement === child) {
      // `for await` iterates asynchronously on purpose.
      return !(ts.isForOfStatement(n) && n.awaitModifier);
    }
  }
  return false;
}

/** The reviews API's performance and style rules. */
function reviewRules(node: ts.Node, emit: Emit) {
  if (ts.isAwaitExpression(node) && inLoopBody(node)) {
    emit(node, {
      ruleId: 'await-in-loop',
      severity: 'low',
      title: 'await inside a loop',
      description: 'Each iteration waits for the previous one: independent operations run one after another instead of concurrently.',
      suggestion: 'Start the operations first and await them together (Promise.all over the mapped promises), or keep the loop if each step needs the one before.',
    });
  }
  if (ts.isCallExpression(node)) {
    const callee = node.expression;
    const name = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : '';
    const fn = BLOCKING_FS.test(name) ? enclosingFunction(node) : undefined;
    if (fn && ts.getCombinedModifierFlags(fn) & ts.ModifierFlags.Async) {
      emit(node, {
        ruleId: 'sync-io-in-async',
        severity: 'medium',
        title: `Blocking ${name} in an async function`,
        description: `${name} blocks the event loop until the file system answers; inside ${functionName(fn)}, an async function, every other request waits with it.`,
        suggestion: `Use the promise API instead: await fs.promises.${name.replace(/Sync$/, '')}(…) (node:fs/promises).`,
      });
    }
  }
  if (ts.isVariableDeclarationList(node) && (node.flags & ts.NodeFlags.BlockScoped) === 0 && !ts.isCatchClause(node.parent)) {
    emit(node, {
      ruleId: 'no-var',
      severity: 'low',
      title: 'var declaration',
      description: 'var is function-scoped and hoisted: the variable is visible (as undefined) before its declaration and leaks out of blocks.',
      suggestion: 'Declare it with const, or let when it is reassigned.',
    });
  }
  if (ts.isBinaryExpression(node)) {
    const op = node.operatorToken.kind;
    const isNull = (e: ts.Expression) => e.kind === ts.SyntaxKind.NullKeyword;
    if ((op === ts.SyntaxKind.EqualsEqualsToken || op === ts.SyntaxKind.ExclamationEqualsToken) && !isNull(node.left) && !isNull(node.right)) {
      const strict = op === ts.SyntaxKind.EqualsEqualsToken ? '===' : '!==';
      emit(node.operatorToken, {
        ruleId: 'loose-equality',
        severity: 'low',
        title: `Loose equality (${node.operatorToken.getText()})`,
        description: `${node.operatorToken.getText()} converts types before comparing ("0" == 0, [] == false): the result surprises readers.`,
        suggestion: `Use ${strict}; compare against null with == only to mean null or undefined.`,
      }, node);
    }
  }
}

/** Lines that say nothing on their own (braces, blank, comments) do not start or make up a duplicate. */
const trivial = (line: string) => line === '' || /^[{}()[\];,]*$/.test(line) || /^(\/\/|#|\*|\/\*)/.test(line);

/**
 * Finds blocks of DUPLICATE_LINES or more non-trivial lines that occur again (whitespace ignored),
 * one file at a time: each `add` reports the blocks of that file that repeat a file added before
 * (or an earlier place in itself), so a review can report them as it goes.
 */
export class DuplicateIndex {
  private readonly first = new Map<string, { file: string; line: number }>();

  add(file: SourceFile): Finding[] {
    const findings: Finding[] = [];
    const lines = file.content.split('\n').map((l, i) => ({ text: l.trim().replace(/\s+/g, ' '), line: i + 1 })).filter((l) => !trivial(l.text));
    let skipUntil = -1;
    for (let i = 0; i + DUPLICATE_LINES <= lines.length; i++) {
      const window = lines.slice(i, i + DUPLICATE_LINES);
      const key = window.map((l) => l.text).join('\n');
      const seen = this.first.get(key);
      if (!seen) {
        this.first.set(key, { file: file.path, line: window[0].line });
        continue;
      }
      // The window overlapping its own first occurrence is not a copy of it.
      if (seen.file === file.path && seen.line + DUPLICATE_LINES > window[0].line) continue;
      if (i <= skipUntil) continue; // one finding per copied block, not one per shifted window
      skipUntil = i + DUPLICATE_LINES - 1;
      findings.push({
        ruleId: 'duplicated-block',
        severity: 'low',
        title: 'Duplicated block',
        description: `These ${DUPLICATE_LINES}+ lines repeat ${seen.file}:${seen.line}; a fix made in one copy will be missed in the other.`,
        suggestion: 'Extract the shared lines into one function and call it from both places.',
        file: file.path,
        line: window[0].line,
        endLine: window.at(-1)!.line,
      });
    }
    return findings;
  }
}

/** Blocks of DUPLICATE_LINES or more non-trivial lines that occur again (whitespace ignored). */
export function duplicatedBlocks(files: SourceFile[]): Finding[] {
  const index = new DuplicateIndex();
  return files.flatMap((file) => index.add(file));
}

/** Per-file findings (syntax rules for JavaScript and TypeScript). */
export function reviewFile(file: SourceFile, rules: RuleSet = 'agent'): Finding[] {
  const kind = scriptKind(file.path);
  return kind === null ? [] : analyzeSyntax(file, kind, rules);
}

/** Every finding for a set of files, ordered by file and line. */
export function reviewFiles(files: SourceFile[]): Finding[] {
  return [...files.flatMap((f) => reviewFile(f)), ...duplicatedBlocks(files)].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}
