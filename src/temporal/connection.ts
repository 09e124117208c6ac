/** Connections to Temporal for clients (gateway) and workers, with the configured TLS and API key. */
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { Config } from '../config.js';
import { activeTracing } from '../tracing.js';
import type { TemporalAvailability } from './availability.js';

async function tlsOptions(config: Config): Promise<ConnectionOptions['tls']> {
  if (!config.TEMPORAL_TLS && !config.TEMPORAL_TLS_CERT_PATH && !config.TEMPORAL_TLS_CA_PATH) return undefined;
  return {
    serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME,
    serverRootCACertificate: config.TEMPORAL_TLS_CA_PATH ? await readFile(config.TEMPORAL_TLS_CA_PATH) : undefined,
    clientCertPair:
      config.TEMPORAL_TLS_CERT_PATH && config.TEMPORAL_TLS_KEY_PATH
        ? { crt: await readFile(config.TEMPORAL_TLS_CERT_PATH), key: await readFile(config.TEMPORAL_TLS_KEY_PATH) }
        : undefined,
  };
}

/**
 * A Temporal client for starting, cancelling and describing workflows. With `availability`, its
 * calls fail fast while Temporal is down (see availability.ts), and the channel retries the server
 * every second at most, so calls go through again within a second or two of its return.
 */
export async function connectClient(config: Config, address: string, availability?: TemporalAvailability): Promise<Client> {
  const connection = await Connection.connect({
    address,
    tls: await tlsOptions(config),
    apiKey: config.TEMPORAL_API_KEY,
    channelArgs: { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 1000 },
  });
  availability?.watch(connection);
  // With tracing on, a workflow's start is a span that the workflow's own spans continue.
  const workflow = [...(availability ? [availability.interceptor()] : []), ...(activeTracing() ? [new OpenTelemetryWorkflowClientInterceptor()] : [])];
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: { workflow } });
}

/** The native connection a worker polls with. */
export async function connectWorker(config: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: await tlsOptions(config), apiKey: config.TEMPORAL_API_KEY });
}

/** gRPC status codes (fixed by the gRPC specification) that mean "not allowed", not "not there". */
const grpcStatus = { PERMISSION_DENIED: 7, UNAUTHENTICATED: 16 } as const;

/**
 * Failures no wait fixes: the server refused our credentials, or a TLS file cannot be read.
 * Everything else (refused, unresolvable, unavailable while the server starts) is worth a retry.
 */
export function isPermanentTemporalError(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === grpcStatus.UNAUTHENTICATED || e.code === grpcStatus.PERMISSION_DENIED) return true;
    if (e.code === 'ENOENT' || e.code === 'EACCES') return true;
    if (typeof e.message === 'string' && /\b(Unauthenticated|PermissionDenied)\b/.test(e.message)) return true;
  }
  return false;
}
