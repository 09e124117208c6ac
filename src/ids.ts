/** Resource ids: a type prefix and a k-sortable UUIDv7, the same string in REST and GraphQL. */
import { randomFillSync } from 'node:crypto';
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

/**
 * Random bytes for ids, drawn 16 at a time from a 4 KiB buffer refilled in one call (a call per id
 * cost more than the rest of making it).
 */
const pool = new Uint8Array(4096);
let drawn = pool.length;

function randomBlock(): Uint8Array {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  drawn += 16;
  return pool.subarray(drawn - 16, drawn);
}

/**
 * The millisecond and counter of the last id: what `uuid` keeps when it draws its own bytes, which
 * it does not once given them. Within one millisecond the counter goes up by one, so ids made in a
 * row sort in the order they were made.
 */
const last = { msecs: -Infinity, seq: 0 };

/** A new id of the given kind, e.g. `task_01935f2e-…`. */
export function newId(kind: IdKind): string {
  const random = randomBlock();
  const now = Date.now();
  if (now > last.msecs) {
    last.msecs = now;
    last.seq = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9];
  } else {
    last.seq = (last.seq + 1) | 0;
    if (last.seq === 0) last.msecs++;
  }
  return `${idPrefixes[kind]}_${uuidv7({ msecs: last.msecs, seq: last.seq, random })}`;
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
