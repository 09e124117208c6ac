/**
 * `npm run bench:reviews`: a review of a 1,000-file snapshot over the REST stream
 * (POST /v1/reviews, Accept: text/event-stream): time from the POST to the first streamed
 * finding (target < 0.5 s) and files per second to the summary, against a peer linter: ESLint
 * with eslint-plugin-security's recommended rules (and the typescript-eslint parser, since the
 * files are TypeScript) linting the same files in this process (`lintText`, from memory: no disk,
 * no glob), and against the floor: a plain loop that only reads the same files from disk and
 * tokenizes them (the TypeScript scanner). All three alternate in each round.
 * BENCH_FILES=1000 BENCH_ROUNDS=3 by default. BENCH_PART=first: only BENCH_ROUNDS reviews' time to the
 * first streamed finding, with each step's time when the code calls globalThis.__probe(step) (a profiling patch).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import security from 'eslint-plugin-security';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import ts from 'typescript';
import tseslint from 'typescript-eslint';
import { Reviewer, REVIEW_CATEGORIES } from '../src/agents/reviewer.js';
import { connectWorkerTo } from '../src/runtime.js';
import { createUserWithKey } from '../src/services/auth/api-keys.js';
import { startWorkers } from '../src/temporal/workers.js';
import { env, ROUNDS, startBenchInfra, startGateway, unlimited } from './harness.js';
import { median } from './stats.js';

const FILES = Number(env.BENCH_FILES ?? 1000);

/** A plausible module of about 50 lines; every fifth one (the first included) has findings. */
function moduleSource(i: number): string {
  const lines = [
    `import { readFile } from 'node:fs/promises';`,
    ``,
    `export interface Item${i} { id: string; price: number; quantity: number; discount?: number }`,
    ``,
    `/** Totals of module ${i}. */`,
    `export function total${i}(items: Item${i}[]): number {`,
    `  let sum = 0;`,
    `  for (const item of items) {`,
    `    const price = item.price * item.quantity * ${i + 1};`,
    `    sum += price - (item.discount ?? 0);`,
    `  }`,
    `  return sum;`,
    `}`,
    ``,
    `export async function load${i}(path: string): Promise<Item${i}[]> {`,
    `  const text = await readFile(path, 'utf8');`,
    `  const rows = JSON.parse(text) as Item${i}[];`,
    `  return rows.filter((r) => r.quantity > 0 && r.price >= 0);`,
    `}`,
    ``,
    `export function classify${i}(n: number): string {`,
    `  if (n < 0) return 'negative';`,
    `  if (n === 0) return 'zero';`,
    `  if (n < 10) return 'small';`,
    `  return n < 1000 ? 'medium' : 'large';`,
    `}`,
  ];
  if (i % 5 === 0) {
    lines.push(
      ``,
      `export function lookup${i}(db: { query(sql: string): unknown }, req: { query: { id: string } }) {`,
      `  var id = req.query.id;`,
      `  if (id == '') return null;`,
      `  return db.query("SELECT * FROM items WHERE id = " + req.query.id);`,
      `}`,
    );
  }
  for (let k = 0; k < 4; k++) lines.push(``, `export const constant${i}_${k} = ${i * 10 + k}; // value ${k}`);
  return lines.join('\n') + '\n';
}

const files = Array.from({ length: FILES }, (_, i) => ({ path: `src/pkg${Math.floor(i / 50)}/module-${i}.ts`, content: moduleSource(i) }));
const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);

// The floor reads the files from disk, as a plain tool would.
const dir = mkdtempSync(join(tmpdir(), 'bench-reviews-'));
for (const f of files) {
  mkdirSync(dirname(join(dir, f.path)), { recursive: true });
  writeFileSync(join(dir, f.path), f.content);
}

/** Reads and tokenizes every file; returns files per second. */
function floor(): { filesPerSecond: number; tokens: number } {
  const t0 = performance.now();
  let tokens = 0;
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true);
  for (const f of files) {
    const text = readFileSync(join(dir, f.path), 'utf8');
    scanner.setText(text);
    while (scanner.scan() !== ts.SyntaxKind.EndOfFileToken) tokens++;
  }
  return { filesPerSecond: (files.length / (performance.now() - t0)) * 1000, tokens };
}

/** The peer: ESLint with eslint-plugin-security's recommended rules, one instance for every round. */
const eslint = new ESLint({
  cwd: dir, // files outside the base path would be skipped with a warning
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser },
      plugins: { security },
      rules: security.configs.recommended.rules,
    },
  ],
});

/** ESLint over every file, one lintText each (as an editor integration does); returns files per second. */
async function peer(): Promise<{ filesPerSecond: number; messages: number }> {
  const t0 = performance.now();
  let messages = 0;
  for (const f of files) {
    for (const r of await eslint.lintText(f.content, { filePath: join(dir, f.path) })) {
      // A parse error or a skipped file would make the peer look fast: refuse to report it.
      if (r.fatalErrorCount || r.messages.some((m) => !m.ruleId)) throw new Error(`ESLint did not lint ${f.path}: ${r.messages[0]?.message}`);
      messages += r.messages.length;
    }
  }
  return { filesPerSecond: (files.length / (performance.now() - t0)) * 1000, messages };
}

const infra = await startBenchInfra();
const gateway = await startGateway(infra, { REVIEW_WAIT_SECONDS: '0' });
const connection = await connectWorkerTo(gateway.config, infra.temporalAddress);
const workers = await startWorkers(gateway.services, connection, gateway.config, ['cpu']);
const { secret, userId } = await createUserWithKey(gateway.services.db, { name: 'bench', tier: 'team' });
await unlimited(gateway.services.db, userId);

/** Time the reviewer alone takes over the snapshot (no database, no HTTP), for the breakdown. */
function analysisOnly(): number {
  const t0 = performance.now();
  const reviewer = new Reviewer('rev_bench', { categories: [...REVIEW_CATEGORIES], minConfidence: 0 });
  for (const f of files) reviewer.next(f);
  return performance.now() - t0;
}

// Per-step time stamps (ms after the POST), when the code under test calls globalThis.__probe (a profiling patch).
let marks: Record<string, number> = {};
let lastPostAt = 0;
const stepMarks: Array<Record<string, number>> = [];
(globalThis as { __probe?: (step: string) => void }).__probe = (step: string) => {
  if (marks[step] === undefined) marks[step] = performance.now();
};

/** Server side of each review: created → first finding stored, created → completed. */
const serverMs: Array<{ toFirst: number; toEnd: number }> = [];

/** One streamed review: ms to the first finding, ms to the summary, findings seen. */
async function streamedReview(): Promise<{ firstMs: number; totalMs: number; issues: number }> {
  marks = {};
  const t0 = performance.now();
  lastPostAt = t0;
  const res = await fetch(`${gateway.url}/v1/reviews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ files }),
  });
  if (res.status !== 200) throw new Error(`POST /v1/reviews: ${res.status} ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  let firstMs = NaN;
  let issues = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the stream ended without a summary');
    if (value.event === 'issue') {
      if (issues++ === 0) {
        firstMs = performance.now() - t0;
        stepMarks.push(Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, Math.round(v - t0)])));
      }
    } else if (value.event === 'summary') {
      const totalMs = performance.now() - t0;
      const r = await gateway.services.db.review.findFirstOrThrow({ orderBy: { id: 'desc' } });
      const run = await gateway.services.db.event.findFirstOrThrow({ where: { streamId: r.id }, orderBy: { seq: 'asc' } });
      serverMs.push({ toFirst: run.createdAt.getTime() - r.createdAt.getTime(), toEnd: r.completedAt!.getTime() - r.createdAt.getTime() });
      return { firstMs, totalMs, issues };
    } else if (value.event === 'error') throw new Error(value.data);
  }
}

console.log(`snapshot: ${FILES} files, ${(bytes / 1024 / 1024).toFixed(2)} MB`);
/** Stops what the benchmark started and exits. */
async function finish(): Promise<never> {
  await workers.shutdown();
  await connection.close();
  await gateway.close();
  await infra.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

console.log('warming up…');
await streamedReview();

if (env.BENCH_PART === 'first') {
  // Only the time to the first streamed finding (no peer, no floor): short runs while tracing that path.
  const firsts: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const review = await streamedReview();
    firsts.push(review.firstMs);
    if (env.BENCH_CPU_PROF) console.log(`  window (µs, monotonic): ${Number(process.hrtime.bigint() / 1000n) - Math.round((performance.now() - lastPostAt) * 1000)} +${Math.round(review.firstMs * 1000)}`);
    console.log(`review ${r + 1}: first finding ${review.firstMs.toFixed(0)} ms, summary ${review.totalMs.toFixed(0)} ms, ${review.issues} findings; server: created→first stored ${serverMs.at(-1)!.toFirst} ms`);
    if (Object.keys(stepMarks.at(-1) ?? {}).length) console.log('  steps (ms after the POST): ' + Object.entries(stepMarks.at(-1)!).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v}`).join(', '));
  }
  console.log(`time to first streamed finding: median ${median(firsts).toFixed(0)} ms, max ${Math.max(...firsts).toFixed(0)} ms over ${ROUNDS} reviews`);
  await finish();
}
floor();
await peer();

const first: number[] = [];
const reviewRates: number[] = [];
const analysisMs: number[] = [];
const floorRates: number[] = [];
const peerRates: number[] = [];
let issues = 0;
let peerMessages = 0;
for (let r = 0; r < ROUNDS; r++) {
  const review = await streamedReview();
  const base = floor();
  const other = await peer();
  peerRates.push(other.filesPerSecond);
  peerMessages = other.messages;
  analysisMs.push(analysisOnly());
  first.push(review.firstMs);
  reviewRates.push((FILES / review.totalMs) * 1000);
  floorRates.push(base.filesPerSecond);
  issues = review.issues;
  console.log(
    `round ${r + 1}: first finding ${review.firstMs.toFixed(0)} ms, review ${review.totalMs.toFixed(0)} ms (${reviewRates.at(-1)!.toFixed(0)} files/s, ${review.issues} findings); ESLint ${other.filesPerSecond.toFixed(0)} files/s; floor ${base.filesPerSecond.toFixed(0)} files/s; server: created→first stored ${serverMs.at(-1)!.toFirst} ms, created→completed ${serverMs.at(-1)!.toEnd} ms; reviewer alone ${analysisMs.at(-1)!.toFixed(0)} ms`,
  );
}

const ratio = median(reviewRates) / median(floorRates);
const perRound = reviewRates.map((r, i) => r / peerRates[i]);
console.log('');
console.log(`| | median | best |`);
console.log(`|---|---|---|`);
console.log(`| time to first streamed finding | ${median(first).toFixed(0)} ms | ${Math.min(...first).toFixed(0)} ms |`);
console.log(`| review, files/s (POST to summary) | ${median(reviewRates).toFixed(0)} | ${Math.max(...reviewRates).toFixed(0)} |`);
console.log(`| ESLint + eslint-plugin-security (lintText), files/s | ${median(peerRates).toFixed(0)} | ${Math.max(...peerRates).toFixed(0)} |`);
console.log(`| ratio review / ESLint (median of the rounds' ratios; target ≥ 1.0) | **${median(perRound).toFixed(2)}** | ${Math.max(...perRound).toFixed(2)} |`);
console.log(`| floor: read + tokenize, files/s | ${median(floorRates).toFixed(0)} | ${Math.max(...floorRates).toFixed(0)} |`);
console.log(`| reviewer alone (no HTTP, no database), files/s | ${((FILES / median(analysisMs)) * 1000).toFixed(0)} | ${((FILES / Math.min(...analysisMs)) * 1000).toFixed(0)} |`);
console.log(`| ratio review / floor | **${ratio.toFixed(3)}** | |`);
if (Object.keys(stepMarks[0] ?? {}).length) for (const m of stepMarks) console.log('steps (ms after the POST): ' + Object.entries(m).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v}`).join(', '));
console.log(`time to first finding p99 (max of ${first.length}): ${Math.max(...first).toFixed(0)} ms; ESLint messages per pass: ${peerMessages}`);
console.log(`findings per review: ${issues}; first-finding target < 500 ms: ${median(first) < 500 ? 'met' : 'not met'}`);

await finish();
