/**
 * Storage: the bytes an account keeps on the server, against its plan's storage limit (1 GB
 * free, 10 GB pro, 100 GB team, per account on enterprise). Counted: agent tasks (input and
 * result), project snapshots waiting for their index run, indexed project files, generations
 * (prompt, code, explanation, context) and visualization data (summary and commits). What a team
 * keeps counts against the member who created it. A write that would pass the limit is refused
 * with 402 `storage_limit_exceeded` before anything is stored.
 */
import { rawRows } from '../../db/client.js';
import { AppError } from '../../errors.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { limitsOf } from './plans.js';

/** Bytes an account stores, by kind. */
export interface StorageUse {
  agentTasks: number;
  snapshots: number;
  indexedFiles: number;
  generations: number;
  visualizations: number;
  total: number;
}

/** What `storageUse` sums ($1: the account), one subquery per kind. */
const STORAGE_USE = `
    SELECT
      (SELECT sum(octet_length(input::text) + coalesce(octet_length(result::text), 0) + octet_length(prompt)) FROM agent_tasks WHERE owner_id = $1) AS tasks,
      (SELECT sum(octet_length(s.files::text)) FROM project_snapshots s JOIN projects p ON p.id = s.project_id WHERE p.owner_id = $1) AS snapshots,
      (SELECT sum(f.size_bytes) FROM project_files f JOIN projects p ON p.id = f.project_id WHERE p.owner_id = $1) AS files,
      (SELECT sum(octet_length(prompt) + coalesce(octet_length(code), 0) + coalesce(octet_length(explanation), 0) + octet_length(context_files::text)) FROM generations WHERE owner_id = $1) AS generations,
      (SELECT sum(coalesce(octet_length(stats::text), 0) + coalesce(octet_length(nodes::text), 0) + coalesce(octet_length(edges::text), 0) + coalesce(octet_length(timeline::text), 0)) FROM visualizations WHERE owner_id = $1) AS visualizations,
      (SELECT sum(octet_length(c.sha) + octet_length(c.author) + octet_length(c.author_name) + octet_length(c.message)) FROM visualization_commits c JOIN visualizations v ON v.id = c.visualization_id WHERE v.owner_id = $1) AS commits`;

/**
 * What an account stores now (one query, straight on the pool where there is one: every task
 * submission asks). The sums come as numeric strings from pg, as bigints through Prisma.
 */
export async function storageUse(db: Parameters<typeof rawRows>[0], userId: string): Promise<StorageUse> {
  const [row] = await rawRows<Record<'tasks' | 'snapshots' | 'files' | 'generations' | 'visualizations' | 'commits', string | bigint | null>>(db, STORAGE_USE, [userId]);
  const n = (v: string | bigint | null | undefined) => Number(v ?? 0);
  const use = {
    agentTasks: n(row?.tasks),
    snapshots: n(row?.snapshots),
    indexedFiles: n(row?.files),
    generations: n(row?.generations),
    visualizations: n(row?.visualizations) + n(row?.commits),
  };
  return { ...use, total: use.agentTasks + use.snapshots + use.indexedFiles + use.generations + use.visualizations };
}

/** 402: the account's storage would pass its plan's limit. */
export class StorageLimitError extends AppError {
  constructor(what: string, info: { tier: string; usedBytes: number; limitBytes: number; requestBytes: number; upgradeUrl: string }) {
    const gb = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GB`;
    super(
      'storage_limit_exceeded',
      402,
      `Storage limit reached: ${what} needs ${info.requestBytes} bytes and the account stores ${gb(info.usedBytes)} of the ${gb(info.limitBytes)} its ${info.tier} plan allows. Delete projects, generations, visualizations or tasks you no longer need, or upgrade the plan.`,
      {
        limit: 'storage',
        current_tier: info.tier,
        storage_used_bytes: info.usedBytes,
        storage_limit_bytes: info.limitBytes,
        requested_bytes: info.requestBytes,
        upgrade_url: info.upgradeUrl,
      },
    );
  }
}

/**
 * Refuses (402 storage_limit_exceeded) when storing `bytes` more for the account would pass its
 * storage limit; `what` names the write in the message. Call it before writing anything.
 */
export async function requireStorage(deps: Pick<ServiceDeps, 'db' | 'config'>, account: { userId: string; tier: string }, bytes: number, what: string): Promise<void> {
  const [limits, use] = await Promise.all([limitsOf(deps.db, account.userId, account.tier), storageUse(deps.db, account.userId)]);
  if (use.total + bytes > limits.storageBytes) {
    throw new StorageLimitError(what, { tier: account.tier, usedBytes: use.total, limitBytes: limits.storageBytes, requestBytes: bytes, upgradeUrl: deps.config.UPGRADE_URL });
  }
}

/** The account a principal stores for (team resources count against the member who creates them). */
export const storageAccount = (principal: Principal) => ({ userId: principal.userId, tier: principal.tier });

/** UTF-8 bytes of a JSON value as PostgreSQL stores it (close enough for a limit). */
export const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null), 'utf8');
