import { describe, expect, it } from 'vitest';
import { AppError, AuthenticationError, PermissionDeniedError, ServiceUnavailableError } from '../../src/errors.js';
import { closeCodeOf, closeReasonOf, TooManyConnectionsError } from '../../src/services/auth/live-connections.js';

describe('closing a live connection', () => {
  it('maps 401, 403 and 429 to graphql-ws 4401, 4403, 4429 and anything else to 1013', () => {
    expect(closeCodeOf(new AuthenticationError())).toBe(4401);
    expect(closeCodeOf(new PermissionDeniedError('no'))).toBe(4403);
    expect(closeCodeOf(new TooManyConnectionsError('credential', 2))).toBe(4429);
    expect(closeCodeOf(new ServiceUnavailableError('down'))).toBe(1013);
  });

  it('cuts a reason to the 123 bytes a close frame carries, multi-byte characters included', () => {
    expect(closeReasonOf(new AuthenticationError('short'))).toBe('short');
    const long = closeReasonOf(new AppError('authentication_required', 401, 'é…'.repeat(100)));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(123);
    expect(long.endsWith('…')).toBe(true);
    expect(Buffer.from(long).toString()).toBe(long); // no broken character
  });
});
