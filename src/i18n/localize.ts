/**
 * Error messages in the caller's language: one ICU MessageFormat catalogue per language
 * (./messages/<locale>.json), keyed by error code, plus keys for the common errors' specific
 * wording (their arguments come from the error: resource and id, limit, retry seconds, field).
 * `code` never changes; only `message` and the field messages of a validation error do.
 */
import { IntlMessageFormat } from 'intl-messageformat';
import { z } from 'zod';
import { ValidationError, type AppError, type FieldError } from '../errors.js';
import { descriptorOf, type MessageDescriptor, type MessageKey, type MessageParams } from './descriptor.js';
import { defaultLocale, type Locale } from './locale.js';
import de from './messages/de.json' with { type: 'json' };
import en from './messages/en.json' with { type: 'json' };
import es from './messages/es.json' with { type: 'json' };
import fr from './messages/fr.json' with { type: 'json' };
import ja from './messages/ja.json' with { type: 'json' };

/** The catalogues, by language; each has the English catalogue's keys (a unit test holds them to it). */
export const catalogues: Record<Locale, Record<string, string>> = { en, ja, de, fr, es };

const zodLocales: Record<Locale, { localeError: z.core.$ZodErrorMap }> = {
  en: z.locales.en(),
  ja: z.locales.ja(),
  de: z.locales.de(),
  fr: z.locales.fr(),
  es: z.locales.es(),
};

const compiled = new Map<string, IntlMessageFormat>();

/** A catalogue message in a language, with its ICU arguments. */
export function formatMessage(locale: Locale, key: MessageKey, params: MessageParams = {}): string {
  const id = `${locale}:${key}`;
  let format = compiled.get(id);
  if (!format) {
    format = new IntlMessageFormat(catalogues[locale][key] ?? en[key], locale);
    compiled.set(id, format);
  }
  return String(format.format(params));
}

/** The catalogue's name of a resource kind ("API key" → resource.api_key), or the kind itself when it has none. */
function resourceName(locale: Locale, kind: string | number): string {
  const key = `resource.${String(kind).toLowerCase().replace(/\W+/g, '_')}`;
  return key in en ? formatMessage(locale, key as MessageKey) : String(kind);
}

const record = (value: unknown): Record<string, unknown> => (value && typeof value === 'object' ? (value as Record<string, unknown>) : {});
const present = (...values: unknown[]) => values.every((v) => typeof v === 'string' || typeof v === 'number');
const gigabytes = (bytes: unknown) => `${(Number(bytes) / 1024 ** 3).toFixed(2)} GB`;

/** The specific message of an error thrown without a descriptor, from what its details carry. */
function derived(err: AppError, locale: Locale, fieldErrors: FieldError[] | undefined): MessageDescriptor | null {
  const d = record(err.details);
  switch (err.code) {
    case 'validation_error':
      if (!fieldErrors?.length) return null;
      return {
        key: 'validation_error.fields',
        params: { count: fieldErrors.length, fields: fieldErrors.map((e) => formatMessage(locale, 'validation_error.field', { field: e.field, message: e.message })).join('; ') },
      };
    case 'rate_limit_exceeded':
      if (present(d.limit, d.window, d.tier, d.retry_after)) {
        return { key: 'rate_limit_exceeded.window', params: { limit: d.limit, window: d.window, tier: d.tier, retry_after: d.retry_after } as MessageParams };
      }
      return present(d.retry_after) ? { key: 'rate_limit_exceeded.retry', params: { retry_after: d.retry_after as number } } : null;
    case 'concurrency_limit_exceeded':
      return present(d.limit, d.tier) ? { key: 'concurrency_limit_exceeded.limit', params: { limit: d.limit, tier: d.tier } as MessageParams } : null;
    case 'insufficient_credits':
      return present(d.requests_used, d.requests_limit, d.current_tier)
        ? { key: 'insufficient_credits.usage', params: { used: d.requests_used, limit: d.requests_limit, tier: d.current_tier } as MessageParams }
        : null;
    case 'storage_limit_exceeded':
      return present(d.storage_used_bytes, d.storage_limit_bytes, d.current_tier)
        ? { key: 'storage_limit_exceeded.usage', params: { used: gigabytes(d.storage_used_bytes), limit: gigabytes(d.storage_limit_bytes), tier: d.current_tier as string } }
        : null;
    default:
      return null;
  }
}

/** A descriptor's text in a language; a zod issue in zod's own words for it. */
function render(descriptor: MessageDescriptor, locale: Locale): string {
  if ('issue' in descriptor) {
    const worded = zodLocales[locale].localeError(descriptor.issue as z.core.$ZodRawIssue);
    return typeof worded === 'string' ? worded : (worded?.message ?? descriptor.issue.message);
  }
  const params = descriptor.params ?? {};
  return formatMessage(locale, descriptor.key, params.resource === undefined ? params : { ...params, resource: resourceName(locale, params.resource) });
}

/** A field error's message in a language; a service's own wording without a descriptor stays as written. */
function fieldMessage(fieldError: FieldError, locale: Locale): string {
  const descriptor = descriptorOf(fieldError);
  return descriptor ? render(descriptor, locale) : fieldError.message;
}

/**
 * The error as the caller's language says it: the same error (code, status, details, headers)
 * with `message`, and a validation error's field messages, in `locale`. English is the text the
 * error was thrown with. An error without a specific catalogue message gets its code's.
 */
export function localize<E extends AppError>(err: E, locale: Locale): E {
  if (locale === defaultLocale) return err;
  const fieldErrors = err instanceof ValidationError ? err.fieldErrors.map((e) => ({ field: e.field, message: fieldMessage(e, locale) })) : undefined;
  const descriptor = descriptorOf(err) ?? derived(err, locale, fieldErrors);
  const message = descriptor ? render(descriptor, locale) : formatMessage(locale, err.code);
  const localized = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as E, err, fieldErrors ? { fieldErrors, details: fieldErrors } : {});
  Object.defineProperty(localized, 'message', { value: message, writable: true, configurable: true });
  return localized;
}
