/** Connections to Temporal for clients (gateway) and workers, with the configured TLS and API key. */
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.js';
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
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: availability ? { workflow: [availability.interceptor()] } : {} });
}

/** The native connection a worker polls with. */
export async function connectWorker(config: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: await tlsOptions(config), apiKey: config.TEMPORAL_API_KEY });
}
