/**
 * GET /docs/errors: the error code reference, rendered from the error code table, where every
 * error's documentation_url points by default. Each code has the anchor `#<code>` (its HTML id and
 * its Markdown heading), and says its status, what it means and how to fix it. HTML for browsers;
 * JSON or Markdown by Accept. It is documentation, not an API operation: open, uncharged, and not
 * in the OpenAPI document.
 */
import type { FastifyInstance } from 'fastify';
import { errorCodes, type ErrorCode } from '../errors.js';
import { ERROR_CODES_HEADER, ERROR_REFERENCE_PATH } from './envelope.js';

/** One code of the reference. */
export interface ErrorReferenceEntry {
  code: ErrorCode;
  status: number;
  graphql_code: string;
  upper_code: string;
  description: string;
  fix: string;
  /** Fields of `details` also sent at the top of `error`. */
  top_level_fields: readonly string[];
}

/** The reference's entries, in the table's order. */
export function errorReference(): ErrorReferenceEntry[] {
  return (Object.keys(errorCodes) as ErrorCode[]).map((code) => {
    const entry = errorCodes[code];
    return { code, status: entry.status, graphql_code: entry.graphql, upper_code: entry.upper, description: entry.description, fix: entry.fix, top_level_fields: entry.lifted };
  });
}

const INTRO =
  'Every REST error answers {"error": {"code", "message", "details", "request_id", "documentation_url", "doc_url"}}. ' +
  'Switch on code (it never changes within v1); show message. A 429 or 402 also carries its limit fields (retry_after, tier, limit, reset_at; a plan and usage) at the top of error as well as in details. ' +
  `GraphQL errors carry the GraphQL code in extensions.code. Send "${ERROR_CODES_HEADER}: upper" for the upper-case codes (UNAUTHORIZED, NOT_FOUND, SERVER_ERROR, …).`;

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function html(entries: ErrorReferenceEntry[]): string {
  const rows = entries
    .map(
      (e) => `<section id="${e.code}">
<h2><a href="#${e.code}">${e.code}</a> <small>${e.status}</small></h2>
<dl>
<dt>Meaning</dt><dd>${escapeHtml(e.description)}</dd>
<dt>How to fix</dt><dd>${escapeHtml(e.fix)}</dd>
<dt>Codes</dt><dd>GraphQL <code>${e.graphql_code}</code> · upper-case vocabulary <code>${e.upper_code}</code></dd>${
        e.top_level_fields.length ? `\n<dt>Also at the top of <code>error</code></dt><dd>${e.top_level_fields.map((f) => `<code>${f}</code>`).join(', ')}</dd>` : ''
      }
</dl>
</section>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error codes</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .25rem}h2 a{color:inherit}small{color:#666;font-weight:normal}dt{font-weight:600}dd{margin:0 0 .4rem 1rem}section:target{background:#fff7d6}</style>
</head><body>
<h1>Error codes</h1>
<p>${escapeHtml(INTRO)}</p>
${rows}
</body></html>
`;
}

function markdown(entries: ErrorReferenceEntry[]): string {
  const sections = entries.map(
    (e) =>
      `## ${e.code}\n\nStatus ${e.status}. GraphQL \`${e.graphql_code}\`; upper-case vocabulary \`${e.upper_code}\`.\n\n` +
      `**Meaning:** ${e.description}\n\n**How to fix:** ${e.fix}\n` +
      (e.top_level_fields.length ? `\nAlso at the top of \`error\`: ${e.top_level_fields.map((f) => `\`${f}\``).join(', ')}.\n` : ''),
  );
  return `# Error codes\n\n${INTRO}\n\n${sections.join('\n')}`;
}

const FORMATS = ['text/html', 'application/json', 'text/markdown'] as const;
type Format = (typeof FORMATS)[number];

/** The format the Accept header prefers among ours (by q, then order); HTML when it names none of them. */
export function preferredFormat(accept: string | undefined): Format {
  const ranges = (accept ?? '')
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
      return { type, q: Number.isFinite(q) ? q : 0, index };
    })
    .filter((r) => r.type && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    const match = FORMATS.find((f) => range.type === f || range.type === `${f.split('/')[0]}/*` || range.type === '*/*');
    if (match) return match;
  }
  return 'text/html';
}

/** Serves the reference at GET /docs/errors. */
export function registerErrorReference(app: FastifyInstance): void {
  const entries = errorReference();
  const bodies: Record<Format, string> = {
    'text/html': html(entries),
    'application/json': JSON.stringify({ codes: entries }),
    'text/markdown': markdown(entries),
  };
  app.get(ERROR_REFERENCE_PATH, async (request, reply) => {
    const format = preferredFormat(request.headers.accept);
    return reply
      .header('Vary', 'Accept')
      .header('Cache-Control', 'public, max-age=3600')
      .type(`${format}; charset=utf-8`)
      .send(bodies[format]);
  });
}
