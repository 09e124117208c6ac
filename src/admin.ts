/**
 * `npm run admin -- <command>`: operator commands against the configured database (DATABASE_URL,
 * or the embedded one: through the running gateway's database when `npm start` is up, else
 * opened directly).
 *
 *   user create --email E [--name N] [--tier free|pro|team|enterprise] [--password-stdin] [--with-key]
 *   user set-password --email E --password-stdin      (ends the account's sessions)
 *   user list
 *   plan set --email E --tier free|pro|team [--cycle monthly|yearly]   change a plan without payment
 *   limits set --email E [--tier T] [--requests-per-month N] [--requests-per-hour N] [--requests-per-minute N]
             [--concurrent N] [--parallel-agents N] [--storage-bytes N]    per-account limits (enterprise)
  limits clear --email E  back to the tier's plan
  signing-key rotate      a new key signs from now on; tokens signed before stay valid
 *   signing-key retire      drops keys superseded longer ago than the longest token lifetime
 *
 * Passwords are read from standard input, never from arguments (which other users can see).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AppError } from './errors.js';
import { newId } from './ids.js';
import type { Config } from './config.js';
import { createDb, type Db } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { loadConfigOrExit, startEmbeddedDatabase } from './runtime.js';
import { createApiKey } from './services/auth/api-keys.js';
import { createAccount, setPassword } from './services/auth/sessions.js';
import { createSigningKey, retireSupersededKeys } from './services/auth/signing-keys.js';
import { LedgerBillingProvider } from './services/billing/provider.js';
import { cancelPaidPlan, changePlan } from './services/billing/plans.js';
import type { Principal, ServiceDeps } from './services/deps.js';

const TIERS = ['free', 'pro', 'team', 'enterprise'];
/** Tiers `plan set` moves an account to (enterprise limits are set per account with `limits set`). */
const PLAN_TIERS = ['free', 'pro', 'team'];
const USAGE = `Usage: npm run admin -- <command>
  user create --email E [--name N] [--tier ${TIERS.join('|')}] [--password-stdin] [--with-key]
  user set-password --email E --password-stdin
  user list
  plan set --email E --tier free|pro|team [--cycle monthly|yearly]
  limits set --email E [--tier T] [--requests-per-month N] [--requests-per-hour N] [--requests-per-minute N] [--concurrent N] [--parallel-agents N] [--storage-bytes N]
  limits clear --email E
  signing-key rotate
  signing-key retire`;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (then Enter and Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function openDatabase(config: Config): Promise<{ db: Db; close: () => Promise<void> }> {
  let url = config.DATABASE_URL;
  let stop = async () => {};
  if (!url) {
    const urlFile = join(config.dataDir, 'postgres.url');
    const running = existsSync(urlFile) ? readFileSync(urlFile, 'utf8').trim() : null;
    if (running && (await reachable(running))) url = running;
    else {
      const embedded = await startEmbeddedDatabase(config, (line) => console.error(line));
      url = embedded.url;
      stop = embedded.stop;
    }
  }
  await applyMigrations(url);
  const db = createDb(url, 2);
  return {
    db,
    close: async () => {
      await db.$disconnect();
      await stop();
    },
  };
}

async function main(): Promise<number> {
  const [group, command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      tier: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      'with-key': { type: 'boolean', default: false },
      cycle: { type: 'string' },
      ...Object.fromEntries(LIMIT_FLAGS.map(([flag]) => [flag, { type: 'string' as const }])),
    },
    strict: true,
  });
  // What can be told without the database is told before opening it (that takes seconds).
  const usage = checkUsage(`${group ?? ''} ${command ?? ''}`.trim(), values);
  if (usage) {
    console.error(`${usage}\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfigOrExit();
  const { db, close } = await openDatabase(config);
  const revokeNothing = { revoke: async () => {} } as unknown as ServiceDeps['auth'];
  const deps = { db, config, auth: revokeNothing } as Pick<ServiceDeps, 'db' | 'config' | 'auth'>;
  try {
    if (group === 'user' && command === 'create') {
      if (!values.email) throw new UsageError('--email is required');
      values.tier ??= 'free';
      if (!TIERS.includes(values.tier)) throw new UsageError(`--tier must be one of ${TIERS.join(', ')}`);
      if (await db.user.findUnique({ where: { email: values.email.trim().toLowerCase() } })) throw new UsageError(`an account with e-mail ${values.email} already exists`);
      const password = values['password-stdin'] ? await readStdin() : null;
      const user = password
        ? await createAccount(deps, { email: values.email, password, name: values.name, tier: values.tier })
        : await db.user.create({ data: { id: newId('user'), email: values.email.toLowerCase(), name: values.name ?? values.email, tier: values.tier } });
      console.log(`created ${user.id} <${user.email}> tier ${user.tier}${password ? ' (password set)' : ' (no password: API keys only)'}`);
      if (values['with-key']) {
        const { key, secret } = await createApiKey(db, { userId: user.id, name: 'admin' });
        console.log(`API key ${key.id}: ${secret}\n(shown once; store it now)`);
      }
    } else if (group === 'user' && command === 'set-password') {
      if (!values.email || !values['password-stdin']) throw new UsageError('--email and --password-stdin are required');
      const user = await db.user.findUnique({ where: { email: values.email.toLowerCase() } });
      if (!user) throw new UsageError(`no account with e-mail ${values.email}`);
      // Other gateway processes learn of ended sessions within AUTH_CACHE_SECONDS.
      await setPassword(deps as Parameters<typeof setPassword>[0], user.id, await readStdin());
      console.log(`password set for ${user.id}; its sessions are ended`);
    } else if (group === 'user' && command === 'list') {
      for (const u of await db.user.findMany({ orderBy: { id: 'asc' } })) {
        console.log(`${u.id}\t${u.email ?? '-'}\t${u.tier}\t${u.name}`);
      }
    } else if (group === 'plan' && command === 'set') {
      const user = await db.user.findUnique({ where: { email: values.email!.trim().toLowerCase() } });
      if (!user) throw new UsageError(`no account with e-mail ${values.email}`);
      // The operator's change needs no payment. Gateways reload the account's limits within 10 s.
      const planDeps = { db, auth: revokeNothing, limiter: { limitsChanged: async () => {} } as unknown as ServiceDeps['limiter'], billing: new LedgerBillingProvider(db, { selfService: true }) };
      const principal = { userId: user.id } as Principal;
      if (values.tier === 'free') {
        const active = await db.paidPlan.findFirst({ where: { userId: user.id, status: 'active' } });
        if (!active) console.log(`${user.id} is on the free plan already`);
        else console.log(`${user.id}: ${(await cancelPaidPlan(planDeps, principal, { cancelAtPeriodEnd: false, reason: 'changed by an operator' })).message}`);
      } else {
        const result = await changePlan(planDeps, principal, { newTier: values.tier!, billingCycle: values.cycle as 'monthly' | 'yearly' | undefined });
        console.log(`${user.id}: ${result.message} (${result.subscription.tier}, ${result.subscription.billingCycle}, from ${result.effectiveDate.toISOString()})`);
      }
    } else if (group === 'limits' && (command === 'set' || command === 'clear')) {
      const user = values.email ? await db.user.findUnique({ where: { email: values.email.trim().toLowerCase() } }) : null;
      if (!user) throw new UsageError(values.email ? `no account with e-mail ${values.email}` : '--email is required');
      if (command === 'clear') {
        await db.accountLimits.deleteMany({ where: { userId: user.id } });
        console.log(`${user.id} is back on the ${user.tier} plan's limits`);
      } else {
        const data: Record<string, number | bigint> = {};
        for (const [flag, field] of LIMIT_FLAGS) {
          const raw = (values as Record<string, string | boolean | undefined>)[flag];
          if (raw === undefined) continue;
          if (!/^\d+$/.test(String(raw)) || Number(raw) < 1) throw new UsageError(`--${flag} must be a positive whole number`);
          data[field] = field === 'storageBytes' ? BigInt(String(raw)) : Number(raw);
        }
        if (values.tier !== undefined) {
          if (!TIERS.includes(values.tier)) throw new UsageError(`--tier must be one of ${TIERS.join(', ')}`);
          await db.user.update({ where: { id: user.id }, data: { tier: values.tier } });
        }
        await db.accountLimits.upsert({ where: { userId: user.id }, create: { userId: user.id, ...data }, update: data });
        console.log(`limits of ${user.id} set: ${JSON.stringify(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, String(v)])))}`);
      }
      // Gateways reload an account's limits within 10 s (LIMITS_CACHE_MS).
    } else if (group === 'signing-key' && command === 'rotate') {
      const id = await createSigningKey(db, config.JWT_ALGORITHM);
      console.log(`new ${config.JWT_ALGORITHM} signing key ${id}; earlier keys keep verifying until retired (run "signing-key retire" after ${config.ACCESS_TOKEN_TTL_SECONDS} s)`);
    } else if (group === 'signing-key' && command === 'retire') {
      const count = await retireSupersededKeys(db, Math.max(config.ACCESS_TOKEN_TTL_SECONDS, config.OAUTH_TOKEN_TTL_SECONDS));
      console.log(`retired ${count} signing key(s)`);
    } else {
      throw new UsageError(`unknown command "${[group, command].filter(Boolean).join(' ')}"`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) console.error(`${err.message}\n\n${USAGE}`);
    else if (err instanceof AppError) console.error(err.message);
    else throw err;
    return 2;
  } finally {
    await close();
  }
}

class UsageError extends Error {}

const COMMANDS = ['user create', 'user set-password', 'user list', 'plan set', 'limits set', 'limits clear', 'signing-key rotate', 'signing-key retire'];

/** The first problem with the command line that needs no database, or null. */
function checkUsage(command: string, values: { email?: string; tier?: string; cycle?: string; 'password-stdin'?: boolean }): string | null {
  if (!COMMANDS.includes(command)) return `unknown command "${command}"`;
  if (['user create', 'user set-password', 'limits set', 'limits clear'].includes(command) && !values.email) return '--email is required';
  if (command === 'user set-password' && !values['password-stdin']) return '--password-stdin is required';
  if (command === 'plan set') {
    if (!values.email) return '--email is required';
    if (!values.tier || !PLAN_TIERS.includes(values.tier)) return `--tier must be one of ${PLAN_TIERS.join(', ')} (enterprise: limits set --tier enterprise)`;
    if (values.cycle !== undefined && !['monthly', 'yearly'].includes(values.cycle)) return '--cycle must be monthly or yearly';
  }
  if (values.tier !== undefined && !TIERS.includes(values.tier)) return `--tier must be one of ${TIERS.join(', ')}`;
  return null;
}

/** Flags of `limits set` and the AccountLimits field each sets. */
const LIMIT_FLAGS = [
  ['requests-per-month', 'requestsPerMonth'],
  ['requests-per-hour', 'requestsPerHour'],
  ['requests-per-minute', 'requestsPerMinute'],
  ['concurrent', 'concurrent'],
  ['parallel-agents', 'parallelAgents'],
  ['storage-bytes', 'storageBytes'],
] as const;

process.exitCode = await main().catch((err) => {
  console.error(err instanceof Error && err.name === 'TypeError' && /parseArgs|Unknown option/.test(err.message) ? `${err.message}\n\n${USAGE}` : err);
  return 1;
});
