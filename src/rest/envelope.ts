/**
 * The REST error envelope, built here only, from the error code table:
 * {"error": {code, message, <limit fields>, details, request_id, documentation_url, doc_url}}.
 * The table's `lifted` fields of `details` (a 429's retry_after, tier, limit, reset_at; a 402's
 * plan and usage) are also sent at the top of `error`; both link fields carry the same link.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { databaseUnavailable } from '../db/unavailable.js';
import { defaultLocale, requestLocale, type Locale } from '../i18n/locale.js';
import { localize } from '../i18n/localize.js';
import { AppError, errorCodes, InternalError, InvalidRequestError, isErrorCode, ValidationError, type ErrorCode, type LiftedField } from '../errors.js';

/** Where this gateway serves the error code reference; each code has the anchor `#<code>`. */
export const ERROR_REFERENCE_PATH = '/docs/errors';

/** The request header that picks the vocabulary of `error.code`. */
export const ERROR_CODES_HEADER = 'Codex-Error-Codes';
/** `snake`: the API's snake_case codes (the default); `upper`: the upper-case vocabulary (UNAUTHORIZED, NOT_FOUND, SERVER_ERROR, …). */
export const codeVocabularies = ['snake', 'upper'] as const;
export type CodeVocabulary = (typeof codeVocabularies)[number];

/** How errors answer one request: its id, the documentation link's base, the vocabulary of its codes. */
export interface EnvelopeOptions {
  requestId: string;
  /** DOCS_URL, else this gateway's error reference; `{code}` in it is replaced by the code, else `#<code>` is appended. */
  docsUrl: string;
  vocabulary: CodeVocabulary;
  /** The language of `message` (Accept-Language); English when absent. */
  locale?: Locale;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** How errors answer this request (see decorateErrorEnvelope). */
    errorEnvelope: EnvelopeOptions;
  }
}

/** snake_case of a camelCase field path ("context.files.0.path" stays, "agentType" → "agent_type"). */
export const snakeField = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    details?: unknown;
    request_id: string;
    documentation_url: string;
    doc_url: string;
  } & Partial<Record<LiftedField, unknown>>;
}

/** The link to one code's documentation. */
export function docLink(docsUrl: string, code: ErrorCode): string {
  return docsUrl.includes('{code}') ? docsUrl.replaceAll('{code}', code) : `${docsUrl}#${code}`;
}

/** A code (ours, or a task's error code) in the vocabulary asked for: the table's upper-case code, else the code upper-cased. */
export function codeIn(vocabulary: CodeVocabulary, code: string): string {
  if (vocabulary === 'snake') return code;
  return isErrorCode(code) ? errorCodes[code].upper : code.toUpperCase();
}

/** Renders an error for a REST response, in the request's language. Validation details get REST's snake_case field names. */
export function errorBody(err: AppError, options: EnvelopeOptions): ErrorBody {
  err = localize(err, options.locale ?? defaultLocale);
  const entry = errorCodes[err.code];
  const details =
    err instanceof ValidationError ? err.fieldErrors.map((e) => ({ field: snakeField(e.field), message: e.message })) : err.details;
  const message = err instanceof ValidationError ? err.message.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, snakeField) : err.message;
  const lifted: Partial<Record<LiftedField, unknown>> = {};
  if (details && typeof details === 'object' && !Array.isArray(details)) {
    for (const field of entry.lifted) {
      const value = (details as Record<string, unknown>)[field];
      if (value !== undefined) lifted[field] = value;
    }
  }
  const link = docLink(options.docsUrl, err.code);
  return {
    error: {
      code: codeIn(options.vocabulary, err.code),
      message,
      ...lifted,
      ...(details !== undefined ? { details } : {}),
      request_id: options.requestId,
      documentation_url: link,
      doc_url: link,
    },
  };
}

/** Any thrown value as an AppError; anything unexpected becomes internal_error. */
export function asAppError(err: unknown): AppError {
  return err instanceof AppError ? (err as AppError) : (databaseUnavailable(err) ?? new InternalError());
}

/** The vocabulary a request asks for (snake without the header), or null for a value we do not speak. */
export function vocabularyOf(headers: IncomingHttpHeaders): CodeVocabulary | null {
  const raw = headers[ERROR_CODES_HEADER.toLowerCase()];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
  if (!value) return 'snake';
  return (codeVocabularies as readonly string[]).includes(value) ? (value as CodeVocabulary) : null;
}

/** A 400 for a Codex-Error-Codes header that names no vocabulary; null when it is absent or valid. */
export function vocabularyError(headers: IncomingHttpHeaders): InvalidRequestError | null {
  if (vocabularyOf(headers) !== null) return null;
  const raw = headers[ERROR_CODES_HEADER.toLowerCase()];
  return new InvalidRequestError(
    `The ${ERROR_CODES_HEADER} header must be ${codeVocabularies.map((v) => `"${v}"`).join(' or ')} (got ${JSON.stringify(Array.isArray(raw) ? raw[0] : raw)}); leave it out for the default snake_case codes.`,
    { header: ERROR_CODES_HEADER, allowed: codeVocabularies },
  );
}

/**
 * The base of documentation links: DOCS_URL, else the error reference at PUBLIC_URL (as every link
 * the gateway writes, never taken from the Host header, so a forged Host cannot redirect it).
 */
export function docsBase(config: Pick<Config, 'DOCS_URL' | 'publicUrl'>): string {
  return config.DOCS_URL ?? `${config.publicUrl}${ERROR_REFERENCE_PATH}`;
}

/** How errors answer a request with these headers and id. */
export function envelopeOf(requestId: string, headers: IncomingHttpHeaders, config: Pick<Config, 'DOCS_URL' | 'publicUrl'>): EnvelopeOptions {
  return { requestId, docsUrl: docsBase(config), vocabulary: vocabularyOf(headers) ?? 'snake', locale: requestLocale(headers) };
}

/** Gives every request of `app` its `errorEnvelope`. */
export function decorateErrorEnvelope(app: FastifyInstance, config: Pick<Config, 'DOCS_URL' | 'publicUrl'>): void {
  app.decorateRequest('errorEnvelope', {
    getter(this: FastifyRequest) {
      return envelopeOf(this.id, this.headers, config);
    },
  });
}
