import { GraphQLError } from 'graphql';
import { builder } from '../builder.js';

builder.scalarType('DateTime', {
  description: 'An ISO 8601 timestamp in UTC, e.g. 2025-11-02T10:00:00.000Z.',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 timestamp.');
    return date;
  },
});
