/** Loads the GraphQL documents the REST layer runs (one file per operation, fragments appended). */
import { readFileSync } from 'node:fs';

const dir = new URL('./operations/', import.meta.url);

/** The text of `operations/<name>.graphql`, with the named fragment files appended. */
export function operation(name: string, ...fragments: string[]): string {
  return [name, ...fragments].map((n) => readFileSync(new URL(`${n}.graphql`, dir), 'utf8')).join('\n');
}
