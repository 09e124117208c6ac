/**
 * The repository viewer: /viz/{id}, /share/{share_id} and /embed/{id} serve one static page
 * (src/web/viewer.html) that loads its data from the API; its script and Cytoscape.js (from
 * node_modules, never a committed bundle) are served under /viz-assets/. The page holds no data,
 * so it needs no credential; the data requests do (or a share link).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const web = new URL('../web/', import.meta.url);

/** Registers the viewer page and its assets. */
export function registerViewer(app: FastifyInstance): void {
  const page = readFileSync(new URL('viewer.html', web), 'utf8');
  const assets: Record<string, { body: string; type: string }> = {
    'viewer.js': { body: readFileSync(new URL('viewer.js', web), 'utf8'), type: 'text/javascript; charset=utf-8' },
    'cytoscape.min.js': { body: readFileSync(require.resolve('cytoscape/dist/cytoscape.min.js'), 'utf8'), type: 'text/javascript; charset=utf-8' },
  };
  const csp = (framing: string) =>
    `default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors ${framing}`;
  for (const prefix of ['viz', 'share', 'embed'] as const) {
    // Other sites may frame an embed of a share link only: a page that asks for an API key is never framed elsewhere.
    const framing = (id: string) => (prefix === 'embed' && id.startsWith('shr_') ? '*' : "'self'");
    app.get(`/${prefix}/:id`, async (request, reply) =>
      reply
        .header('Content-Security-Policy', csp(framing((request.params as { id: string }).id)))
        .header('Referrer-Policy', 'no-referrer')
        .header('Cache-Control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page),
    );
  }
  app.get('/viz-assets/:name', async (request, reply) => {
    const asset = assets[(request.params as { name: string }).name];
    if (!asset) return reply.callNotFound();
    return reply.header('Cache-Control', 'public, max-age=3600').type(asset.type).send(asset.body);
  });
}
