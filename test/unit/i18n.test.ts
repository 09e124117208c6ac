/** The error catalogues: every code in every language, the same ICU arguments as English, and the negotiation of Accept-Language. */
import { IntlMessageFormat } from 'intl-messageformat';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorCodes, NotFoundError, PayloadTooLargeError, ValidationError } from '../../src/errors.js';
import { locales, NEGOTIATED_CACHE_SIZE, negotiatedLocales, negotiateLocale } from '../../src/i18n/locale.js';
import { catalogues, formatMessage, localize } from '../../src/i18n/localize.js';
import { check } from '../../src/rest/register.js';

/** The argument names a message uses, with the kind of each (plain, plural, select…), nested ones included. */
function argumentsOf(message: string, locale: string): string[] {
  const found = new Set<string>();
  const walk = (nodes: unknown[]) => {
    for (const node of nodes as Array<{ type: number; value?: string; options?: Record<string, { value: unknown[] }> }>) {
      if (node.type !== 0 && node.type !== 7 && typeof node.value === 'string') found.add(node.value);
      for (const option of Object.values(node.options ?? {})) walk(option.value);
    }
  };
  walk(new IntlMessageFormat(message, locale).getAst());
  return [...found].sort();
}

describe('the error catalogues', () => {
  it('have a message for every error code in every language', () => {
    for (const locale of locales) {
      const missing = Object.keys(errorCodes).filter((code) => typeof catalogues[locale][code] !== 'string' || !catalogues[locale][code].trim());
      expect(missing, `codes without a message in ${locale}.json`).toEqual([]);
    }
  });

  it('have the English catalogue’s keys, no more and no fewer', () => {
    const keys = Object.keys(catalogues.en).sort();
    for (const locale of locales) expect(Object.keys(catalogues[locale]).sort(), locale).toEqual(keys);
  });

  it('use the same ICU arguments as English in every message (and every message parses)', () => {
    for (const locale of locales) {
      for (const [key, english] of Object.entries(catalogues.en)) {
        expect(argumentsOf(catalogues[locale][key], locale), `${locale}.json ${key}`).toEqual(argumentsOf(english, 'en'));
      }
    }
  });

  it('say in English what the errors thrown today say', () => {
    expect(formatMessage('en', 'resource_not_found.id', { resource: 'task', id: 'task_1' })).toBe(new NotFoundError('task', 'task_1').message);
    expect(formatMessage('en', 'payload_too_large.limit', { megabytes: 10 })).toBe(new PayloadTooLargeError(10 * 1024 * 1024).message);
    const invalid = new ValidationError([
      { field: 'task', message: 'is required' },
      { field: 'temperature', message: 'must be number' },
    ]);
    expect(
      formatMessage('en', 'validation_error.fields', {
        count: 2,
        fields: ['task is required', 'temperature must be number'].join('; '),
      }),
    ).toBe(invalid.message);
  });
});

describe('localize', () => {
  it('keeps the code, status and English text; other languages get the catalogue’s wording with the arguments', () => {
    const err = new NotFoundError('API key', 'key_1');
    expect(localize(err, 'en')).toBe(err);
    const ja = localize(err, 'ja');
    expect(ja).toBeInstanceOf(NotFoundError);
    expect({ code: ja.code, status: ja.status }).toEqual({ code: 'resource_not_found', status: 404 });
    expect(ja.message).toBe('ID "key_1" のAPI キーはこのアカウントに存在しません。');
    expect(err.message).toBe('No API key with id "key_1" exists for this account.');
  });

  it('words each field of a validation error in the language, zod issues in zod’s own words for it', () => {
    let thrown: unknown;
    try {
      check(z.object({ name: z.string().min(3), size: z.number() }).strict(), { name: 'a', extra: true }, 'body');
    } catch (err) {
      thrown = err;
    }
    const err = thrown as ValidationError;
    const fr = localize(err, 'fr');
    expect(fr.fieldErrors.map((e) => e.field)).toEqual(err.fieldErrors.map((e) => e.field));
    expect(Object.fromEntries(fr.fieldErrors.map((e) => [e.field, e.message]))).toEqual({
      name: z.locales.fr().localeError(z.string().min(3).safeParse('a', { reportInput: true }).error!.issues[0] as never),
      size: 'est obligatoire',
      extra: 'n’est pas un champ connu du corps',
    });
    expect(fr.message).toMatch(/^La requête a 3 champs invalides : /);
    expect(fr.details).toEqual(fr.fieldErrors);
  });

  it('falls back to the code’s message in the language when the error has no specific wording', () => {
    const err = new ValidationError([], 'Something specific in English.');
    expect(localize(err, 'de').message).toBe(catalogues.de.validation_error);
  });
});

describe('negotiateLocale', () => {
  it.each([
    [undefined, 'en'],
    ['', 'en'],
    ['ja', 'ja'],
    ['ja-JP;q=0.9, de;q=0.8', 'ja'],
    ['de;q=0.8, ja-JP;q=0.9', 'ja'],
    ['fr-CA, es;q=0.5', 'fr'],
    ['zh-CN, ko;q=0.9', 'en'],
    ['zh-CN, es;q=0.1', 'es'],
    ['*', 'en'],
    ['*;q=0.5, de;q=0.6', 'de'],
    ['es;q=0, ja;q=0.2', 'ja'],
    ['de;q=0', 'en'],
    ['de;q=abc, fr', 'fr'],
    ['DE-at', 'de'],
  ])('%s → %s', (header, expected) => {
    expect(negotiateLocale(header)).toBe(expected);
    // The second answer comes from what the first remembered.
    expect(negotiateLocale(header)).toBe(expected);
  });

  it('remembers at most its bound of header values, forgetting the oldest first', () => {
    const header = (n: number) => `fr;q=0.${n % 9}, de;q=0.95, x-${n}`;
    const made = 2 * NEGOTIATED_CACHE_SIZE;
    for (let n = 0; n < made; n++) expect(negotiateLocale(header(n))).toBe('de');
    expect(negotiatedLocales.size).toBe(NEGOTIATED_CACHE_SIZE);
    expect(negotiatedLocales.has(header(made - NEGOTIATED_CACHE_SIZE - 1))).toBe(false);
    expect(negotiatedLocales.has(header(made - NEGOTIATED_CACHE_SIZE))).toBe(true);
    expect(negotiatedLocales.has(header(made - 1))).toBe(true);
    // A forgotten value is chosen afresh, and becomes the newest.
    expect(negotiateLocale(header(0))).toBe('de');
    expect([...negotiatedLocales.keys()].at(-1)).toBe(header(0));
    expect(negotiatedLocales.size).toBe(NEGOTIATED_CACHE_SIZE);
  });
});
