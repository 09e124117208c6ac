/** SCIM's errors (RFC 7644 §3.12): an HTTP status and, where the RFC names one, a `scimType`. */
import SCIMMY from 'scimmy';

export const ScimError = SCIMMY.Types.Error;
export type ScimError = InstanceType<typeof ScimError>;

/** A SCIM error; `scimType` null where RFC 7644 has none for the case (401, 404, 500). */
export function scimError(status: number, scimType: string | null, message: string): ScimError {
  return new ScimError(status, scimType as string, message);
}
