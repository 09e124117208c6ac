/**
 * The per-request context, built the same way for /graphql over HTTP and WebSocket, for REST
 * routes and for the REST task stream: a request id, the authenticated principal, the services.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { AuthenticationError } from './errors.js';
import { newId } from './ids.js';
import type { Principal, ServiceDeps } from './services/deps.js';

export interface GraphQLContext {
  requestId: string;
  principal: Principal;
  deps: ServiceDeps;
  /** Set by a mutation that replayed an idempotent request, so REST can say so in a header. */
  response: { replayed: boolean };
}

/** The credential of a request: `Authorization: Bearer …`, `X-API-Key`, or a `token` query parameter (WebSocket). */
export function extractCredential(headers: IncomingHttpHeaders, queryToken?: string | null): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new AuthenticationError('The Authorization header must be "Bearer <api key>".');
    return match[1]!;
  }
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey) return apiKey.trim();
  return queryToken || null;
}

/** Authenticates the request and returns its context; 401 without a valid credential. */
export async function buildContext(
  deps: ServiceDeps,
  request: { requestId?: string; headers: IncomingHttpHeaders; queryToken?: string | null },
): Promise<GraphQLContext> {
  const credential = extractCredential(request.headers, request.queryToken);
  if (!credential) throw new AuthenticationError();
  const principal = await deps.apiKeys.verify(credential);
  return { requestId: request.requestId ?? newId('request'), principal, deps, response: { replayed: false } };
}
