/**
 * The methods each path of the server answers, learnt from the routes as they are registered, so
 * that a known path asked with another method answers 405 with `Allow` rather than 404.
 */
import type { FastifyInstance } from 'fastify';

/** Starts recording routes (call before any is registered); returns the lookup: path → its methods, [] when unknown. */
export function recordRouteMethods(app: FastifyInstance): (path: string) => string[] {
  const routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (route) => {
    const entry = routes.get(route.url) ?? { pattern: patternOf(route.url), methods: new Set<string>() };
    for (const method of [route.method].flat()) entry.methods.add(method);
    routes.set(route.url, entry);
  });
  return (path) => {
    const methods = new Set<string>();
    for (const { pattern, methods: m } of routes.values()) if (pattern.test(path)) for (const method of m) methods.add(method);
    return [...methods].sort();
  };
}

/** A Fastify route URL (`/v1/keys/:key_id`, `/assets/*`) as a regular expression over request paths. */
function patternOf(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}
