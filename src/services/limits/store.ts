/**
 * Where limit counters live. `MemoryLimitStore` (default) serves one gateway process;
 * `RedisLimitStore` (REDIS_URL, ioredis) lets every gateway replica share one budget per key.
 * Both are exact: each operation is atomic (one event-loop turn in memory, one Lua script in
 * Redis), so 100 parallel requests against a budget of 50 admit exactly 50.
 *
 * Windows roll: a hit is a timestamped entry that leaves the window `windowMs` after it was made
 * (a sliding log, not a counter reset at the top of the hour). Library limiters (e.g.
 * rate-limiter-flexible) count fixed windows or approximate sliding ones, hence this log. In
 * memory an entry is 16 bytes in a typed array per window and key, one per millisecond that had
 * requests (`SlidingLog`); in Redis, a sorted-set member per request.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../../errors.js';
import type { Logger } from '../../logger.js';

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

/** One admission: a concurrency slot, the monthly counter and the rolling windows, checked together. */
export interface AdmitRequest {
  /** The credential: its windows and its in-flight count. */
  rateKey: string;
  concurrent: number;
  monthKey: string;
  monthLimit: number;
  /** How long the monthly counter lives (past the period end). */
  monthTtlMs: number;
  /** What the account used this period before this counter existed (the usage ledger). */
  monthInitial: () => Promise<number>;
  windows: WindowSpec[];
  /** Credits for the monthly counter. */
  cost: number;
  /** What the windows count (default `cost`): free reads still take room in them. */
  windowCost?: number;
  now: number;
}

/** The counters of one credential and its account at a moment: the monthly credits, the requests in flight, the windows. */
export interface LimitSnapshot {
  monthUsed: number;
  inFlight: number;
  windows: WindowState[];
}

/**
 * What an admission decided, with the counters it saw (after recording, when admitted): a refusal
 * reports them too, so its answer can say where every limit stands. `entryId` names what an
 * admitted request recorded in the windows, for `refund`.
 */
export interface AdmitResult extends LimitSnapshot {
  outcome: 'admitted' | 'concurrency' | 'quota' | 'rate';
  rate: HitResult;
  entryId?: string;
}

export interface LimitStore {
  /**
   * Admits `cost` if a concurrency slot is free, the monthly counter has room and every window
   * has room; then takes the slot and records the cost in the counter and the windows. A refusal
   * records nothing. Atomic: exact under any concurrency.
   */
  admit(request: AdmitRequest): Promise<AdmitResult>;
  /** The counters `request` would be admitted against, recording nothing. */
  peek(request: AdmitRequest): Promise<LimitSnapshot>;
  /**
   * Takes back what the admission `entryId` of `request` recorded (its monthly credits and its
   * entries in the windows, where they have not left yet): a request refused before it did any
   * work. Returns the counters after.
   */
  refund(request: AdmitRequest, entryId: string): Promise<LimitSnapshot>;
  /** Gives back an admitted request's concurrency slot (`rateKey` of its admission). */
  release(rateKey: string): Promise<void>;
  /** The rolling windows alone: records `cost` in every window of `key` if all have room. */
  hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult>;
  close(): Promise<void>;
}

/**
 * One window's entries of one key, oldest first: times and costs in a growable ring of typed arrays
 * (no object per request, nothing for the garbage collector to trace), the entries of one
 * millisecond summed into one. Memory follows the distinct milliseconds in the window, not the
 * requests: an hour's window of a busy key held an object and an id per request for the whole hour.
 * Entries of the same millisecond are interchangeable, so summing them changes no answer.
 */
class SlidingLog {
  private at = new Float64Array(16);
  private cost = new Float64Array(16);
  /** Where the oldest entry is. */
  private head = 0;
  size = 0;
  total = 0;

  private slot(i: number): number {
    return (this.head + i) & (this.at.length - 1); // the capacity is a power of two
  }

  get oldestAt(): number | undefined {
    return this.size ? this.at[this.head] : undefined;
  }

  get newestAt(): number | undefined {
    return this.size ? this.at[this.slot(this.size - 1)] : undefined;
  }

  push(at: number, cost: number): void {
    this.total += cost;
    if (this.size && this.newestAt === at) {
      this.cost[this.slot(this.size - 1)] += cost;
      return;
    }
    if (this.size === this.at.length) this.resize(this.at.length * 2);
    const i = this.slot(this.size++);
    this.at[i] = at;
    this.cost[i] = cost;
  }

  /** Drops what left the window by `now` (and spent entries at its head). */
  prune(now: number, windowMs: number): void {
    while (this.size && (this.at[this.head] <= now - windowMs || this.cost[this.head] === 0)) {
      this.total -= this.cost[this.head];
      this.head = this.slot(1);
      this.size--;
    }
    if (this.at.length > 1024 && this.size * 4 < this.at.length) this.resize(this.at.length / 2);
  }

  /** Takes `cost` back from the entry made at `at` (the newest such first); false if there is none. */
  remove(at: number, cost: number): boolean {
    for (let n = this.size - 1; n >= 0; n--) {
      const i = this.slot(n);
      if (this.at[i] < at) break;
      if (this.at[i] === at && this.cost[i] >= cost) {
        this.cost[i] -= cost;
        this.total -= cost;
        return true;
      }
    }
    return false;
  }

  /** When `cost` fits under `limit` again: the time the oldest entries that must leave have left. */
  fitsAgainAt(limit: number, cost: number, windowMs: number, now: number): number {
    let remaining = this.total;
    for (let n = 0; n < this.size; n++) {
      const i = this.slot(n);
      remaining -= this.cost[i];
      if (remaining + cost <= limit) return this.at[i] + windowMs;
    }
    return now + windowMs;
  }

  private resize(capacity: number): void {
    const at = new Float64Array(capacity);
    const cost = new Float64Array(capacity);
    for (let n = 0; n < this.size; n++) {
      at[n] = this.at[this.slot(n)];
      cost[n] = this.cost[this.slot(n)];
    }
    this.at = at;
    this.cost = cost;
    this.head = 0;
  }
}

/** The prefix of the entry ids of the memory store (the rest is the admission's time). */
const MEMORY_ENTRY = 'mem:';

export class MemoryLimitStore implements LimitStore {
  private readonly logs = new Map<string, SlidingLog>();
  private readonly inFlight = new Map<string, number>();
  private readonly counters = new Map<string, { value: number; expires: number }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    // Forget keys that have gone quiet, so memory follows the active keys, not every key ever seen.
    this.sweeper = setInterval(() => this.sweep(), 60_000).unref();
  }

  private sweep() {
    const now = Date.now();
    for (const [key, log] of this.logs) if (!log.size || log.newestAt! < now - 3_600_000) this.logs.delete(key);
    for (const [key, c] of this.counters) if (c.expires < now) this.counters.delete(key);
  }

  async hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult> {
    return this.hitNow(key, windows, cost, now);
  }

  private hitNow(key: string, windows: WindowSpec[], cost: number, now: number): HitResult {
    const logs = windows.map((w) => {
      const name = `${key}:${w.name}`;
      let log = this.logs.get(name);
      if (!log) this.logs.set(name, (log = new SlidingLog()));
      log.prune(now, w.windowMs);
      return log;
    });
    const blockedAt = cost > 0 ? windows.findIndex((w, i) => logs[i].total + cost > w.limit) : -1;
    if (blockedAt < 0 && cost > 0) {
      for (const log of logs) log.push(now, cost);
    }
    const states = windows.map((w, i) => {
      const log = logs[i];
      const resetAt = i === blockedAt ? log.fitsAgainAt(w.limit, cost, w.windowMs, now) : (log.oldestAt ?? now) + w.windowMs;
      return { name: w.name, limit: w.limit, used: log.total, resetAt };
    });
    return { allowed: blockedAt < 0, windows: states, blocked: blockedAt < 0 ? null : states[blockedAt] };
  }

  private async monthCounter(r: AdmitRequest) {
    let counter = this.counters.get(r.monthKey);
    if (!counter || counter.expires < r.now) {
      const start = await r.monthInitial();
      // Another request may have set it while we read the ledger.
      counter = this.counters.get(r.monthKey);
      if (!counter || counter.expires < r.now) this.counters.set(r.monthKey, (counter = { value: start, expires: r.now + r.monthTtlMs }));
    }
    return counter;
  }

  async admit(r: AdmitRequest): Promise<AdmitResult> {
    const counter = await this.monthCounter(r);
    // From here on nothing awaits: the checks and the writes happen in one turn of the event loop.
    const inFlight = this.inFlight.get(r.rateKey) ?? 0;
    const refused = (outcome: AdmitResult['outcome'], rate = this.hitNow(r.rateKey, r.windows, 0, r.now)): AdmitResult => ({ outcome, monthUsed: counter.value, inFlight, rate, windows: rate.windows });
    if (inFlight >= r.concurrent) return refused('concurrency');
    if (counter.value + r.cost > r.monthLimit) return refused('quota');
    const rate = this.hitNow(r.rateKey, r.windows, r.windowCost ?? r.cost, r.now);
    if (!rate.allowed) return refused('rate', rate);
    // What the windows recorded, by its time (entries of one millisecond are interchangeable).
    const entryId = `${MEMORY_ENTRY}${r.now}`;
    this.inFlight.set(r.rateKey, inFlight + 1);
    counter.value += r.cost;
    return { outcome: 'admitted', monthUsed: counter.value, inFlight: inFlight + 1, rate, windows: rate.windows, entryId };
  }

  async peek(r: AdmitRequest): Promise<LimitSnapshot> {
    const counter = await this.monthCounter(r);
    return { monthUsed: counter.value, inFlight: this.inFlight.get(r.rateKey) ?? 0, windows: this.hitNow(r.rateKey, r.windows, 0, r.now).windows };
  }

  async refund(r: AdmitRequest, entryId: string): Promise<LimitSnapshot> {
    // Not one of ours (Redis admitted it before a fallback to memory): nothing to take back here.
    const at = entryId.startsWith(MEMORY_ENTRY) ? Number(entryId.slice(MEMORY_ENTRY.length)) : NaN;
    for (const w of Number.isNaN(at) ? [] : r.windows) {
      const log = this.logs.get(`${r.rateKey}:${w.name}`);
      if (log?.remove(at, r.windowCost ?? r.cost)) log.prune(r.now, w.windowMs);
    }
    const counter = this.counters.get(r.monthKey);
    if (counter) counter.value = Math.max(0, counter.value - r.cost);
    return this.peek(r);
  }

  async release(key: string): Promise<void> {
    const n = (this.inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(key);
    else this.inFlight.set(key, n);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

// The rolling-window part shared by both scripts. Window i uses KEYS[base + 2i - 1] (sorted set
// of "id:cost" scored by time) and KEYS[base + 2i] (its running total); ARGV[argBase + 2i - 1] is
// its limit and ARGV[argBase + 2i] its length. check() prunes and finds the first window without
// room; record() adds the cost; states() returns per window: used, resetAt.
const WINDOWS = `
local function window(i) return KEYS[base + 2 * i - 1], KEYS[base + 2 * i], tonumber(ARGV[argBase + 2 * i - 1]), tonumber(ARGV[argBase + 2 * i]) end
local function check(n, now, cost)
  local used, blocked = {}, 0
  for i = 1, n do
    local z, t, limit, win = window(i)
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
  return used, blocked
end
local function record(n, now, cost, id, used)
  if cost <= 0 then return end
  for i = 1, n do
    local z, t, limit, win = window(i)
    redis.call('ZADD', z, now, id .. ':' .. cost)
    used[i] = redis.call('INCRBY', t, cost)
    redis.call('PEXPIRE', z, win)
    redis.call('PEXPIRE', t, win)
  end
end
local function states(n, now, cost, used, blocked, out)
  for i = 1, n do
    local z, t, limit, win = window(i)
    local reset = now + win
    if i == blocked then
      local remaining = used[i]
      for k, m in ipairs(redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')) do
        if k % 2 == 1 then
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
  return out
end
`;

// KEYS: the windows' keys. ARGV: now, cost, id, then per window: limit, length.
// Returns: blocked window index (0 = none), then per window: used, resetAt.
const HIT = `
local base, argBase = 0, 3
${WINDOWS}
local now, cost, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local n = #KEYS / 2
local used, blocked = check(n, now, cost)
if blocked == 0 then record(n, now, cost, id, used) end
return states(n, now, cost, used, blocked, { blocked })`;

// KEYS: in-flight counter, monthly counter, then the windows' keys.
// ARGV: now, cost (monthly credits), id, concurrent, inFlightTtl, monthLimit, monthTtl, monthInitial ('' = unknown),
// window cost, mode (admit, peek: record nothing, refund: take back what the admission `id` recorded), then per window: limit, length.
// Returns: outcome (0 peeked or refunded, 1 admitted, 2 concurrency, 3 quota, 4 rate, -1 monthly counter unknown),
// month used, blocked window, in flight, then per window: used, resetAt.
const ADMIT = `
local base, argBase = 2, 10
${WINDOWS}
local now, cost, id, windowCost, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[9]), ARGV[10]
local n = (#KEYS - 2) / 2
local month = redis.call('GET', KEYS[2])
if not month then
  if ARGV[8] == '' then return { -1, 0, 0, 0 } end
  redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[7])
  month = ARGV[8]
end
month = tonumber(month)
if mode == 'refund' then
  for i = 1, n do
    local z, t = window(i)
    if redis.call('ZREM', z, id .. ':' .. windowCost) == 1 and tonumber(redis.call('GET', t) or '0') >= windowCost then redis.call('DECRBY', t, windowCost) end
  end
  if cost > 0 and month >= cost then month = redis.call('DECRBY', KEYS[2], cost) end
end
local inFlight = tonumber(redis.call('GET', KEYS[1]) or '0')
local used, blocked = check(n, now, windowCost)
if mode ~= 'admit' then return states(n, now, windowCost, used, 0, { 0, month, 0, inFlight }) end
if inFlight >= tonumber(ARGV[4]) then return states(n, now, windowCost, used, 0, { 2, month, 0, inFlight }) end
if month + cost > tonumber(ARGV[6]) then return states(n, now, windowCost, used, 0, { 3, month, 0, inFlight }) end
if blocked > 0 then return states(n, now, windowCost, used, blocked, { 4, month, blocked, inFlight }) end
record(n, now, windowCost, id, used)
inFlight = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
month = redis.call('INCRBY', KEYS[2], cost)
return states(n, now, windowCost, used, 0, { 1, month, 0, inFlight })`;

/** An in-flight count outlives a crashed gateway by at most this long. */
const IN_FLIGHT_TTL_MS = 5 * 60_000;

export class RedisLimitStore implements LimitStore {
  private constructor(private readonly redis: Redis) {}

  static async connect(url: string): Promise<RedisLimitStore> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
    await redis.connect();
    redis.defineCommand('codexHit', { lua: HIT });
    redis.defineCommand('codexAdmit', { lua: ADMIT });
    return new RedisLimitStore(redis);
  }

  private call(name: string, ...args: Array<string | number>): Promise<unknown[]> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown[]>>)[name](...args);
  }

  // A script touches a credential's keys and its account's counter together: one Redis server
  // (or primary), not a sharded cluster.
  private windowKeys(key: string, windows: WindowSpec[]) {
    return windows.flatMap((w) => [`codex:rl:${key}:${w.name}:z`, `codex:rl:${key}:${w.name}:n`]);
  }

  private hitResult(windows: WindowSpec[], out: number[], blockedIndex: number, offset: number): HitResult {
    const states = windows.map((w, i) => ({ name: w.name, limit: w.limit, used: out[offset + 2 * i], resetAt: out[offset + 1 + 2 * i] }));
    const blocked = blockedIndex > 0 ? states[blockedIndex - 1] : null;
    return { allowed: !blocked, windows: states, blocked };
  }

  async hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult> {
    const keys = this.windowKeys(key, windows);
    const out = (await this.call('codexHit', keys.length, ...keys, now, cost, randomUUID(), ...windows.flatMap((w) => [w.limit, w.windowMs]))).map(Number);
    return this.hitResult(windows, out, out[0], 1);
  }

  /** Runs the admission script in `mode`; the ledger is read only when the monthly counter does not exist yet. */
  private async run(r: AdmitRequest, mode: 'admit' | 'peek' | 'refund', id: string): Promise<number[]> {
    const keys = [`codex:cc:${r.rateKey}`, `codex:ct:${r.monthKey}`, ...this.windowKeys(r.rateKey, r.windows)];
    const run = async (initial: string) =>
      (
        await this.call('codexAdmit', keys.length, ...keys, r.now, r.cost, id, r.concurrent, IN_FLIGHT_TTL_MS, r.monthLimit, r.monthTtlMs, initial, r.windowCost ?? r.cost, mode, ...r.windows.flatMap((w) => [w.limit, w.windowMs]))
      ).map(Number);
    const out = await run('');
    return out[0] === -1 ? run(String(await r.monthInitial())) : out;
  }

  async admit(r: AdmitRequest): Promise<AdmitResult> {
    const entryId = randomUUID();
    const out = await this.run(r, 'admit', entryId);
    const outcome = (['admitted', 'concurrency', 'quota', 'rate'] as const)[out[0] - 1];
    const rate = this.hitResult(r.windows, out, out[2], 4);
    return { outcome, monthUsed: out[1], inFlight: out[3], rate, windows: rate.windows, ...(outcome === 'admitted' ? { entryId } : {}) };
  }

  async peek(r: AdmitRequest): Promise<LimitSnapshot> {
    return this.snapshot(r, await this.run(r, 'peek', ''));
  }

  async refund(r: AdmitRequest, entryId: string): Promise<LimitSnapshot> {
    return this.snapshot(r, await this.run(r, 'refund', entryId));
  }

  private snapshot(r: AdmitRequest, out: number[]): LimitSnapshot {
    return { monthUsed: out[1], inFlight: out[3], windows: this.hitResult(r.windows, out, 0, 4).windows };
  }

  async release(rateKey: string): Promise<void> {
    await this.redis.decr(`codex:cc:${rateKey}`);
  }

  /** Whether Redis answers a PING within `timeoutMs`. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return (await Promise.race([this.redis.ping(), new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs)))])) === 'PONG';
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Called with each connection error of the client (ioredis reconnects by itself). */
  onError(listener: (err: Error) => void) {
    this.redis.on('error', listener);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * Shared counters in Redis, with a decision for when Redis cannot be reached (LIMITS_ON_REDIS_FAILURE):
 * `open` keeps serving with this process's own in-memory limits (each replica then enforces the
 * plan on its own share of traffic) until Redis answers again; `closed` refuses with 503, so no
 * request goes unmetered. Slots taken in memory are given back in memory.
 */
export class ResilientLimitStore implements LimitStore {
  private readonly memory = new MemoryLimitStore();
  /** Concurrency slots held in memory per credential (admitted while Redis was down). */
  private readonly heldInMemory = new Map<string, number>();
  private redisUp = true;
  private lastErrorLog = 0;

  constructor(
    private readonly redis: RedisLimitStore,
    private readonly mode: 'open' | 'closed',
    private readonly logger: Logger,
  ) {
    redis.onError((err) => this.down(err));
  }

  /** Whether Redis answered the last call (health reports it with the mode). */
  get redisReachable(): boolean {
    return this.redisUp;
  }

  get failureMode(): 'open' | 'closed' {
    return this.mode;
  }

  ping(): Promise<boolean> {
    return this.redis.ping();
  }

  private down(err: unknown) {
    if (this.redisUp || Date.now() - this.lastErrorLog > 30_000) {
      this.lastErrorLog = Date.now();
      this.logger.warn({ err: { message: (err as Error).message }, mode: this.mode }, this.mode === 'open' ? 'Redis unreachable: limits fall back to this process\'s memory' : 'Redis unreachable: limited requests answer 503');
    }
    this.redisUp = false;
  }

  private async either<T>(viaRedis: () => Promise<T>, viaMemory: () => Promise<T>): Promise<{ value: T; inMemory: boolean }> {
    try {
      const value = await viaRedis();
      if (!this.redisUp) this.logger.info('Redis reachable again: limits are shared again');
      this.redisUp = true;
      return { value, inMemory: false };
    } catch (err) {
      this.down(err);
      if (this.mode === 'closed') throw new ServiceUnavailableError('Rate limits cannot be checked right now (their store is unreachable). Retry shortly.');
      return { value: await viaMemory(), inMemory: true };
    }
  }

  async admit(request: AdmitRequest): Promise<AdmitResult> {
    const { value, inMemory } = await this.either(() => this.redis.admit(request), () => this.memory.admit(request));
    if (inMemory && value.outcome === 'admitted') this.heldInMemory.set(request.rateKey, (this.heldInMemory.get(request.rateKey) ?? 0) + 1);
    return value;
  }

  async peek(request: AdmitRequest): Promise<LimitSnapshot> {
    return (await this.either(() => this.redis.peek(request), () => this.memory.peek(request))).value;
  }

  async refund(request: AdmitRequest, entryId: string): Promise<LimitSnapshot> {
    return (await this.either(() => this.redis.refund(request, entryId), () => this.memory.refund(request, entryId))).value;
  }

  async release(rateKey: string): Promise<void> {
    const held = this.heldInMemory.get(rateKey) ?? 0;
    if (held > 0) {
      if (held === 1) this.heldInMemory.delete(rateKey);
      else this.heldInMemory.set(rateKey, held - 1);
      return this.memory.release(rateKey);
    }
    // A slot Redis could not take back now expires there by itself (its in-flight TTL).
    await this.redis.release(rateKey).catch((err: unknown) => this.down(err));
  }

  async hit(key: string, windows: WindowSpec[], cost: number, now: number): Promise<HitResult> {
    return (await this.either(() => this.redis.hit(key, windows, cost, now), () => this.memory.hit(key, windows, cost, now))).value;
  }

  async close(): Promise<void> {
    await this.redis.close();
    await this.memory.close();
  }
}
