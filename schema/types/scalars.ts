import { GraphQLError } from 'graphql';
import { isDateOrDateTime } from '../../src/services/dates.js';
import { builder } from '../builder.js';

builder.scalarType('DateTime', {
  description: 'An ISO 8601 timestamp in UTC, e.g. 2025-11-02T10:00:00.000Z.',
  serialize: (value) => (value).toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 timestamp.');
    return date;
  },
});

builder.scalarType('DateOrDateTime', {
  description: 'An ISO 8601 date (2025-11-01) or timestamp (2025-11-01T15:30:00Z); where it bounds a range, a date alone means the whole of that day.',
  serialize: (value) => String(value),
  parseValue: (value) => {
    const text = String(value);
    if (!isDateOrDateTime(text)) throw new GraphQLError('DateOrDateTime must be an ISO 8601 date or timestamp, e.g. 2025-11-01 or 2025-11-01T15:30:00Z.');
    return text;
  },
});
