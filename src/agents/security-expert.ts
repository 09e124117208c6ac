/**
 * The built-in security_expert agent: static analysis of source files, line by line after
 * comments are stripped, with a light intra-file taint pass for request-derived paths.
 * Each rule knows the languages it applies to and reports the exact line.
 */

/** A file submitted for analysis. */
export interface SourceFile {
  path: string;
  content: string;
}
export type Severity = 'critical' | 'high' | 'medium' | 'low';
/** One finding, located on the exact 1-based line where the problem is. */
export interface Finding {
  ruleId: string;
  severity: Severity;
  title: string;
  description: string;
  file: string;
  line: number;
  /** Last line of the problem when it spans several (a function, a copied block); else absent. */
  endLine?: number;
  suggestion: string;
}
/** Languages the analyzer knows, detected from the file extension. */
export type Language = 'javascript' | 'typescript' | 'python' | 'go' | 'java' | 'rust';

const EXTENSIONS: Record<string, Language> = {
  js: 'javascript', jsx: 'javascript', mjs: 'javascript', cjs: 'javascript',
  ts: 'typescript', tsx: 'typescript', mts: 'typescript', cts: 'typescript',
  py: 'python', go: 'go', java: 'java', rs: 'rust',
};

/** The language of a path from its extension, or null. */
export function detectLanguage(path: string): Language | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext && EXTENSIONS[ext]) || null;
}

interface LineContext {
  /** The line with comments removed. */
  code: string;
  /** The line with comments removed and string literal contents blanked. */
  bare: string;
  language: Language | null;
  /** Variables assigned from request input earlier in the file. */
  tainted: Set<string>;
  /** Variables passed through a sanitizer (basename, prefix checks) anywhere in the file. */
  sanitized: Set<string>;
  /** The signature line of the enclosing function (nearest one above), comment-free. */
  signature: string;
  /** The next line, comment-free. */
  next: string;
}

interface Hit {
  description: string;
}

interface Rule {
  id: string;
  severity: Severity;
  title: string;
  languages: Language[] | 'all';
  suggestion: (language: Language | null) => string;
  check: (ctx: LineContext) => Hit | null;
}

const isJs = (l: Language | null) => l === 'javascript' || l === 'typescript';

// ---------------------------------------------------------------------------------------------
// Lexing: strip comments and blank string contents, carrying block-comment state across lines.

interface Lexed {
  code: string;
  bare: string;
}

/** Characters that can open a comment or a string; everything between them is copied as a run. */
const SPECIAL = /["'`/#]/g;

function lex(content: string, language: Language | null): Lexed[] {
  const hashComments = language === 'python';
  const slashComments = language !== 'python';
  const out: Lexed[] = [];
  let inBlock = false;
  let inTriple: string | null = null;
  for (const line of content.split(/\r?\n/)) {
    let code = '';
    let bare = '';
    let i = 0;
    while (i < line.length) {
      if (inBlock) {
        const end = line.indexOf('*/', i);
        if (end < 0) i = line.length;
        else {
          inBlock = false;
          i = end + 2;
        }
        continue;
      }
      if (inTriple) {
        const end = line.indexOf(inTriple, i);
        const stop = end < 0 ? line.length : end;
        code += line.slice(i, stop);
        bare += ' '.repeat(stop - i);
        if (end < 0) i = line.length;
        else {
          code += inTriple;
          bare += inTriple;
          inTriple = null;
          i = end + 3;
        }
        continue;
      }
      // Plain code up to the next character that may open a comment or a string, copied at once.
      SPECIAL.lastIndex = i;
      const special = SPECIAL.exec(line);
      const stop = special ? special.index : line.length;
      if (stop > i) {
        const run = line.slice(i, stop);
        code += run;
        bare += run;
        i = stop;
        continue;
      }
      const ch = line[i];
      const next = line[i + 1];
      if (slashComments && ch === '/' && next === '*') {
        inBlock = true;
        i += 2;
        continue;
      }
      if ((slashComments && ch === '/' && next === '/') || (hashComments && ch === '#')) break;
      const three = line.slice(i, i + 3);
      if (hashComments && (three === '"""' || three === "'''")) {
        inTriple = three;
        code += three;
        bare += three;
        i += 3;
        continue;
      }
      if (ch === '"' || ch === "'" || ch === '`') {
        // Rust lifetimes ('a) and char literals are not strings worth tracking.
        if (ch === "'" && language === 'rust' && !/^'(\\.|[^\\'])'/.test(line.slice(i))) {
          code += ch;
          bare += ch;
          i++;
          continue;
        }
        let j = i + 1;
        while (j < line.length && line[j] !== ch) j += line[j] === '\\' ? 2 : 1;
        const literal = line.slice(i, j + 1);
        code += literal;
        // Interpolations (`${x}`, f"{x}") are code, so they stay visible to the rules.
        const interpolation = ch === '`' ? /\$\{[^}]*\}/g : language === 'python' && /f$/i.test(line.slice(0, i)) ? /\{[^}]*\}/g : null;
        const inner = literal.slice(1, literal.length - (j < line.length ? 1 : 0));
        const kept = interpolation ? inner.replace(/[^]/g, ' ').split('') : null;
        if (kept && interpolation) for (const m of inner.matchAll(interpolation)) kept.splice(m.index, m[0].length, ...m[0]);
        bare += ch + (kept ? kept.join('') : ' '.repeat(inner.length)) + (j < line.length ? ch : '');
        i = j + 1;
        continue;
      }
      code += ch;
      bare += ch;
      i++;
    }
    out.push({ code, bare });
  }
  return out;
}

/** String literals of a line (contents without quotes). */
function literals(code: string): string[] {
  return [...code.matchAll(/"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|`((?:\\.|[^`\\])*)`/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

/** A secret shown in a finding: its first characters only. */
const mask = (secret: string) => `${secret.slice(0, 4)}…`;

// ---------------------------------------------------------------------------------------------
// Hard-coded secrets

const TOKEN_PATTERNS: Array<{ re: RegExp; kind: string }> = [
  { re: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, kind: 'AWS access key id' },
  { re: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----/, kind: 'private key' },
  { re: /\bgh[pousr]_[A-Za-z0-9]{36,}\b/, kind: 'GitHub token' },
  { re: /\bxox[baprs]-[A-Za-z0-9-]{10,}\b/, kind: 'Slack token' },
  { re: /\b[sr]k_live_[A-Za-z0-9]{16,}\b/, kind: 'Stripe live secret key' },
  { re: /\bAIza[0-9A-Za-z_-]{35}\b/, kind: 'Google API key' },
];

const SECRET_NAME = /(pass(word|wd)?|pwd|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?token|token|client[_-]?secret|credentials?)/i;
const PLACEHOLDER = /^(changeme|change[_-]?me|example|dummy|test|xxx+|\*+|\.\.\.|todo|none|null|secret|password|your[_-].*|<.*>|\$\{.*\}|\{\{.*\}\}|%\(.*\)s)$/i;

const QUOTE = /["'`]/;

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

function looksLikeSecretValue(value: string): boolean {
  if (value.length < 8 || PLACEHOLDER.test(value) || /\s/.test(value)) return false;
  if (/^(https?:|\/|\.\/)/.test(value) && !/:\/\/[^/]*:[^@/]+@/.test(value)) return false;
  return entropy(value) >= 2.5;
}

function checkSecrets(ctx: LineContext): Hit | null {
  for (const { re, kind } of TOKEN_PATTERNS) {
    const m = re.exec(ctx.code);
    if (m) return { description: `A ${kind} (${mask(m[0])}) is written in the source, where anyone with the code can use it.` };
  }
  // name = "literal" / name: "literal" / name := "literal" / const NAME: &str = "literal"
  if (!QUOTE.test(ctx.code)) return null;
  const assign = /([A-Za-z_][A-Za-z0-9_.]*)["']?\s*(?::\s*(?:&'static\s+|&)?[A-Za-z_<>[\]]+\s*)?(?:=|:=|:|=>)\s*(?:[A-Za-z_]+\()?\s*["'`]([^"'`]+)["'`]/g;
  for (const m of ctx.code.matchAll(assign)) {
    const name = m[1];
    const value = m[2];
    if (!SECRET_NAME.test(name.split('.').pop()!) || /(_?url|_?path|_?file|_?name|_?field|_?header|_?env|_?var|_?id|_?type|_?prefix)$/i.test(name)) continue;
    if (!looksLikeSecretValue(value)) continue;
    return { description: `"${name}" is set to a literal secret (${mask(value)}) in the source.` };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Injection rules

const SQL_START = /\b(SELECT\s+[\w*,\s.()]+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|DROP\s+TABLE|WHERE\s+\w+\s*(=|LIKE|IN))/i;

function sqlLiteral(code: string): boolean {
  return literals(code).some((l) => SQL_START.test(l));
}

function checkSql(ctx: LineContext): Hit | null {
  const { code, bare, language } = ctx;
  if (!sqlLiteral(code)) return null;
  const lits = literals(code);
  let how: string | null = null;
  if (/["'`]\s*\+\s*[A-Za-z_$(]|[A-Za-z_$)\]]\s*\+\s*["'`]/.test(bare) && !/["'`]\s*\+\s*["'`]/.test(bare.replace(/\s+/g, ''))) how = 'string concatenation';
  if (isJs(language) && /`[^`]*\$\{[^}]+\}[^`]*`/.test(code) && lits.some((l) => SQL_START.test(l) && l.includes('${'))) how = 'template literal interpolation';
  if (language === 'python') {
    if (/\bf["']/.test(code) && lits.some((l) => SQL_START.test(l) && /\{[^}]+\}/.test(l))) how = 'an f-string';
    else if (/["']\s*%\s*[(A-Za-z_]/.test(code)) how = '% formatting';
    else if (/["']\s*\.format\(/.test(code)) how = '.format()';
  }
  if (language === 'go' && /fmt\.Sprintf\(/.test(code) && lits.some((l) => SQL_START.test(l) && /%[sdv]/.test(l))) how = 'fmt.Sprintf';
  if (language === 'rust' && /format!\(/.test(code) && lits.some((l) => SQL_START.test(l) && /\{[^}]*\}/.test(l))) how = 'format!';
  if (language === 'java' && /String\.format\(/.test(code) && lits.some((l) => SQL_START.test(l) && /%[sd]/.test(l))) how = 'String.format';
  if (!how) return null;
  return { description: `An SQL statement is built with ${how} from values that may come from the caller, so input can change the query.` };
}

const DYNAMIC_ARG = (bare: string) => /[A-Za-z_$)\]]\s*\+|\+\s*[A-Za-z_$(]|\$\{|%\s*[(A-Za-z_]|\.format\(|\bf["']|format!\(|fmt\.Sprintf\(/.test(bare);

function checkCommand(ctx: LineContext): Hit | null {
  const { code, bare, language } = ctx;
  if (isJs(language)) {
    const call = /\b(execSync|exec)\s*\(\s*([^,)]*)/.exec(bare);
    if (call && !/\.exec\(/.test(bare.slice(Math.max(0, call.index - 1), call.index + 6)) && (DYNAMIC_ARG(call[2]) || /\$\{/.test(code) || /^\s*[A-Za-z_$][\w$.]*\s*$/.test(call[2]))) {
      return { description: `${call[1]}() runs a shell command built from dynamic values; shell metacharacters in them run as commands.` };
    }
    if (/\bspawn(Sync)?\s*\(/.test(bare) && /shell\s*:\s*true/.test(bare)) return { description: 'spawn() with shell: true passes its arguments through a shell.' };
  }
  if (language === 'python') {
    if (/\bos\.(system|popen)\s*\(/.test(bare) && !/\bos\.(system|popen)\s*\(\s*["'][^"']*["']\s*\)/.test(code)) return { description: 'os.system()/os.popen() runs a shell command built from dynamic values.' };
    if (/\bsubprocess\.\w+\(/.test(bare) && /shell\s*=\s*True/.test(bare) && !/subprocess\.\w+\(\s*["'][^"']*["']\s*,/.test(code)) return { description: 'subprocess with shell=True runs a dynamic command line through the shell.' };
  }
  if (language === 'go' && /exec\.Command(Context)?\(\s*(ctx\s*,\s*)?["'](\/bin\/)?(ba|z)?sh["']\s*,\s*["']-c["']\s*,\s*[^"'\s]/.test(code)) return { description: 'exec.Command("sh", "-c", …) runs a dynamic command line through the shell.' };
  if (language === 'java' && /Runtime\.getRuntime\(\)\.exec\(/.test(bare) && !/\.exec\(\s*"[^"]*"\s*\)/.test(code)) return { description: 'Runtime.exec() runs a command line built from dynamic values.' };
  if (language === 'rust' && /Command::new\(\s*"(\/bin\/)?(ba)?sh"\s*\)/.test(code) && /\.arg\(\s*"-c"\s*\)/.test(code) && /\.arg\(\s*(format!|&?[a-z_])/.test(code.replace(/\.arg\(\s*"-c"\s*\)/, ''))) return { description: 'Command::new("sh").arg("-c") runs a dynamic command line through the shell.' };
  return null;
}

function checkEval(ctx: LineContext): Hit | null {
  const { code, bare, language } = ctx;
  if (isJs(language)) {
    if (/(^|[^\w.$])eval\s*\(\s*[^)\s]/.test(bare) && !/\beval\s*\(\s*["'`][^"'`$]*["'`]\s*\)/.test(code)) return { description: 'eval() executes a dynamic string as code.' };
    if (/\bnew\s+Function\s*\(/.test(bare) && !/new\s+Function\(\s*(["'`][^"'`$]*["'`]\s*,?\s*)*\)/.test(code)) return { description: 'new Function() compiles a dynamic string into code.' };
    if (/\bset(Timeout|Interval)\s*\(\s*["'`][^"'`]*["'`]\s*\+/.test(code) || /\bset(Timeout|Interval)\s*\(\s*`[^`]*\$\{/.test(code)) return { description: 'setTimeout/setInterval with a string argument evaluates it as code.' };
  }
  if (language === 'python' && /(^|[^\w.])(eval|exec)\s*\(\s*[^)\s"']/.test(bare) && !/literal_eval/.test(bare)) {
    return { description: `${/(^|[^\w.])eval\s*\(/.test(bare) ? 'eval' : 'exec'}() executes a dynamic string as Python code.` };
  }
  return null;
}

const PASSWORD_WORD = /pass(word|wd)?|pwd/i;

function checkWeakHash(ctx: LineContext): Hit | null {
  const { code, language } = ctx;
  if (![code, ctx.signature, ctx.next].some((text) => PASSWORD_WORD.test(text))) return null;
  const weak =
    (isJs(language) && /createHash\(\s*["'](md5|sha1)["']/i.exec(code)) ||
    (language === 'python' && /hashlib\.(md5|sha1)\s*\(/.exec(code)) ||
    (language === 'go' && /\b(md5|sha1)\.(Sum|New)\b/.exec(code)) ||
    (language === 'java' && /MessageDigest\.getInstance\(\s*"(MD5|SHA-?1)"/i.exec(code)) ||
    (language === 'rust' && /\b(md5::compute|Md5::|Sha1::)/i.exec(code));
  if (!weak) return null;
  return { description: `A password is hashed with ${(weak[1] ?? weak[0]).replace(/::.*/, '').toUpperCase()}, which is fast to brute-force and unsalted.` };
}

function checkTls(ctx: LineContext): Hit | null {
  const { code, bare, language } = ctx;
  if (isJs(language)) {
    if (/rejectUnauthorized\s*:\s*false/.test(bare)) return { description: 'rejectUnauthorized: false accepts any TLS certificate.' };
    if (/NODE_TLS_REJECT_UNAUTHORIZED/.test(code) && /=\s*["']?0["']?/.test(code)) return { description: 'NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate checks for the whole process.' };
  }
  if (language === 'python' && /\bverify\s*=\s*False\b/.test(bare)) return { description: 'verify=False accepts any TLS certificate.' };
  if (language === 'python' && /ssl\._create_unverified_context|CERT_NONE/.test(bare)) return { description: 'An unverified SSL context accepts any certificate.' };
  if (language === 'go' && /InsecureSkipVerify\s*:\s*true/.test(bare)) return { description: 'InsecureSkipVerify: true accepts any TLS certificate.' };
  if (language === 'java' && (/ALLOW_ALL_HOSTNAME_VERIFIER|NoopHostnameVerifier/.test(bare) || /\(\s*\w+\s*,\s*\w+\s*\)\s*->\s*true/.test(bare) && /HostnameVerifier/.test(bare))) {
    return { description: 'A hostname verifier that accepts every host turns off TLS identity checks.' };
  }
  if (language === 'java' && /checkServerTrusted\s*\([^)]*\)\s*(throws\s+\w+\s*)?\{\s*\}/.test(bare)) return { description: 'An empty checkServerTrusted() trusts every certificate.' };
  if (language === 'rust' && /danger_accept_invalid_(certs|hostnames)\s*\(\s*true\s*\)/.test(bare)) return { description: 'danger_accept_invalid_certs(true) accepts any TLS certificate.' };
  return null;
}

const REQUEST_SOURCE = /\breq(uest)?\.(params|query|body|args|form|values|GET|POST|files)\b|\brequest\.(args|form|values|GET|POST|json)\b|r\.URL\.Query\(\)|r\.(FormValue|PostFormValue)\(|\.getParameter\(|\bPath\(|\bQuery\(|c\.(Param|Query)\(/;
const FILE_SINKS: Record<Language, RegExp> = {
  javascript: /\b(fs\.\w*(readFile|writeFile|createReadStream|createWriteStream|readdir|unlink|open)\w*|(readFile|writeFile|appendFile)(Sync)?|createReadStream|createWriteStream|res\.(sendFile|download))\s*\(/,
  typescript: /\b(fs\.\w*(readFile|writeFile|createReadStream|createWriteStream|readdir|unlink|open)\w*|(readFile|writeFile|appendFile)(Sync)?|createReadStream|createWriteStream|res\.(sendFile|download))\s*\(/,
  python: /(^|[^\w.])(open|send_file|send_from_directory)\s*\(|os\.(remove|unlink)\(/,
  go: /\b(os\.(Open|OpenFile|ReadFile|Create|Remove)|ioutil\.ReadFile|http\.ServeFile)\s*\(/,
  java: /\bnew\s+(File|FileInputStream|FileReader|FileOutputStream)\s*\(|Files\.(read\w*|newInputStream|newOutputStream|write|delete)\(/,
  rust: /\b(File::open|File::create|fs::read_to_string|fs::read|fs::write)\s*\(/,
};
const SANITIZERS = /\b(path\.basename|basename|filepath\.Base|filepath\.Clean|os\.path\.basename|secure_filename|getFileName|file_name)\s*\(|startsWith\(|startswith\(|HasPrefix\(|starts_with\(/;

function checkPathTraversal(ctx: LineContext): Hit | null {
  const { bare, language, tainted, sanitized } = ctx;
  if (!language) return null;
  const sink = FILE_SINKS[language].exec(bare);
  if (!sink) return null;
  // Only the path argument counts: `fs.readFile(p, (err, data) => res.send(data))` is about p.
  const args = firstArgument(bare.slice(sink.index + sink[0].length));
  if (SANITIZERS.test(args)) return null;
  if (REQUEST_SOURCE.test(args)) return { description: 'A file path taken straight from the request reaches a file operation, so "../" can read or write outside the intended folder.' };
  for (const name of tainted) {
    if (sanitized.has(name)) continue;
    if (new RegExp(`(^|[^\\w.$])${name.replace(/\$/g, '\\$')}([^\\w$]|$)`).test(args)) {
      return { description: `"${name}" comes from the request and reaches a file operation without being confined, so "../" can escape the intended folder.` };
    }
  }
  return null;
}

/** Collects variables assigned from request input, and those later confined by a sanitizer. */
function taintOf(lines: Lexed[]): { tainted: Set<string>[]; sanitized: Set<string> } {
  const sanitized = new Set<string>();
  const perLine: Set<string>[] = [];
  const tainted = new Set<string>();
  // Lines share one copy of the set until it grows (most lines assign nothing from a request).
  let snapshot = new Set<string>();
  for (const { bare } of lines) {
    if (snapshot.size !== tainted.size) snapshot = new Set(tainted);
    perLine.push(snapshot);
    const assign = /(?:\b(?:const|let|var|final\s+\w+|String|let\s+mut)\s+|^\s*)([A-Za-z_$][\w$]*)\s*(?::=|=(?!=))\s*(.*)$/.exec(bare);
    if (assign) {
      const [, name, value] = assign;
      if (SANITIZERS.test(value)) sanitized.add(name);
      else if (REQUEST_SOURCE.test(value) || [...tainted].some((t) => new RegExp(`(^|[^\\w.$])${t.replace(/\$/g, '\\$')}([^\\w$]|$)`).test(value))) tainted.add(name);
    }
    for (const m of bare.matchAll(/\b(?:Path|Query|Form|Json)\s*\(\s*(?:mut\s+)?([a-z_]\w*)\s*\)\s*:/g)) tainted.add(m[1]);
    const destructure = /\b(?:const|let|var)\s*\{([^}]+)\}\s*=\s*(.*)$/.exec(bare);
    if (destructure && REQUEST_SOURCE.test(destructure[2])) for (const n of destructure[1].split(',')) tainted.add(n.split(':').pop()!.trim());
    // Every prefix check names "start" or "HasPrefix": lines without either skip both patterns.
    const check = !/start|HasPrefix/.test(bare)
      ? null
      : (/(startsWith|startswith|HasPrefix|starts_with)\(\s*([A-Za-z_$][\w$]*)/.exec(bare) ?? /([A-Za-z_$][\w$]*)\.(startsWith|startswith|starts_with)\(/.exec(bare));
    if (check) sanitized.add(check[2] && !/^(startsWith|startswith|HasPrefix|starts_with)$/.test(check[2]) ? check[2] : check[1]);
  }
  return { tainted: perLine, sanitized };
}

// ---------------------------------------------------------------------------------------------

const RULES: Rule[] = [
  {
    id: 'hardcoded-secret',
    severity: 'high',
    title: 'Hard-coded secret',
    languages: 'all',
    suggestion: (l) =>
      `Remove the secret from the code, rotate it, and read it at run time from the environment or a secret manager (${
        l === 'python' ? 'os.environ["NAME"]' : l === 'go' ? 'os.Getenv("NAME")' : l === 'java' ? 'System.getenv("NAME")' : l === 'rust' ? 'std::env::var("NAME")' : 'process.env.NAME'
      }).`,
    check: checkSecrets,
  },
  {
    id: 'sql-injection',
    severity: 'critical',
    title: 'SQL injection',
    languages: ['javascript', 'typescript', 'python', 'go', 'java', 'rust'],
    suggestion: (l) =>
      l === 'python'
        ? 'Use a parameterized query: cursor.execute("SELECT … WHERE id = %s", (user_id,)).'
        : l === 'go'
          ? 'Use placeholders: db.Query("SELECT … WHERE id = $1", id).'
          : l === 'java'
            ? 'Use a PreparedStatement with ? placeholders and setString/setInt.'
            : l === 'rust'
              ? 'Bind parameters: sqlx::query("SELECT … WHERE id = $1").bind(id).'
              : 'Use a parameterized query: db.query("SELECT … WHERE id = $1", [id]).',
    check: checkSql,
  },
  {
    id: 'command-injection',
    severity: 'critical',
    title: 'Shell command injection',
    languages: ['javascript', 'typescript', 'python', 'go', 'java', 'rust'],
    suggestion: () => 'Run the program directly with an argument list and no shell (execFile/spawn without shell, subprocess.run([...]), exec.Command(prog, args...)), and validate the arguments.',
    check: checkCommand,
  },
  {
    id: 'code-eval',
    severity: 'high',
    title: 'Evaluation of dynamic code',
    languages: ['javascript', 'typescript', 'python'],
    suggestion: (l) => (l === 'python' ? 'Parse data with json.loads or ast.literal_eval instead of eval/exec.' : 'Parse data with JSON.parse and dispatch on known values instead of evaluating strings.'),
    check: checkEval,
  },
  {
    id: 'weak-password-hash',
    severity: 'high',
    title: 'Weak password hashing',
    languages: ['javascript', 'typescript', 'python', 'go', 'java', 'rust'],
    suggestion: () => 'Hash passwords with a slow, salted algorithm: argon2id (preferred), scrypt or bcrypt.',
    check: checkWeakHash,
  },
  {
    id: 'tls-verification-disabled',
    severity: 'high',
    title: 'TLS certificate verification disabled',
    languages: ['javascript', 'typescript', 'python', 'go', 'java', 'rust'],
    suggestion: () => 'Keep certificate verification on; to trust a private CA, add its certificate to the trust store (e.g. the `ca` option) instead.',
    check: checkTls,
  },
  {
    id: 'path-traversal',
    severity: 'high',
    title: 'Path traversal',
    languages: ['javascript', 'typescript', 'python', 'go', 'java', 'rust'],
    suggestion: () => 'Reduce the name to its base name (path.basename / filepath.Base / secure_filename), join it to a fixed root, and check the resolved path still starts with that root.',
    check: checkPathTraversal,
  },
];

export const SECURITY_RULES: ReadonlyArray<{ id: string; severity: Severity; title: string; languages: Language[] | 'all' }> = RULES.map(
  ({ id, severity, title, languages }) => ({ id, severity, title, languages }),
);

/** A line that opens a function or method: its parameters tell what the body handles. */
const FUNCTION_START = /\b(function|def|func|fn)\b|^\s*(public|private|protected|static|async|export)?[\w<>[\],\s]*\s\w+\s*\([^)]*\)\s*(throws\s+[\w.,\s]+)?\{\s*$/;

/** The first argument of the call whose opening parenthesis ends `before`. */
function firstArgument(after: string): string {
  let depth = 0;
  for (let i = 0; i < after.length; i++) {
    const c = after[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) return after.slice(0, i);
      depth--;
    } else if (c === ',' && depth === 0) return after.slice(0, i);
  }
  return after;
}

/** Scans one file; files in unknown languages still get the language-independent rules (hard-coded secrets). */
export function scanFile(file: SourceFile): Finding[] {
  const language = detectLanguage(file.path);
  const lines = lex(file.content, language);
  const { tainted, sanitized } = taintOf(lines);
  const findings: Finding[] = [];
  const rules = RULES.filter((rule) => rule.languages === 'all' || (language !== null && rule.languages.includes(language)));
  let signature = '';
  lines.forEach((lexed, index) => {
    if (FUNCTION_START.test(lexed.bare)) signature = lexed.code;
    if (!lexed.code.trim()) return;
    const ctx: LineContext = { ...lexed, language, tainted: tainted[index], sanitized, signature, next: lines[index + 1]?.code ?? '' };
    for (const rule of rules) {
      const hit = rule.check(ctx);
      if (hit) {
        findings.push({ ruleId: rule.id, severity: rule.severity, title: rule.title, description: hit.description, file: file.path, line: index + 1, suggestion: rule.suggestion(language) });
      }
    }
  });
  return findings;
}

/** Scans many files, findings ordered by file order then line. */
export function analyzeFiles(files: SourceFile[]): Finding[] {
  return files.flatMap(scanFile);
}

/** One-line summary in the spec's style: "Found 3 high, 5 medium, 2 low severity issues". */
export function summarizeFindings(findings: Finding[]): string {
  if (findings.length === 0) return 'No security issues found';
  const order: Severity[] = ['critical', 'high', 'medium', 'low'];
  const parts = order.map((s) => [s, findings.filter((f) => f.severity === s).length] as const).filter(([, n]) => n > 0);
  return `Found ${parts.map(([s, n]) => `${n} ${s}`).join(', ')} severity ${findings.length === 1 ? 'issue' : 'issues'}`;
}
