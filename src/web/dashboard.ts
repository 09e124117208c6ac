/**
 * The dashboard and the GraphQL explorer: the Vite build of web/dashboard/ in dist/web/ (made by
 * `npm run web:build`, and at install). / and /dashboard/* answer the dashboard's page (the app
 * routes itself), /dashboard-assets/* its hashed files (cached for good), and GET /graphql from a
 * browser (HTML preferred, no query) the explorer; any other /graphql request reaches the API.
 * Both pages talk only to this origin's /graphql, over HTTP and graphql-ws.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const built = new URL('../../dist/web/', import.meta.url);

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>The dashboard is not built</h1>
<p>This gateway has no dashboard bundle (dist/web/). Build it in the gateway's folder with <code>npm run web:build</code>
(npm install does it too), then restart the gateway. The API works without it: POST /graphql, /v1.</p></body></html>`;

/** The WebSocket origin of this request (for connect-src), from its Host header when it is a plain host[:port]. */
function socketOrigins(request: FastifyRequest): string {
  const host = request.headers.host ?? '';
  return /^[A-Za-z0-9.\-[\]:]+$/.test(host) ? ` ws://${host}/graphql wss://${host}/graphql` : '';
}

/** Only this origin (and its graphql-ws endpoint); the explorer's editor sets inline styles and runs workers. */
const csp = (request: FastifyRequest) =>
  `default-src 'self'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; ` +
  `connect-src 'self'${socketOrigins(request)}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

/** True when the request's Accept prefers text/html to application/json (a browser's navigation). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  // The quality of the most specific range that matches (type/sub, then type/*, then */*), as HTTP says.
  const q = (type: string) => {
    let best = { specificity: -1, quality: 0 };
    for (const part of accept.split(',')) {
      const [range = '', ...params] = part.trim().toLowerCase().split(';');
      const specificity = range === type ? 2 : range === `${type.split('/')[0]}/*` ? 1 : range === '*/*' ? 0 : -1;
      if (specificity <= best.specificity) continue;
      const quality = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? 1);
      best = { specificity, quality: Number.isFinite(quality) ? quality : 0 };
    }
    return best.quality;
  };
  const html = q('text/html');
  return html > 0 && html > q('application/json');
}

/** Registers the dashboard's pages and assets and the browser explorer at GET /graphql. */
export function registerDashboard(app: FastifyInstance): void {
  const page = (name: string) => (existsSync(new URL(name, built)) ? readFileSync(new URL(name, built), 'utf8') : null);
  const index = page('index.html');
  const explorer = page('graphiql.html');
  const sendPage = (request: FastifyRequest, reply: FastifyReply, html: string | null) =>
    html === null
      ? reply.status(404).header('Cache-Control', 'no-store').type('text/html; charset=utf-8').send(NOT_BUILT)
      : reply
          .header('Content-Security-Policy', csp(request))
          .header('Referrer-Policy', 'no-referrer')
          .header('X-Content-Type-Options', 'nosniff')
          .header('Cache-Control', 'no-store')
          .type('text/html; charset=utf-8')
          .send(html);

  for (const path of ['/', '/dashboard', '/dashboard/*']) app.get(path, (request, reply) => sendPage(request, reply, index));

  // Vite names each file by its content's hash: a name never changes meaning, so it is cached for good.
  app.get('/dashboard-assets/assets/:name', async (request, reply) => {
    const name = (request.params as { name: string }).name;
    const type = TYPES[extname(name)];
    if (!type || !/^[\w.-]+$/.test(name)) return reply.callNotFound();
    const body = await readFile(new URL(`assets/${name}`, built)).catch(() => null);
    if (!body) return reply.callNotFound();
    return reply.header('Cache-Control', 'public, max-age=31536000, immutable').header('X-Content-Type-Options', 'nosniff').type(type).send(body);
  });

  // A browser opening /graphql gets the explorer; a GET with a query, or asking for JSON, is executed as before.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !prefersHtml(request.headers.accept)) return;
    const url = new URL(request.url, 'http://gateway');
    if (url.pathname !== '/graphql' || url.searchParams.has('query')) return;
    return sendPage(request, reply, explorer);
  });
}
