/**
 * Errors of an operation as the API's typed errors (AppError: a code and a status), for every
 * transport: REST and its streams answer them in the error envelope, GraphQL formats them.
 */
import { GraphQLError } from 'graphql';
import type { AppError} from '../errors.js';
import { ValidationError } from '../errors.js';
import { appErrorOf } from '../graphql/format-error.js';
import type { Logger } from '../logger.js';
import { asAppError } from '../rest/envelope.js';
import { isStorableText } from '../services/text.js';

export interface OperationErrorOptions {
  /** The error for an operation GraphQL refused before running it (variables that do not fit); default a 422 naming the request. */
  invalid?(err: GraphQLError): AppError;
  /** The request's input, to name the fields PostgreSQL cannot store when the operation failed unexpectedly. */
  input?: Record<string, unknown>;
}

/**
 * The error to answer for an operation's first error: the AppError behind it, a 422 when GraphQL
 * refused the operation itself, else the unexpected error (the caller's handler logs it, 500).
 */
export function operationError(err: GraphQLError, options: OperationErrorOptions = {}): unknown {
  const app = appErrorOf(err);
  if (app) return app;
  if (!err.originalError) return options.invalid?.(err) ?? new ValidationError([{ field: '(request)', message: err.message }]);
  return (options.input && unstorableInput(options.input)) || err.originalError;
}

/** An error while a stream is open, as an AppError for its `error` event; an unexpected one is logged. */
export function streamError(err: unknown, logger: Logger, requestId: string, what: string): AppError {
  const app = appErrorOf(err) ?? asAppError((err as { originalError?: unknown } | null)?.originalError ?? err);
  if (app.code === 'internal_error') logger.error({ err, requestId }, `${what} failed`);
  return app;
}

/** An AppError as a GraphQL error that keeps its status and headers (GraphQL over HTTP answers with them). */
export function graphqlErrorOf(err: AppError, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(err.message, { originalError: err, extensions: { http: { status: err.status, headers: new Map(Object.entries(err.headers)) }, ...extensions } });
}

/**
 * A request whose operation failed unexpectedly while it carried text PostgreSQL cannot store: the
 * 422 naming those fields, not a 500. (Services refuse such text themselves where it is expected,
 * with their own advice; this covers every other field.)
 */
function unstorableInput(input: Record<string, unknown>): ValidationError | null {
  const fields = Object.entries(input).flatMap(([location, value]) => unstorableFields(value, location));
  return fields.length ? new ValidationError(fields.map((field) => ({ field, message: 'must be text (no NUL characters or lone UTF-16 surrogates)' }))) : null;
}

/** Paths of the strings in `value` that PostgreSQL cannot store. */
function unstorableFields(value: unknown, location: string, path = ''): string[] {
  if (typeof value === 'string') return isStorableText(value) ? [] : [path || `(${location})`];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) => unstorableFields(v, location, path ? `${path}.${key}` : key));
}
