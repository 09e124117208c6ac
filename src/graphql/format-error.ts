/** One error format for GraphQL over HTTP and WebSocket: our codes upper-cased, internals hidden. */
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { AppError, InternalError } from '../errors.js';
import { defaultLocale, type Locale } from '../i18n/locale.js';
import { localize } from '../i18n/localize.js';
import type { Logger } from '../logger.js';
import { databaseUnavailable } from '../db/unavailable.js';
import { numberInputError } from './number-errors.js';

/** Codes GraphQL itself produces for a bad document or variables: safe to pass through. */
const CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * Finds the AppError behind a GraphQL error, if any. An unavailable database counts as one (503);
 * so does a number that graphql-js's Int or Float refused (a literal or a variable): a
 * ValidationError naming the field.
 */
export function appErrorOf(error: unknown): AppError | null {
  let current: unknown = error;
  for (let i = 0; i < 5 && current; i++) {
    if (current instanceof AppError) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return databaseUnavailable(error) ?? numberInputError(error);
}

/**
 * Formats an error for a GraphQL response, its message in the request's language (given, or the
 * `locale` extension the server put on the error); unknown errors are logged in full and shown as INTERNAL_ERROR.
 */
export function formatGraphQLError(
  formatted: GraphQLFormattedError,
  error: unknown,
  requestId: string | undefined,
  logger: Logger,
  locale?: Locale,
): GraphQLFormattedError {
  const app = appErrorOf(error);
  requestId ??= formatted.extensions?.requestId as string | undefined;
  locale ??= (formatted.extensions?.locale as Locale | undefined) ?? defaultLocale;
  const base = { locations: formatted.locations, path: formatted.path };
  if (app) {
    if (app.status === 503 && !(app === error || (error as GraphQLError | undefined)?.originalError instanceof AppError)) {
      logger.warn({ err: (error as GraphQLError | undefined)?.originalError ?? error, requestId }, 'database unavailable: answered 503');
    }
    const shown = localize(app, locale);
    return {
      message: shown.message,
      ...base,
      extensions: { code: app.graphqlCode, requestId, ...(app.details !== undefined ? { details: shown.details } : {}) },
    };
  }
  const code = formatted.extensions?.code;
  const original = (error as GraphQLError | undefined)?.originalError;
  if ((typeof code === 'string' && CLIENT_CODES.has(code)) || (error instanceof GraphQLError && !original && !code)) {
    return { message: formatted.message, ...base, extensions: { code: typeof code === 'string' ? code : 'GRAPHQL_VALIDATION_FAILED', requestId } };
  }
  logger.error({ err: original ?? error, requestId }, 'unexpected error in a GraphQL operation');
  return { message: localize(new InternalError(), locale).message, ...base, extensions: { code: 'INTERNAL_ERROR', requestId } };
}
