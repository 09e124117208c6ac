/**
 * GraphQL over GET (`/graphql?query=…`), as urql and other clients send queries by default.
 *
 * Only queries run over GET: a mutation or subscription is answered 405 (send it as a POST).
 * A query over GET must carry one header that a plain cross-site form or link cannot send, so a
 * page on another site cannot make a browser run it (our credentials are never cookies, so such a
 * request would run without the user's identity anyway; the rule keeps GET to real GraphQL clients):
 *  - `Accept` naming `application/graphql-response+json` (urql and graphql-http clients send it),
 *  - `apollo-require-preflight` or `x-apollo-operation-name` with any value (Apollo clients),
 *  - or a `Content-Type` other than a form's (text/plain, application/x-www-form-urlencoded,
 *    multipart/form-data).
 * Anything else answers 400 naming the header to send.
 */
import { getOperationAST, OperationTypeNode, parse, type DocumentNode } from 'graphql';
import type { IncomingHttpHeaders } from 'node:http';
import { AppError, InvalidRequestError } from '../errors.js';

const FORM_CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'];
const PREFLIGHT_HEADERS = ['apollo-require-preflight', 'x-apollo-operation-name'];

/** Whether the request carries a header a cross-site form cannot send. */
function preflighted(headers: IncomingHttpHeaders): boolean {
  const accept = headers.accept ?? '';
  if (/(^|,)\s*application\/graphql-response\+json/i.test(accept)) return true;
  if (PREFLIGHT_HEADERS.some((name) => typeof headers[name] === 'string' && headers[name] !== '')) return true;
  const contentType = headers['content-type']?.split(';')[0].trim().toLowerCase();
  return !!contentType && !FORM_CONTENT_TYPES.includes(contentType);
}

/**
 * The refusal of a GET /graphql request, or null when it may run. `search` is its query string;
 * a document that does not parse is left to the GraphQL server (it answers the syntax error).
 */
export function refuseGraphqlGet(search: URLSearchParams, headers: IncomingHttpHeaders): AppError | null {
  const source = search.get('query');
  if (source === null) return null;
  let document: DocumentNode;
  try {
    document = parse(source);
  } catch {
    return null;
  }
  const operation = getOperationAST(document, search.get('operationName') ?? undefined);
  if (operation && operation.operation !== OperationTypeNode.QUERY) {
    const message = `A ${operation.operation} cannot run over GET (only queries can); send it as a POST with Content-Type: application/json.`;
    return new AppError('method_not_allowed', 405, message, undefined, { Allow: 'POST' });
  }
  if (preflighted(headers)) return null;
  return new InvalidRequestError(
    'A GraphQL query over GET must carry a header a cross-site form cannot send: "Accept: application/graphql-response+json" ' +
      '(urql and graphql-http clients send it), "apollo-require-preflight: true", or "Content-Type: application/json"; or send the query as a POST.',
  );
}
