/** Dates given as the bounds of a range: an ISO 8601 date alone, or a timestamp. */

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_OR_TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
const DAY_MS = 86_400_000;

/** Whether `text` is an ISO 8601 date (2025-11-01) or timestamp (2025-11-01T15:30:00Z) of a real instant. */
export function isDateOrDateTime(text: string): boolean {
  return DATE_OR_TIMESTAMP.test(text) && !Number.isNaN(new Date(text).getTime());
}

/** The lower bound `text` means: the timestamp, or the start (UTC) of a date alone. */
export function rangeStart(text: string): Date {
  return new Date(text);
}

/** The upper bound `text` means: the timestamp, or the end (UTC, last millisecond) of a date alone. */
export function rangeEnd(text: string): Date {
  const date = new Date(text);
  return DATE_ONLY.test(text) ? new Date(date.getTime() + DAY_MS - 1) : date;
}
