/**
 * Passwords: argon2id with OWASP's recommended cost (19 MiB, 2 passes, 1 lane). A sign-in for an
 * unknown account verifies against a dummy hash, so it costs the same time as a wrong password.
 */
import argon2 from 'argon2';
import { ValidationError } from '../../errors.js';

const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

/** Rejects passwords a caller should not be allowed to choose. */
export function checkPasswordPolicy(password: string, field = 'password'): void {
  if (password.length < PASSWORD_MIN_LENGTH) {
    throw new ValidationError([{ field, message: `must be at least ${PASSWORD_MIN_LENGTH} characters` }]);
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    throw new ValidationError([{ field, message: `must be at most ${PASSWORD_MAX_LENGTH} characters` }]);
  }
}

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

let dummyHash: Promise<string> | null = null;

/** Whether `password` matches `hash`; with no hash, spends the same time and answers false. */
export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  if (!hash) {
    dummyHash ??= hashPassword('dummy password that matches nothing');
    await argon2.verify(await dummyHash, password).catch(() => false);
    return false;
  }
  return argon2.verify(hash, password).catch(() => false);
}
