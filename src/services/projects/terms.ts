/**
 * Identifier-aware tokenization for the project index. Code and queries go through the same
 * function, so `parseUser`, `parse_user` and "parse user" meet: each identifier yields its parts
 * (`parse`, `user`) and its joined form (`parseuser`), all lower-case letters and digits. The
 * words are stored in a text column that PostgreSQL turns into a tsvector ('simple' config).
 */

const WORD = /[A-Za-z0-9_$]+/g;
const MAX_WORD = 64;

/** Splits one identifier into lower-case parts: camelCase, PascalCase, snake_case, kebab, digits. */
export function identifierParts(word: string): string[] {
  return word
    .split(/[_$]+/)
    .flatMap((p) => p.split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/))
    .map((p) => p.toLowerCase())
    .filter((p) => p.length > 0 && p.length <= MAX_WORD);
}

/** The index words of a text: every identifier's parts, and its joined form when it has several. */
export function indexTerms(text: string, maxChars = 60_000): string {
  const out: string[] = [];
  let size = 0;
  for (const m of text.matchAll(WORD)) {
    const parts = identifierParts(m[0]);
    if (parts.length === 0) continue;
    const words = parts.length > 1 ? [parts.join('').slice(0, MAX_WORD), ...parts] : parts;
    for (const w of words) {
      size += w.length + 1;
      if (size > maxChars) return out.join(' ');
      out.push(w);
    }
  }
  return out.join(' ');
}

const STOP_WORDS = new Set(
  'a an and are as at be by for from how i in is it its of on or that the this to was what when where which with add make write use new fix code file function'.split(' '),
);

/**
 * A tsquery for a search text (only letters and digits reach it, so it cannot be malformed):
 * each identifier matches its joined form or all its parts; words are combined with `&` (all
 * must match) or `|` (any, ranked; for long natural-language prompts, common words dropped).
 * Null when the text has no searchable word.
 */
export function searchQuery(text: string, mode: 'all' | 'any'): string | null {
  const groups: string[] = [];
  const seen = new Set<string>();
  for (const m of text.matchAll(WORD)) {
    const parts = identifierParts(m[0]);
    if (parts.length === 0) continue;
    const joined = parts.join('').slice(0, MAX_WORD);
    if (seen.has(joined) || (mode === 'any' && parts.length === 1 && STOP_WORDS.has(joined))) continue;
    seen.add(joined);
    groups.push(parts.length > 1 ? `(${joined} | (${parts.join(' & ')}))` : joined);
    if (groups.length >= 32) break;
  }
  if (groups.length === 0) return null;
  return groups.join(mode === 'all' ? ' & ' : ' | ');
}
