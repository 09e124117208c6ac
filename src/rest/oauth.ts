/**
 * Protocol endpoints that follow their own RFCs rather than the API's conventions, so they are
 * plain handlers instead of GraphQL-backed routes:
 *  - POST /v1/oauth/token: the client credentials grant (RFC 6749 §4.4): form-encoded body,
 *    client_secret_basic or client_secret_post, RFC 6749 §5.2 error bodies, no-store caching;
 *    with an Idempotency-Key, a token is issued once (a repeat is 409 idempotency_conflict).
 *  - GET /.well-known/jwks.json: the public keys our access tokens are signed with (RFC 7517).
 */
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { identify } from '../edge/limit-headers.js';
import { issueClientToken, OAuthError } from '../services/auth/oauth-clients.js';
import { FULL_SCOPES, type ServiceDeps } from '../services/deps.js';
import { issueOnce } from '../services/idempotency.js';
import { AppError } from '../errors.js';

function basicCredentials(header: string | undefined): { id: string; secret: string } | null | 'malformed' {
  if (!header) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return 'malformed';
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    return 'malformed';
  }
}

function oauthError(reply: FastifyReply, err: OAuthError, basic: boolean) {
  if (err.status === 401 && basic) reply.header('WWW-Authenticate', 'Basic realm="codex", charset="UTF-8"');
  return reply.status(err.status).send({ error: err.error, error_description: err.description });
}

export async function registerOAuthEndpoints(app: FastifyInstance, deps: ServiceDeps): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: 16 * 1024 });
    scope.post('/v1/oauth/token', async (request, reply) => {
      reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
      const basic = basicCredentials(request.headers.authorization);
      try {
        if (!request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
          throw new OAuthError('invalid_request', 'Send the token request form-encoded (Content-Type: application/x-www-form-urlencoded).');
        }
        const body = (request.body ?? {}) as Record<string, string | string[] | undefined>;
        for (const [name, value] of Object.entries(body)) {
          if (Array.isArray(value)) throw new OAuthError('invalid_request', `The parameter ${name} is repeated.`);
        }
        if (!body.grant_type) throw new OAuthError('invalid_request', 'The grant_type parameter is required (client_credentials).');
        if (body.grant_type !== 'client_credentials') {
          throw new OAuthError('unsupported_grant_type', 'Only the client_credentials grant is supported.');
        }
        if (basic === 'malformed') throw new OAuthError('invalid_client', 'The Authorization header must be "Basic base64(client_id:client_secret)".');
        if (basic && body.client_secret !== undefined) {
          throw new OAuthError('invalid_request', 'Authenticate the client with one method only: HTTP Basic or client_secret in the body.');
        }
        const form = body as Record<string, string | undefined>;
        const id = basic ? basic.id : form.client_id;
        const secret = basic ? basic.secret : form.client_secret;
        if (!id || !secret) throw new OAuthError('invalid_client', 'Client authentication is required: client_secret_basic or client_id and client_secret in the body.');
        const scopes = form.scope === undefined ? undefined : [...new Set(form.scope.split(' ').filter(Boolean))];
        if (scopes && (scopes.length === 0 || scopes.some((s) => !(FULL_SCOPES as readonly string[]).includes(s)))) {
          throw new OAuthError('invalid_scope', `Known scopes are ${FULL_SCOPES.join(', ')}; omit scope for all the client holds but account.`);
        }
        // Tokens are issued once per Idempotency-Key: a repeat answers 409 and issues nothing. An
        // authenticated client's answers carry the limit headers of its credential (issuing a token is not charged).
        const key = request.headers['idempotency-key'];
        const token = await issueOnce(deps.db, { subject: id, key: typeof key === 'string' ? key : null, operation: 'oauthToken', request: { scope: scopes ?? null } }, () =>
          issueClientToken(deps, id, secret, scopes, (client) => identify(request, { userId: client.ownerId, credentialId: client.id })),
        );
        return reply.status(200).send(token);
      } catch (err) {
        if (err instanceof OAuthError) return oauthError(reply, err, basic !== null);
        if (err instanceof AppError && (err.code === 'idempotency_conflict' || err.code === 'invalid_request')) {
          return reply.status(Number(err.status)).send({ error: String(err.code), error_description: String(err.message) });
        }
        throw err;
      }
    });
  });
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('Cache-Control', 'public, max-age=300');
    return deps.signingKeys.jwks();
  });
}
