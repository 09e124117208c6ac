/** Connections to Temporal for clients (gateway) and workers, with the configured TLS and API key. */
import { readFile } from 'node:fs/promises';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.js';

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

/** A Temporal client for starting, cancelling and describing workflows. */
export async function connectClient(config: Config, address: string): Promise<Client> {
  const connection = await Connection.connect({
    address,
    tls: await tlsOptions(config),
    apiKey: config.TEMPORAL_API_KEY,
  });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

/** The native connection a worker polls with. */
export async function connectWorker(config: Config, address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: await tlsOptions(config), apiKey: config.TEMPORAL_API_KEY });
}
