/**
 * Keyset pagination over k-sortable ids: newest first, `first` after a cursor or `last` before one.
 * Lists paged by position instead (a visualization's commits) use offset cursors, at the end.
 */
import { INT32_MAX, parseBoundedInt } from '../bounded-int.js';
import { ValidationError } from '../errors.js';
import { idKind, idPrefixes, type IdKind } from '../ids.js';

export const PAGE_DEFAULT = 20;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface Page<T> {
  nodes: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** What is wrong with a page cursor of a list of `kind` (an id from a previous page), or null. */
export function cursorProblem(cursor: string, kind: IdKind): string | null {
  return idKind(cursor) === kind ? null : `must be an id from a previous page (${idPrefixes[kind]}_…)`;
}

/** Checks page arguments against a resource's maximum page size. */
export function checkPageArgs(args: PageArgs, max: number, cursorKind: IdKind): void {
  const errors = [];
  for (const name of ['first', 'last'] as const) {
    const v = args[name];
    if (v != null && (!Number.isInteger(v) || v < 1 || v > max)) errors.push({ field: name, message: `must be between 1 and ${max}` });
  }
  for (const name of ['after', 'before'] as const) {
    const v = args[name];
    const problem = v == null ? null : cursorProblem(v, cursorKind);
    if (problem) errors.push({ field: name, message: problem });
  }
  if (args.first != null && args.last != null) errors.push({ field: 'last', message: 'cannot be combined with first' });
  if (errors.length) throw new ValidationError(errors);
}

/** A cursor condition on `id` and the order to read in; `fetch` runs the query with them. */
export type PageQuery = { id?: { lt: string } | { gt: string } };

/**
 * One page of a list ordered by id, newest first. `fetch(where, order, take)` reads rows matching
 * the cursor condition (merge it into the resource's own filter).
 */
export async function paginate<T extends { id: string }>(
  args: PageArgs,
  max: number,
  cursorKind: IdKind,
  fetch: (where: PageQuery, order: 'asc' | 'desc', take: number) => Promise<T[]>,
): Promise<Page<T>> {
  checkPageArgs(args, max, cursorKind);
  if (args.last != null || (args.before != null && args.first == null)) {
    const take = args.last ?? PAGE_DEFAULT;
    const rows = await fetch(args.before ? { id: { gt: args.before } } : {}, 'asc', take + 1);
    return { nodes: rows.slice(0, take).reverse(), hasPreviousPage: rows.length > take, hasNextPage: args.before != null };
  }
  const take = args.first ?? PAGE_DEFAULT;
  const rows = await fetch(args.after ? { id: { lt: args.after } } : {}, 'desc', take + 1);
  return { nodes: rows.slice(0, take), hasNextPage: rows.length > take, hasPreviousPage: args.after != null };
}

/**
 * Cursors of lists paged by position instead of id (a visualization's commits): `o:<offset>`
 * names the item at that offset, so the next page starts one further. Offsets are 32-bit, as the
 * REST `offset` parameter is.
 */
export function offsetCursor(offset: number): string {
  return `o:${offset}`;
}

/** The offset a page after `cursor` starts at; a cursor that is not one of ours is a 422 naming `field`. */
export function offsetAfter(cursor: string, field: string): number {
  const offset = cursor.startsWith('o:') ? parseBoundedInt(cursor.slice(2), 0, INT32_MAX - 1) : null;
  if (offset === null) throw new ValidationError([{ field, message: 'must be a cursor from a previous page' }]);
  return offset + 1;
}
