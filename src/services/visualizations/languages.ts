/** A file's language from GitHub Linguist's data (package linguist-languages), by file name, then extension. */
import * as linguist from 'linguist-languages';

export const LANGUAGES_METHOD =
  'Share of lines in text files at the tip of the analysed branch, by language; a file\'s language comes from its name or extension using GitHub Linguist\'s language data, and only programming and markup languages count, as on GitHub.';

interface Lang {
  name: string;
  type: string;
  tmScope?: string;
  aliases?: readonly string[];
  extensions?: readonly string[];
  filenames?: readonly string[];
}

const rank = (type: string) => (type === 'programming' ? 0 : type === 'markup' ? 1 : 2);
/**
 * Among languages sharing an extension (Linguist decides those with content heuristics; we read
 * names only): the one whose primary extension it is, then one with a grammar, then the one with
 * more extensions and aliases (a rough measure of how widely it is used: Markdown over GCC
 * Machine Description for .md).
 */
const score = (lang: Lang, ext: string) =>
  (lang.extensions?.[0]?.toLowerCase() === ext ? 0 : 1000) + (lang.tmScope && lang.tmScope !== 'none' ? 0 : 500) - (lang.extensions?.length ?? 0) - (lang.aliases?.length ?? 0);
const byExtension = new Map<string, Lang>();
const byFilename = new Map<string, Lang>();
for (const lang of Object.values(linguist as unknown as Record<string, Lang>)) {
  if (!lang || typeof lang !== 'object' || !lang.name) continue;
  for (const ext of lang.extensions ?? []) {
    const key = ext.toLowerCase();
    const seen = byExtension.get(key);
    if (!seen || score(lang, key) < score(seen, key)) byExtension.set(key, lang);
  }
  for (const name of lang.filenames ?? []) {
    const seen = byFilename.get(name);
    if (!seen || rank(lang.type) < rank(seen.type)) byFilename.set(name, lang);
  }
}

/** The language of a path and whether it counts toward language percentages; null when unknown. */
export function languageOf(path: string): { name: string; counted: boolean } | null {
  const base = path.slice(path.lastIndexOf('/') + 1);
  let lang = byFilename.get(base);
  if (!lang) {
    const lower = base.toLowerCase();
    // Longest extension first: ".d.ts" before ".ts".
    for (let i = lower.indexOf('.'); i >= 0 && !lang; i = lower.indexOf('.', i + 1)) lang = byExtension.get(lower.slice(i));
  }
  return lang ? { name: lang.name, counted: rank(lang.type) <= 1 } : null;
}
