/**
 * Mounts the REST route table on Fastify. Each route's GraphQL document is parsed and validated
 * against the schema once, at start-up, and must keep the shape every GraphQL operation keeps
 * (aliases, introspection, ids); a request is checked against the route's schemas, admitted by
 * the limiter (per credential, or per client address without one), then its operation runs
 * in-process with the same context builder as /graphql.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { execute, getOperationAST, Kind, parse, validate, type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema } from 'graphql';
import type { z } from 'zod';
import { buildContext } from '../context.js';
import { ValidationError, type FieldError } from '../errors.js';
import { checkShape, operationCost, type ShapeLimits } from '../graphql/cost.js';
import { appErrorOf } from '../graphql/format-error.js';
import type { ServiceDeps } from '../services/deps.js';
import { isStorableText } from '../services/text.js';
import { asAppError } from './envelope.js';
import type { RestRoute, RestRequest } from './route.js';
import type { LiveConnections } from '../services/auth/live-connections.js';
import { closeEventStreamsOnClose, lastEventId, sendEventStream, wantsEventStream } from './sse.js';

/** zod issues as REST field errors, in words a caller can act on. */
export function restFieldErrors(error: z.ZodError, location: 'body' | 'query' | 'path'): FieldError[] {
  return error.issues.flatMap((issue) => {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: field ? `${field}.${key}` : key, message: `is not a known ${location} field` }));
    }
    const missing = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
    // zod's own wording for a wrong type ("Invalid input: expected …") becomes "must be …"; a schema's message stays.
    const ownWording = issue.code === 'invalid_type' && issue.message.startsWith('Invalid input');
    return [
      {
        field: field || `(${location})`,
        message: missing ? 'is required' : ownWording ? `must be ${issue.expected}` : issue.message,
      },
    ];
  });
}

function check<T>(schema: z.ZodType<T> | undefined, value: unknown, location: 'body' | 'query' | 'path'): T {
  if (!schema) return value as T;
  const parsed = schema.safeParse(value ?? (location === 'body' ? undefined : {}), { reportInput: true }); // reportInput: tells a wrong type from a missing field
  if (!parsed.success) throw new ValidationError(restFieldErrors(parsed.error, location));
  return parsed.data;
}

/**
 * A request whose operation failed unexpectedly while it carried text PostgreSQL cannot store: the
 * 422 naming those fields, not a 500. (Services refuse such text themselves where it is expected,
 * with their own advice; this covers every other field.)
 */
function unstorableInput(req: RestRequest): ValidationError | null {
  const fields = [...unstorableFields(req.params, 'path'), ...unstorableFields(req.query, 'query'), ...unstorableFields(req.body, 'body')];
  return fields.length ? new ValidationError(fields.map((field) => ({ field, message: 'must be text (no NUL characters or lone UTF-16 surrogates)' }))) : null;
}

/** Paths of the strings in `value` that PostgreSQL cannot store. */
function unstorableFields(value: unknown, location: string, path = ''): string[] {
  if (typeof value === 'string') return isStorableText(value) ? [] : [path || `(${location})`];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => unstorableFields(v, location, path ? `${path}.${key}` : key));
}

/** Parses and validates a route's document; a broken document, or one over the shape limits, stops start-up. */
export function compile(schema: GraphQLSchema, route: Pick<RestRoute, 'method' | 'path' | 'document'>, shape: ShapeLimits): DocumentNode {
  const document = parse(route.document);
  const errors = validate(schema, document);
  if (errors.length) throw new Error(`REST route ${route.method} ${route.path}: invalid GraphQL document: ${errors[0]!.message}`);
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  try {
    checkShape(operationCost(schema, getOperationAST(document)!, fragments), shape);
  } catch (err) {
    throw new Error(`REST route ${route.method} ${route.path}: ${(err as Error).message}`);
  }
  return document;
}

/** Registers every route of the table. */
export function registerRestRoutes(app: FastifyInstance, routes: RestRoute[], schema: GraphQLSchema, deps: ServiceDeps, live: LiveConnections): void {
  if (routes.some((r) => r.eventStream)) closeEventStreamsOnClose(app);
  const shape = { maxAliases: deps.config.GRAPHQL_MAX_ALIASES, maxIds: deps.config.GRAPHQL_MAX_NODE_IDS };
  for (const route of routes) {
    const document = compile(schema, route, shape);
    const streamDocument = route.eventStream ? compile(schema, { ...route, document: route.eventStream.document }, shape) : null;
    const endpoint = `${route.method} ${route.path}`;
    app.route({
      method: route.method,
      url: route.path.replace(/\{(\w+)\}/g, ':$1'),
      handler: async (request: FastifyRequest, reply) => {
        if (route.headers) reply.headers(route.headers);
        const context = await buildContext(deps, { requestId: request.id, headers: request.headers, ip: request.ip });
        const req: RestRequest = {
          params: check(route.params, request.params, 'path'),
          query: check(route.query, request.query, 'query'),
          body: check(route.body, request.body, 'body'),
          headers: request.headers,
        };
        const streaming = route.eventStream && wantsEventStream(request.headers) ? { after: lastEventId(request.headers) } : null;
        // A request refused above (bad input) costs nothing; from here on it counts.
        const cost = typeof route.cost === 'function' ? route.cost(req) : (route.cost ?? 1);
        const admission = context.principal ? await deps.limiter.admit(context.principal, cost, endpoint) : await deps.limiter.admitAddress(context.ip, cost);
        reply.headers(admission.headers);
        let result;
        try {
          result = await execute({ schema, document, contextValue: context, variableValues: route.variables(req) });
        } finally {
          await admission.release();
        }
        if (result.errors?.length) {
          const err = result.errors[0]!;
          const app = appErrorOf(err);
          if (app) throw app;
          if (!err.originalError) throw new ValidationError([{ field: '(request)', message: err.message }]);
          throw unstorableInput(req) ?? err.originalError;
        }
        // A mutation's payload says whether it replayed an earlier request with the same Idempotency-Key.
        if (Object.values(result.data ?? {}).some((payload) => (payload as { replayed?: unknown } | null)?.replayed === true)) reply.header('Idempotent-Replayed', 'true');
        if (streaming && route.eventStream && streamDocument) {
          const spec = route.eventStream;
          return sendEventStream(request, reply, deps, live, {
            schema,
            document: streamDocument,
            contextValue: context,
            variableValues: spec.variables(result.data, req, streaming.after),
            opening: spec.opening?.(result.data, req),
            event: spec.event,
          });
        }
        const body = route.reply(result.data, req);
        if (route.binary) reply.type(route.binary.contentType).headers(route.binary.headers?.(result.data) ?? {});
        return reply.status(route.statusOf?.(result.data) ?? route.successStatus).send(body);
      },
    });
  }
}

export { asAppError };
