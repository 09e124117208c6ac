/** Keyset pagination over k-sortable ids: newest first, `first` after a cursor or `last` before one. */
import { ValidationError } from '../errors.js';
import { idKind, type IdKind } from '../ids.js';

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

/** Checks page arguments against a resource's maximum page size. */
export function checkPageArgs(args: PageArgs, max: number, cursorKind: IdKind): void {
  const errors = [];
  for (const name of ['first', 'last'] as const) {
    const v = args[name];
    if (v != null && (!Number.isInteger(v) || v < 1 || v > max)) errors.push({ field: name, message: `must be between 1 and ${max}` });
  }
  for (const name of ['after', 'before'] as const) {
    const v = args[name];
    if (v != null && idKind(v) !== cursorKind) errors.push({ field: name, message: `must be a ${cursorKind} id from a previous page` });
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
