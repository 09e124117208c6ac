/**
 * Where limit counters live. `MemoryLimitStore` (default) serves one gateway process;
 * `RedisLimitStore` (REDIS_URL, ioredis) lets every gateway replica share one budget per key.
 * Both are exact: each operation is atomic (one event-loop turn in memory, one Lua script in
 * Redis), so 100 parallel requests against a budget of 50 admit exactly 50.
 *
 * Windows roll: a hit is a timestamped entry that leaves the window `windowMs` after it was made
 * (a sliding log, not a counter reset at the top of the hour). Library limiters (e.g.
 * rate-limiter-flexible) count fixed windows or approximate sliding ones, hence this log.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export interface WindowSpec {
  name: 'minute' | 'hour';
  limit: number;
  windowMs: number;
}

export interface WindowState {
  name: 'minute' | 'hour';
  limit: number;
  used: number;
  /** When the next unit of budget frees up (ms since epoch); for a blocked window, when `cost` fits again. */
  resetAt: number;
}

export interface HitResult {
  allowed: boolean;
  windows: WindowState[];
  blocked: WindowState | null;
}

export interface LimitStore {
  /** Records `cost` in every window of `key` if all have room; otherwise records nothing. */
  hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult>;
  /** Counts one more request in flight for `key` if fewer than `limit` are; false when full. */
  acquire(key: string, limit: number): Promise<boolean>;
  release(key: string): Promise<void>;
  /**
   * Adds `cost` to a counter unless that would pass `limit`. A counter seen for the first time
   * starts from `initial()` (e.g. what the database says was used this month).
   */
  addIfBelow(key: string, cost: number, limit: number, ttlMs: number, initial: () => Promise<number>): Promise<{ allowed: boolean; used: number }>;
  /** Takes back `cost` from a counter of addIfBelow (a request refused after all). */
  refund(key: string, cost: number): Promise<void>;
  close(): Promise<void>;
}

interface Log {
  entries: Array<{ at: number; cost: number }>;
  total: number;
}

function prune(log: Log, now: number, windowMs: number) {
  while (log.entries.length && log.entries[0]!.at <= now - windowMs) log.total -= log.entries.shift()!.cost;
}

/** When `cost` fits in the window again: the time the oldest entries that must leave have left. */
function fitsAgainAt(entries: Array<{ at: number; cost: number }>, total: number, limit: number, cost: number, windowMs: number, now: number): number {
  let remaining = total;
  for (const e of entries) {
    remaining -= e.cost;
    if (remaining + cost <= limit) return e.at + windowMs;
  }
  return now + windowMs;
}

export class MemoryLimitStore implements LimitStore {
  private readonly logs = new Map<string, Log>();
  private readonly inFlight = new Map<string, number>();
  private readonly counters = new Map<string, { value: number; expires: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    // Forget keys that have gone quiet, so memory follows the active keys, not every key ever seen.
    this.sweeper = setInterval(() => this.sweep(), 60_000).unref();
  }

  private sweep() {
    const now = Date.now();
    for (const [key, log] of this.logs) if (!log.entries.length || log.entries.at(-1)!.at < now - 3_600_000) this.logs.delete(key);
    for (const [key, c] of this.counters) if (c.expires < now) this.counters.delete(key);
  }

  async hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult> {
    const logs = windows.map((w) => {
      const id = `${key}:${w.name}`;
      let log = this.logs.get(id);
      if (!log) this.logs.set(id, (log = { entries: [], total: 0 }));
      prune(log, now, w.windowMs);
      return log;
    });
    const blockedAt = windows.findIndex((w, i) => logs[i]!.total + cost > w.limit);
    if (blockedAt < 0 && cost > 0) {
      for (const log of logs) {
        log.entries.push({ at: now, cost });
        log.total += cost;
      }
    }
    const states = windows.map((w, i) => {
      const log = logs[i]!;
      const resetAt = i === blockedAt ? fitsAgainAt(log.entries, log.total, w.limit, cost, w.windowMs, now) : (log.entries[0]?.at ?? now) + w.windowMs;
      return { name: w.name, limit: w.limit, used: log.total, resetAt };
    });
    return { allowed: blockedAt < 0, windows: states, blocked: blockedAt < 0 ? null : states[blockedAt]! };
  }

  async acquire(key: string, limit: number): Promise<boolean> {
    const n = this.inFlight.get(key) ?? 0;
    if (n >= limit) return false;
    this.inFlight.set(key, n + 1);
    return true;
  }

  async release(key: string): Promise<void> {
    const n = (this.inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, n);
  }

  async addIfBelow(key: string, cost: number, limit: number, ttlMs: number, initial: () => Promise<number>) {
    let counter = this.counters.get(key);
    if (!counter || counter.expires < Date.now()) {
      const start = await initial();
      counter = this.counters.get(key) ?? { value: start, expires: Date.now() + ttlMs }; // another request may have set it meanwhile
      this.counters.set(key, counter);
    }
    if (counter.value + cost > limit) return { allowed: false, used: counter.value };
    counter.value += cost;
    return { allowed: true, used: counter.value };
  }

  async refund(key: string, cost: number): Promise<void> {
    const counter = this.counters.get(key);
    if (counter) counter.value = Math.max(0, counter.value - cost);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

// KEYS: per window a sorted set of "id:cost" scored by time, and its running total.
// ARGV: now, cost, id, then per window: limit, windowMs.
// Returns: blocked window index (0 = none), then per window: used, resetAt.
const HIT = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local id = ARGV[3]
local n = #KEYS / 2
local used = {}
local blocked = 0
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, win = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local total = tonumber(redis.call('GET', t) or '0')
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now - win)
  if #expired > 0 then
    for _, m in ipairs(expired) do total = total - tonumber(string.match(m, ':(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now - win)
    redis.call('SET', t, total, 'PX', win)
  end
  used[i] = total
  if blocked == 0 and total + cost > limit then blocked = i end
end
local out = { blocked }
for i = 1, n do
  local z, t = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, win = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if blocked == 0 and cost > 0 then
    redis.call('ZADD', z, now, id .. ':' .. cost)
    used[i] = redis.call('INCRBY', t, cost)
    redis.call('PEXPIRE', z, win)
    redis.call('PEXPIRE', t, win)
  end
  local reset = now + win
  if i == blocked then
    local remaining = used[i]
    for _, m in ipairs(redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')) do
      if _ % 2 == 1 then
        remaining = remaining - tonumber(string.match(m, ':(%d+)$'))
      elseif remaining + cost <= limit then
        reset = tonumber(m) + win
        break
      end
    end
  else
    local oldest = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
    if oldest[2] then reset = tonumber(oldest[2]) + win end
  end
  out[#out + 1] = used[i]
  out[#out + 1] = reset
end
return out`;

const ACQUIRE = `
local c = redis.call('INCR', KEYS[1])
if c > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// Returns -1 when the counter does not exist yet and no initial value was given.
const ADD_IF_BELOW = `
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[4] == '' then return {-1, 0} end
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3], 'NX')
  v = redis.call('GET', KEYS[1])
end
v = tonumber(v)
if v + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {0, v} end
return {1, redis.call('INCRBY', KEYS[1], ARGV[1])}`;

/** An in-flight count outlives a crashed gateway by at most this long. */
const IN_FLIGHT_TTL_MS = 5 * 60_000;

export class RedisLimitStore implements LimitStore {
  private constructor(private readonly redis: Redis) {}

  static async connect(url: string): Promise<RedisLimitStore> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
    await redis.connect();
    redis.defineCommand('codexHit', { lua: HIT });
    redis.defineCommand('codexAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    redis.defineCommand('codexAddIfBelow', { numberOfKeys: 1, lua: ADD_IF_BELOW });
    return new RedisLimitStore(redis);
  }

  private call(name: string, ...args: Array<string | number>): Promise<any> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<any>>)[name]!(...args);
  }

  async hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult> {
    // One hash tag per key: every key of a script is on the same Redis Cluster slot.
    const keys = windows.flatMap((w) => [`codex:rl:{${key}}:${w.name}:z`, `codex:rl:{${key}}:${w.name}:n`]);
    const argv = [now, cost, randomUUID(), ...windows.flatMap((w) => [w.limit, w.windowMs])];
    const out: number[] = (await this.call('codexHit', keys.length, ...keys, ...argv)).map(Number);
    const states = windows.map((w, i) => ({ name: w.name, limit: w.limit, used: out[1 + 2 * i]!, resetAt: out[2 + 2 * i]! }));
    const blocked = out[0]! > 0 ? states[out[0]! - 1]! : null;
    return { allowed: !blocked, windows: states, blocked };
  }

  async acquire(key: string, limit: number): Promise<boolean> {
    return Number(await this.call('codexAcquire', `codex:cc:{${key}}`, limit, IN_FLIGHT_TTL_MS)) === 1;
  }

  async release(key: string): Promise<void> {
    await this.redis.decr(`codex:cc:{${key}}`);
  }

  async addIfBelow(key: string, cost: number, limit: number, ttlMs: number, initial: () => Promise<number>) {
    const redisKey = `codex:ct:{${key}}`;
    let [allowed, used] = ((await this.call('codexAddIfBelow', redisKey, cost, limit, ttlMs, '')) as number[]).map(Number) as [number, number];
    if (allowed === -1) {
      [allowed, used] = ((await this.call('codexAddIfBelow', redisKey, cost, limit, ttlMs, await initial())) as number[]).map(Number) as [number, number];
    }
    return { allowed: allowed === 1, used };
  }

  async refund(key: string, cost: number): Promise<void> {
    await this.redis.decrby(`codex:ct:{${key}}`, cost);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
