/**
 * Text PostgreSQL can store: it keeps neither NUL characters nor lone UTF-16 surrogates (in
 * `text` or `jsonb`), so input holding them is refused with a 422 rather than failing as a 500,
 * and text from outside (a model's answer) is cleaned before it is stored.
 */
import { z } from 'zod';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isStorableText = (text: string): boolean => !text.includes('\0') && !LONE_SURROGATE.test(text);

/** A string PostgreSQL can store; `what` ends the message ("leave binary files out"). */
export const storableText = (what = 'binary content is not accepted') =>
  z.string().refine(isStorableText, `must be text (no NUL characters or lone UTF-16 surrogates); ${what}`);

/** The text with NUL characters dropped and lone surrogates replaced (U+FFFD). */
export const toStorableText = (text: string): string => text.replaceAll('\0', '').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
