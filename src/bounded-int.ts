/**
 * Whole numbers that callers send: each has a range its storage holds (a PostgreSQL `integer`
 * column and GraphQL's `Int` are 32-bit), or a narrower one its rule allows. The zod schemas
 * here give every way of missing the range (a fraction, a string, a number too big for either)
 * one message that says the range, and show `minimum`/`maximum` in the OpenAPI document.
 */
import { z } from 'zod';

/** The largest value of a PostgreSQL `integer` column and of GraphQL's `Int`. */
export const INT32_MAX = 2_147_483_647;
/** The smallest value of GraphQL's `Int`. */
export const INT32_MIN = -2_147_483_648;

/** What a caller reads when a whole number is out of its range. */
export function wholeNumberMessage(min: number, max: number): string {
  return `must be a whole number from ${min} to ${max}`;
}

/** A JSON whole number from `min` to `max`. */
export function boundedInt(min: number, max: number) {
  const message = wholeNumberMessage(min, max);
  // abort: a fraction or a number past 2^53 is one problem, not three.
  return z.number({ message }).int({ message, abort: true }).min(min, message).max(max, message);
}

/**
 * A whole number in a REST body whose rule (`min` to `max`) its service checks, with the other
 * fields, so that one answer names every invalid field. This schema refuses only what could not
 * reach the service (not a whole number, or more than a 32-bit Int holds), in the rule's words,
 * and shows the rule's range in the OpenAPI document.
 */
export function intForService(min: number, max: number) {
  const message = wholeNumberMessage(min, max);
  return z.number({ message }).int({ message, abort: true }).min(INT32_MIN, message).max(INT32_MAX, message).meta({ minimum: min, maximum: max });
}

/** A query-string parameter read as a whole number from `min` to `max` (`?limit=20`). */
export function boundedIntParam(min: number, max: number) {
  const message = wholeNumberMessage(min, max);
  return z.coerce.number({ message }).int({ message, abort: true }).min(min, message).max(max, message);
}

/**
 * A whole number written as decimal digits (a header, a cursor, a WebSocket query parameter),
 * or null when it is anything else or outside `min`..`max`. Longer strings than INT32_MAX has
 * digits are refused before they are read, so no precision is lost on the way.
 */
export function parseBoundedInt(text: string, min: number, max: number): number | null {
  if (!/^-?\d{1,10}$/.test(text)) return null;
  const value = Number(text);
  return value >= min && value <= max ? value : null;
}
