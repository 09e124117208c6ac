/**
 * What a publishable key may read. Publishable keys are meant to be embedded in client-side code,
 * so by default they read only generations and what they created themselves (generations and
 * reviews); their creator may choose more from READ_RESOURCES, which stays within read-only and
 * generation operations. Source (project search and project context), team members' e-mails,
 * keys, OAuth clients, webhooks, notifications and billing are never readable unless chosen.
 * Every other credential is unrestricted here (its scopes decide).
 */
import { PermissionDeniedError, ValidationError } from '../../errors.js';
import type { Principal } from '../deps.js';

export const READ_RESOURCES = [
  'generations',
  'reviews',
  'tasks',
  'orchestrations',
  'visualizations',
  'projects',
  'project_search',
  'teams',
  'team_members',
  'webhooks',
  'notifications',
  'billing',
  'api_keys',
  'oauth_clients',
] as const;
export type ReadResource = (typeof READ_RESOURCES)[number];
export const DEFAULT_READ_RESOURCES: readonly ReadResource[] = ['generations'];

/** Whether the caller may read resources of this kind (all of them, not only its own). */
export function mayRead(principal: Pick<Principal, 'readResources'> | null | undefined, resource: ReadResource): boolean {
  return !principal?.readResources || principal.readResources.includes(resource);
}

/** Whether the caller may read this object: any of the kind, or one it created itself. */
export function mayReadObject(principal: Pick<Principal, 'readResources' | 'credentialId'> | null | undefined, resource: ReadResource, createdByKeyId: string | null): boolean {
  return mayRead(principal, resource) || (!!principal && createdByKeyId === principal.credentialId);
}

/** The filter of a list: nothing, or only what the key created when it may not read the kind. */
export function readableFilter(principal: Principal, resource: ReadResource): { createdByKeyId?: string } {
  return mayRead(principal, resource) ? {} : { createdByKeyId: principal.credentialId };
}

/** 403 unless the caller may read this kind of resource. */
export function requireRead(principal: Principal, resource: ReadResource, what: string): void {
  if (!mayRead(principal, resource)) {
    throw new PermissionDeniedError(`This publishable key may not read ${what}; its creator can allow it with read_resources including ${resource}.`);
  }
}

/** The read resources of a new key: publishable keys only, each a known name; default generations. */
export function checkReadResources(kind: 'secret' | 'publishable', given: readonly string[] | null | undefined): ReadResource[] {
  if (kind === 'secret') {
    if (given?.length) throw new ValidationError([{ field: 'read_resources', message: 'applies to publishable keys only: a secret key reads everything' }]);
    return [];
  }
  if (given == null) return [...DEFAULT_READ_RESOURCES];
  const unknown = given.filter((r) => !(READ_RESOURCES as readonly string[]).includes(r));
  if (unknown.length) {
    throw new ValidationError([{ field: 'read_resources', message: `unknown ${unknown.map((u) => JSON.stringify(u)).join(', ')}: must be among ${READ_RESOURCES.join(', ')}` }]);
  }
  return [...new Set(given)] as ReadResource[];
}
