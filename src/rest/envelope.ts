/** The REST error envelope: {"error": {code, message, details, request_id, doc_url}}. */
import { databaseUnavailable } from '../db/unavailable.js';
import { AppError, docUrl, InternalError, ValidationError } from '../errors.js';
import { defaultLocale, type Locale } from '../i18n/locale.js';
import { localize } from '../i18n/localize.js';

/** snake_case of a camelCase field path ("context.files.0.path" stays, "agentType" → "agent_type"). */
export const snakeField = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; request_id: string; doc_url: string };
}

/** Renders an error for a REST response, in the request's language. Validation details get REST's snake_case field names. */
export function errorBody(err: AppError, requestId: string, locale: Locale = defaultLocale): ErrorBody {
  err = localize(err, locale);
  const details =
    err instanceof ValidationError ? err.fieldErrors.map((e) => ({ field: snakeField(e.field), message: e.message })) : err.details;
  const message = err instanceof ValidationError ? err.message.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, snakeField) : err.message;
  return {
    error: {
      code: err.code,
      message,
      ...(details !== undefined ? { details } : {}),
      request_id: requestId,
      doc_url: docUrl(err.code),
    },
  };
}

/** Any thrown value as an AppError; anything unexpected becomes internal_error. */
export function asAppError(err: unknown): AppError {
  return err instanceof AppError ? (err as AppError) : (databaseUnavailable(err) ?? new InternalError());
}
