/**
 * `npm run bench:auth`: what authentication costs per request. The same GraphQL operation
 * (`{ __typename }`, which needs no data) is sent without a credential, with an API key and with
 * a session's access token (JWT), in alternating rounds on one gateway; the ratios to the
 * unauthenticated rate are the cost. A second gateway with AUTH_CACHE_SECONDS=0 shows the cost
 * when every request verifies from scratch (key: one indexed SQL join; JWT: an ES256 signature
 * check and a session lookup). Passwords (argon2id) are only hashed at sign-in, never per request.
 */
import { createAccount, login } from '../src/services/auth/sessions.js';
import { createApiKey } from '../src/services/auth/api-keys.js';
import { gql, merge, ROUNDS, SECONDS, startBenchInfra, startGateway, unlimited, type BenchGateway } from './harness.js';
import { closedLoop, fmt, type Stats } from './stats.js';

const QUERY = { query: '{ __typename }' };
const CONCURRENCY = 16;

const infra = await startBenchInfra();
// Replicas of one deployment share the issuer of their tokens (by default PUBLIC_URL).
const ISSUER = { JWT_ISSUER: 'http://gateway.bench' };
const cached = await startGateway(infra, ISSUER);
const uncached = await startGateway(infra, { ...ISSUER, AUTH_CACHE_SECONDS: '0' });
const user = await createAccount(cached.services, { email: 'bench@example.com', password: 'bench password 123' });
await unlimited(cached.services.db, user.id);
const { secret: apiKey } = await createApiKey(cached.services.db, { userId: user.id, name: 'bench' });
const { accessToken } = await login(cached.services, { email: 'bench@example.com', password: 'bench password 123' }, null);

async function measure(gateway: BenchGateway) {
  const runs: Record<'none' | 'key' | 'jwt', Stats[]> = { none: [], key: [], jwt: [] };
  const credentials = { none: undefined, key: apiKey, jwt: accessToken } as const;
  for (const which of ['none', 'key', 'jwt'] as const) await gql(gateway.url, QUERY, credentials[which]); // warm
  const kinds = ['none', 'key', 'jwt'] as const;
  for (let r = 0; r < ROUNDS; r++) {
    // Each round starts with another kind, so warm-up and drift do not favour one.
    for (const which of [...kinds.slice(r % 3), ...kinds.slice(0, r % 3)]) {
      runs[which].push(await closedLoop(async () => void (await gql(gateway.url, QUERY, credentials[which])), { concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }));
    }
  }
  return { none: merge(runs.none), key: merge(runs.key), jwt: merge(runs.jwt) };
}

const withCache = await measure(cached);
const withoutCache = await measure(uncached);

console.log('');
for (const [title, m] of [
  [`AUTH_CACHE_SECONDS=${cached.config.AUTH_CACHE_SECONDS} (default)`, withCache],
  ['AUTH_CACHE_SECONDS=0 (verify every request)', withoutCache],
] as const) {
  console.log(title);
  console.log(`  no credential          ${fmt(m.none)}`);
  console.log(`  API key                ${fmt(m.key)}  ratio ${(m.key.perSecond / m.none.perSecond).toFixed(2)} (target ≥ 0.9)`);
  console.log(`  access token (JWT)     ${fmt(m.jwt)}  ratio ${(m.jwt.perSecond / m.none.perSecond).toFixed(2)} (target ≥ 0.9)`);
}

await uncached.close();
await cached.close();
await infra.close();
process.exit(0);
