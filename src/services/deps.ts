/** What every service receives: the database, the Temporal client, the event bus, config and a logger. */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import type { ApiKeyVerifier } from './auth/api-keys.js';

export interface ServiceDeps {
  db: Db;
  temporal: Client;
  bus: EventBus;
  config: Config;
  logger: Logger;
  apiKeys: ApiKeyVerifier;
}

/** The authenticated caller, built once per request. */
export interface Principal {
  userId: string;
  apiKeyId: string;
  keyKind: 'secret' | 'publishable';
  tier: string;
}
