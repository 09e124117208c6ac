/**
 * SCIM 2.0 (RFC 7644) at /scim/v2: Users, Groups, and the discovery endpoints (ServiceProviderConfig,
 * Schemas, ResourceTypes). Every request carries a team's SCIM token as a bearer token and reaches
 * that team's resources only; bodies are `application/scim+json` (plain JSON is accepted too), and
 * every error is SCIM's own (`urn:ietf:params:scim:api:messages:2.0:Error`, `status` as a string,
 * `scimType` where RFC 7644 names one), never the /v1 envelope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import SCIMMY from 'scimmy';
import { AppError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import { ScimError, scimError } from '../services/scim/scim-error.js';
import { teamOfScimToken } from '../services/scim/tokens.js';
import { declareScimResources, SCIM_MAX_RESULTS, type ScimContext } from './resources.js';

const SCIM_JSON = 'application/scim+json';
type Deps = Pick<ServiceDeps, 'db' | 'bus' | 'auth' | 'config' | 'logger'>;

declare module 'fastify' {
  interface FastifyRequest {
    scim?: ScimContext;
  }
}

function send(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.status(status).type(`${SCIM_JSON}; charset=utf-8`).send(body === undefined ? undefined : JSON.stringify(body));
}

/** SCIM's error message (RFC 7644 §3.12): `status` is a string; `scimType` only where there is one. */
function errorBody(err: ScimError) {
  return {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
    status: String(err.status),
    ...(err.scimType ? { scimType: err.scimType } : {}),
    detail: err.message,
  };
}

/** Any failure as SCIM's error message. */
function scimErrorOf(err: unknown, request: FastifyRequest): ScimError {
  if (err instanceof ScimError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
    return scimError(400, 'invalidSyntax', `The body is not valid JSON: ${e.message ?? 'parse error'}.`);
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return scimError(415, null, `Send the body as ${SCIM_JSON} (or application/json).`);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return scimError(413, null, 'The body is too large.');
  const appError = err instanceof AppError ? (err as AppError) : null;
  if (appError && appError.status < 500) return scimError(appError.status, appError.status === 409 ? 'uniqueness' : null, appError.message);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return scimError(e.statusCode, null, e.message ?? 'Bad request.');
  request.log.error({ err, requestId: request.id }, 'SCIM request failed');
  return scimError(500, null, `The request failed on our side (request ${request.id}); try again.`);
}

/** A bounded positive integer query parameter (startIndex, count); 400 invalidValue when it is not a number. */
function intParam(query: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw)) throw scimError(400, 'invalidValue', `${name} must be an integer.`);
  return Math.min(Math.max(Number(raw), min), max);
}

/** The list parameters SCIMMY understands, from the query string. */
function listParams(query: Record<string, unknown>): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const name of ['filter', 'attributes', 'excludedAttributes', 'sortBy', 'sortOrder']) {
    if (query[name] !== undefined && query[name] !== null) params[name] = query[name];
  }
  const startIndex = intParam(query, 'startIndex', 1, Number.MAX_SAFE_INTEGER);
  const count = intParam(query, 'count', 0, SCIM_MAX_RESULTS);
  params.startIndex = startIndex ?? 1;
  params.count = count ?? SCIM_MAX_RESULTS;
  return params;
}

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

/** The list parameters of a POST …/.search body (RFC 7644 §3.4.3). */
function searchParams(body: unknown): Record<string, unknown> {
  const request = (body ?? {}) as Record<string, unknown>;
  if (!Array.isArray(request.schemas) || !request.schemas.includes(SEARCH_REQUEST)) {
    throw scimError(400, 'invalidSyntax', `A search body must list the schema ${SEARCH_REQUEST}.`);
  }
  const list = (v: unknown) => (Array.isArray(v) ? v.join(',') : v);
  // Any JSON value as a query parameter's text, as String() writes it; intParam then refuses what is not a whole number.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- an object becomes "[object Object]", which is refused
  const text = (v: unknown) => (v === undefined ? undefined : String(v));
  return listParams({
    filter: request.filter,
    attributes: list(request.attributes),
    excludedAttributes: list(request.excludedAttributes),
    sortBy: request.sortBy,
    sortOrder: request.sortOrder,
    startIndex: text(request.startIndex),
    count: text(request.count),
  });
}

/** A list response whose itemsPerPage is what it holds (RFC 7644 §3.4.2). */
function listBody(list: { Resources: unknown[]; itemsPerPage: number }) {
  list.itemsPerPage = list.Resources.length;
  return list;
}

type ResourceClass = typeof SCIMMY.Resources.User | typeof SCIMMY.Resources.Group;

/** `schemas` is always returned (RFC 7643 §3), also when `attributes` narrows the answer (SCIMMY leaves it out then). */
function withSchemas(resource: object, Resource: ResourceClass): object {
  const plain = JSON.parse(JSON.stringify(resource)) as { schemas?: string[] };
  return plain.schemas ? plain : { schemas: [Resource.schema.definition.id], ...plain };
}

function listWithSchemas(list: { Resources: object[]; itemsPerPage: number }, Resource: ResourceClass) {
  list.Resources = list.Resources.map((r) => withSchemas(r, Resource));
  return listBody(list);
}

function resourceRoutes(app: FastifyInstance, path: string, Resource: ResourceClass): void {
  app.get(path, async (request, reply) => {
    const list = await new Resource(listParams(request.query as Record<string, unknown>) as never).read(request.scim);
    return send(reply, 200, listWithSchemas(list as never, Resource));
  });
  app.post(`${path}/.search`, async (request, reply) => {
    const list = await new Resource(searchParams(request.body) as never).read(request.scim);
    return send(reply, 200, listWithSchemas(list as never, Resource));
  });
  app.post(path, async (request, reply) => {
    const created = (await new Resource().write(request.body, request.scim)) as { meta?: { location?: string } };
    if (created.meta?.location) reply.header('Location', created.meta.location);
    return send(reply, 201, created);
  });
  app.get(`${path}/:id`, async (request, reply) => {
    const { id } = request.params as { id: string };
    const query = request.query as Record<string, unknown>;
    const params = Object.fromEntries(['attributes', 'excludedAttributes'].filter((n) => query[n] !== undefined).map((n) => [n, query[n]]));
    return send(reply, 200, withSchemas(await new Resource(id, params as never).read(request.scim), Resource));
  });
  app.put(`${path}/:id`, async (request, reply) => {
    const { id } = request.params as { id: string };
    return send(reply, 200, await new Resource(id).write(request.body, request.scim));
  });
  app.patch(`${path}/:id`, async (request, reply) => {
    const { id } = request.params as { id: string };
    const patched = await new Resource(id).patch(request.body as never, request.scim);
    // SCIMMY answers nothing when the operations changed nothing; the client still gets the resource.
    return send(reply, 200, patched ?? (await new Resource(id).read(request.scim)));
  });
  app.delete(`${path}/:id`, async (request, reply) => {
    const { id } = request.params as { id: string };
    await new Resource(id).dispose(request.scim);
    return reply.status(204).send();
  });
}

/** Registers /scim/v2 (call with `{ prefix: '/scim/v2' }`). */
export function scimRoutes(deps: Deps) {
  return async function scim(app: FastifyInstance): Promise<void> {
    declareScimResources(`${deps.config.publicUrl}/scim/v2`);
    app.addContentTypeParser(SCIM_JSON, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, body === '' ? undefined : JSON.parse(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    app.setErrorHandler((err, request, reply) => {
      const scimError = scimErrorOf(err, request);
      if (scimError.status === 401) reply.header('WWW-Authenticate', 'Bearer realm="scim"');
      return send(reply, scimError.status, errorBody(scimError));
    });
    app.setNotFoundHandler((request, reply) =>
      send(reply, 404, errorBody(scimError(404, null, `No SCIM endpoint ${request.method} ${request.url.split('?')[0]}.`))),
    );
    app.addHook('onRequest', async (request) => {
      const header = request.headers.authorization ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const team = match ? await teamOfScimToken(deps, match[1]) : null;
      if (!team) throw scimError(401, null, "Send a team's SCIM token as \"Authorization: Bearer cdx_scim_…\"; this one is missing, unknown or revoked.");
      request.scim = { deps, teamId: team.teamId };
    });

    resourceRoutes(app, '/Users', SCIMMY.Resources.User);
    resourceRoutes(app, '/Groups', SCIMMY.Resources.Group);
    // The discovery endpoints are read-only: any other method answers 405 (RFC 7644 §4).
    for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas']) {
      app.route({
        method: ['POST', 'PUT', 'PATCH', 'DELETE'],
        url: path,
        handler: async (request, reply) => {
          reply.header('Allow', 'GET');
          return send(reply, 405, errorBody(scimError(405, null, `${path} is read-only: use GET.`)));
        },
      });
    }
    app.post('/.search', async (_request, reply) =>
      send(reply, 501, errorBody(scimError(501, null, 'Search one resource type at a time: POST /Users/.search or /Groups/.search.'))),
    );
    app.get('/ServiceProviderConfig', async (_request, reply) => send(reply, 200, await new SCIMMY.Resources.ServiceProviderConfig().read()));
    app.get('/ResourceTypes', async (_request, reply) => send(reply, 200, listBody((await new SCIMMY.Resources.ResourceType().read()) as never)));
    app.get('/ResourceTypes/:id', async (request, reply) =>
      send(reply, 200, await new SCIMMY.Resources.ResourceType((request.params as { id: string }).id).read()),
    );
    app.get('/Schemas', async (_request, reply) => send(reply, 200, listBody((await new SCIMMY.Resources.Schema().read()) as never)));
    app.get('/Schemas/:id', async (request, reply) => send(reply, 200, await new SCIMMY.Resources.Schema((request.params as { id: string }).id).read()));
  };
}
