/**
 * The language of a request's messages: the best of the supported languages by the request's
 * Accept-Language (q-values weigh the ranges; a regional tag such as ja-JP matches ja), English
 * when it names none of them.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The languages the API's messages are written in. */
export const locales = ['en', 'ja', 'de', 'fr', 'es'] as const;
export type Locale = (typeof locales)[number];
export const defaultLocale: Locale = 'en';

const isLocale = (tag: string): tag is Locale => (locales as readonly string[]).includes(tag);

/** A language range of Accept-Language with its weight (absent q is 1; a malformed q drops the range). */
function ranges(header: string): { tag: string; q: number; order: number }[] {
  return header.split(',').flatMap((part, order) => {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    if (!range) return [];
    const qParam = params.find((p) => /^q\s*=/i.test(p));
    const q = qParam === undefined ? 1 : Number(qParam.replace(/^q\s*=\s*/i, ''));
    return /^[A-Za-z*][A-Za-z0-9-]*$/.test(range) && Number.isFinite(q) && q >= 0 && q <= 1 ? [{ tag: range.toLowerCase(), q, order }] : [];
  });
}

/** How many Accept-Language values `negotiateLocale` remembers its choice for (clients send a handful). */
export const NEGOTIATED_CACHE_SIZE = 1000;
const negotiated = new Map<string, Locale>();
/** The remembered choices, oldest first (read by tests). */
export const negotiatedLocales: ReadonlyMap<string, Locale> = negotiated;

/**
 * The supported language an Accept-Language value prefers; English when it names none (or only
 * `*`). Remembered per value (the oldest forgotten first), so a request pays a lookup, not a parse.
 */
export function negotiateLocale(header: string | string[] | undefined): Locale {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return defaultLocale;
  let locale = negotiated.get(value);
  if (locale === undefined) {
    locale = choose(value);
    if (negotiated.size >= NEGOTIATED_CACHE_SIZE) negotiated.delete(negotiated.keys().next().value!);
    negotiated.set(value, locale);
  }
  return locale;
}

function choose(value: string): Locale {
  const wanted = ranges(value)
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { tag } of wanted) {
    if (tag === '*') return defaultLocale;
    const primary = tag.split('-')[0];
    if (isLocale(primary)) return primary;
  }
  return defaultLocale;
}

const chosen = new WeakMap<IncomingHttpHeaders, Locale>();

/** The language of a request, chosen once from its headers (the context and the error handlers ask the same object). */
export function requestLocale(headers: IncomingHttpHeaders): Locale {
  let locale = chosen.get(headers);
  if (!locale) {
    locale = negotiateLocale(headers['accept-language']);
    chosen.set(headers, locale);
  }
  return locale;
}
