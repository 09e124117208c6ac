/** Resource ids: a type prefix and a k-sortable UUIDv7, the same string in REST and GraphQL. */
import { v7 as uuidv7 } from 'uuid';

export const idPrefixes = {
  task: 'task',
  orchestration: 'orch',
  visualization: 'viz',
  comment: 'cmt',
  share: 'shr',
  generation: 'gen',
  review: 'rev',
  project: 'prj',
  webhook: 'whk',
  apiKey: 'key',
  team: 'team',
  user: 'user',
  request: 'req',
  session: 'ses',
  refreshToken: 'rtk',
  oauthClient: 'oac',
  subscription: 'sub',
  charge: 'chg',
  indexRun: 'idx',
  webhookEvent: 'evt',
  webhookDelivery: 'whd',
  notification: 'ntf',
  invitation: 'inv',
  scimToken: 'sct',
  scimUser: 'scu',
  scimGroup: 'scg',
  bulkOperation: 'bop',
} as const;

export type IdKind = keyof typeof idPrefixes;

/** A new id of the given kind, e.g. `task_01935f2e-…`. */
export function newId(kind: IdKind): string {
  return `${idPrefixes[kind]}_${uuidv7()}`;
}

const kindByPrefix = new Map<string, IdKind>(Object.entries(idPrefixes).map(([kind, prefix]) => [prefix, kind as IdKind]));

/** The kind of an id from its prefix, or null when it is not one of ours. */
export function idKind(id: string): IdKind | null {
  const match = /^([a-z]+)_[0-9a-f-]{36}$/.exec(id);
  return match ? (kindByPrefix.get(match[1]) ?? null) : null;
}

/** When an id was made (the millisecond timestamp of its UUIDv7), or null when it is not one of ours. */
export function idTime(id: string): Date | null {
  const match = /^[a-z]+_([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-/.exec(id);
  return match ? new Date(parseInt(`${match[1]}${match[2]}`, 16)) : null;
}
