/** Whether a PostgreSQL server is up and lets us in, for start-up before migrations and pools. */
import pg from 'pg';

/** Opens one connection and runs `SELECT 1`; throws the driver's error when that fails. */
export async function probePostgres(connectionString: string, timeoutMs = 5000): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/** Failures no wait fixes: credentials refused (SQLSTATE class 28) and a database that does not exist. */
export function isPermanentPostgresError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (/^28[0-9A-Z]{3}$/.test(code) || code === '3D000');
}

/** `host:port/database` of a connection string: what to name in logs (never the password). */
export function describePostgresTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return 'the configured database';
  }
}
