/**
 * Glob patterns that users supply (a project's ignored paths), matched in time linear in the path.
 * picomatch compiles a glob to a JavaScript regular expression, and one like
 * `*a*a*a*a*a*a*a*a*a*a*b` backtracks for tens of seconds on a 50-character path. Here a glob is
 * translated to RE2 syntax and run by re2js, an RE2 port whose matching has no backtracking.
 *
 * Syntax (paths use "/"; dotfiles match like any other name):
 * - `*` any run of characters within one path segment; `?` one character other than "/";
 * - `**` as a whole segment: any number of segments (`a/**` also matches `a`, `**\/b` also `b`);
 * - `[abc]`, `[a-z]`, `[!a]` / `[^a]` one character of (or not of) a set, never "/";
 * - `{a,b}` alternatives (nested allowed), `{1..20}` / `{a..f}` ranges;
 * - `\x` the character x itself; a leading `!` negates the whole pattern.
 * Extglobs (`@(…)`, `!(…)`, `+(…)`, `*(…)`, `?(…)`) are refused: `!(…)` has no linear form.
 */
import { RE2JS } from 're2js';

/** A glob that cannot be compiled; the message says what to change. */
export class GlobError extends Error {}

const RANGE_MAX = 100;
const escapeRegex = (c: string) => (/[\\^$.*+?()[\]{}|-]/.test(c) ? `\\${c}` : c);

/** Translates one glob (without its leading "!") to an RE2 expression that matches a whole path. */
function toRegexSource(glob: string): string {
  let out = '';
  let braces = 0;
  let rangeValues = 0;
  // A segment ends at "/" and, inside braces, at the alternative's edges.
  const boundary = (c: string | undefined) => c === undefined || c === '/' || (braces > 0 && (c === ',' || c === '}' || c === '{'));
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      if (i + 1 >= glob.length) throw new GlobError('ends with an unfinished escape "\\"');
      out += escapeRegex(glob[++i]);
    } else if ('@!+*?'.includes(c) && glob[i + 1] === '(') {
      throw new GlobError(`uses extglob syntax "${c}(…)", which is not supported; use braces such as {a,b} (or escape a literal parenthesis as \\()`);
    } else if (c === '*') {
      let stars = 1;
      while (glob[i + 1] === '*') {
        stars++;
        i++;
      }
      const start = i - stars + 1;
      const wholeSegment = boundary(glob[start - 1]) && boundary(glob[i + 1]);
      if (stars >= 2 && wholeSegment) {
        if (glob[i + 1] === '/') {
          out += '(?:[^/]*/)*'; // "**/": zero or more whole segments
          i++;
        } else if (out.endsWith('/') && start > 0) {
          // "a/**": anything below a, and a itself when a has no "*" (as picomatch has it).
          const parent = glob.slice(0, start - 1).split('/').pop()!;
          out = /\*/.test(parent) ? `${out}.*` : `${out.slice(0, -1)}(?:/.*)?`;
        } else out += '.*';
      } else out += wholeSegment ? '[^/]+' : '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) out += '\\[';
      else {
        out += charClass(glob.slice(i + 1, end));
        i = end;
      }
    } else if (c === '{') {
      const range = /^\{(-?\d+|[^\\{},.])\.\.(-?\d+|[^\\{},.])\}/.exec(glob.slice(i));
      if (range) {
        rangeValues += rangeSize(range[1], range[2]);
        if (rangeValues > RANGE_MAX) throw new GlobError(`has ranges of more than ${RANGE_MAX} values in all`);
        out += rangeSource(range[1], range[2]);
        i += range[0].length - 1;
      } else if (hasClosingBrace(glob, i)) {
        braces++;
        out += '(?:';
      } else out += '\\{';
    } else if (c === ',' && braces > 0) out += '|';
    else if (c === '}' && braces > 0) {
      braces--;
      out += ')';
    } else out += escapeRegex(c);
  }
  return out;
}

/** Where the class opened at `i` closes ("]" right after "[", "[!" or "[^" is a member), or -1. */
function classEnd(glob: string, i: number): number {
  let j = i + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  for (; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']') return j;
  }
  return -1;
}

/** An RE2 class for a glob class body: members escaped, ranges kept, "/" never matched. */
function charClass(body: string): string {
  const negated = body[0] === '!' || body[0] === '^';
  const first = negated ? 1 : 0;
  let members = '';
  for (let k = first; k < body.length; k++) {
    let ch = body[k];
    if (ch === '\\' && k + 1 < body.length) ch = body[++k]!;
    else if (ch === '-' && k > first && k < body.length - 1) {
      members += '-';
      continue;
    }
    if (ch !== '/') members += /[\\\]^[-]/.test(ch) ? `\\${ch}` : ch;
  }
  if (negated) return `[^/${members}]`;
  return members ? `[${members}]` : '[^\\s\\S]';
}

/** Whether the "{" at `i` has a matching "}" with a "," at its own depth (otherwise it is literal). */
function hasClosingBrace(glob: string, i: number): boolean {
  let depth = 0;
  let comma = false;
  for (let j = i; j < glob.length; j++) {
    const c = glob[j];
    if (c === '\\') j++;
    else if (c === '{') depth++;
    else if (c === ',' && depth === 1) comma = true;
    else if (c === '}' && --depth === 0) return comma;
  }
  return false;
}

const NUMERIC = /^-?\d+$/;
/** How many values a numeric range spans (a character range is one class: 1). */
const rangeSize = (from: string, to: string) => (NUMERIC.test(from) && NUMERIC.test(to) ? Math.abs(Number(to) - Number(from)) + 1 : 1);

/** `{1..12}` or `{a..f}`: the alternatives, as an RE2 group. */
function rangeSource(from: string, to: string): string {
  const numeric = NUMERIC;
  if (numeric.test(from) && numeric.test(to)) {
    const [a, b] = [Number(from), Number(to)];
    const values = Array.from({ length: Math.abs(b - a) + 1 }, (_, k) => String(a <= b ? a + k : a - k));
    return `(?:${values.map((v) => v.replace('-', '\\-')).join('|')})`;
  }
  if (numeric.test(from) !== numeric.test(to) || from.length !== 1 || to.length !== 1) throw new GlobError(`has a range {${from}..${to}} whose ends are not both numbers or both single characters`);
  const [lo, hi] = from <= to ? [from, to] : [to, from];
  return `[${escapeRegex(lo)}-${escapeRegex(hi)}]`;
}

/** Compiles a glob to a linear-time test of a whole path. Throws GlobError for one it refuses. */
export function compileGlob(glob: string): (path: string) => boolean {
  const negated = /^!+/.exec(glob)?.[0].length ?? 0;
  const body = glob.slice(negated);
  if (!body) throw new GlobError('must have something after "!"');
  let re: RE2JS;
  try {
    re = RE2JS.compile(toRegexSource(body));
  } catch (err) {
    if (err instanceof GlobError) throw err;
    throw new GlobError('is not a valid glob pattern');
  }
  return negated % 2 ? (p) => !re.matches(p) : (p) => re.matches(p);
}

/** Whether `compileGlob` accepts the glob. */
export function isValidGlob(glob: string): boolean {
  try {
    compileGlob(glob);
    return true;
  } catch (err) {
    if (err instanceof GlobError) return false;
    throw err;
  }
}

/** One test for a list of globs: true when any matches. The non-negated ones run as one expression. */
export function compileGlobs(globs: string[]): (path: string) => boolean {
  for (const g of globs) compileGlob(g); // each one's own error
  const plain = globs.filter((g) => !g.startsWith('!'));
  const tests = globs.filter((g) => g.startsWith('!')).map(compileGlob);
  if (plain.length) {
    const re = RE2JS.compile(plain.map((g) => `(?:${toRegexSource(g)})`).join('|'));
    tests.unshift((p) => re.matches(p));
  }
  return (p) => tests.some((t) => t(p));
}
