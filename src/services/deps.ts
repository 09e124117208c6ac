/** What every service receives: the database, the Temporal client, the event bus, config and a logger. */
import type { Client } from '@temporalio/client';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { EventBus } from '../events/event-bus.js';
import type { Logger } from '../logger.js';
import type { TemporalAvailability } from '../temporal/availability.js';
import type { Authenticator } from './auth/authenticate.js';
import type { SigningKeys } from './auth/signing-keys.js';
import type { BillingProvider } from './billing/provider.js';
import type { Limiter } from './limits/limiter.js';
import type { UsageRecorder } from './limits/usage.js';

export interface ServiceDeps {
  db: Db;
  temporal: Client;
  /** Whether Temporal answers (probed each second); `guard` fails a call at once while it does not. */
  temporalAvailability: TemporalAvailability;
  bus: EventBus;
  config: Config;
  logger: Logger;
  auth: Authenticator;
  signingKeys: SigningKeys;
  limiter: Limiter;
  usage: UsageRecorder;
  billing: BillingProvider;
}

/** What a credential may do. Publishable keys get read and generate only. */
export type Scope = 'read' | 'write' | 'generate' | 'account';
export const FULL_SCOPES: readonly Scope[] = ['read', 'write', 'generate', 'account'];
export const PUBLISHABLE_SCOPES: readonly Scope[] = ['read', 'generate'];

/** The authenticated caller, built once per request by the context builder. */
export interface Principal {
  userId: string;
  /** How the caller signed in. */
  method: 'api_key' | 'session' | 'oauth_client' | 'external';
  /** The key, session or OAuth client id (external tokens: the user id); revoking it ends access. */
  credentialId: string;
  keyKind: 'secret' | 'publishable' | null;
  scopes: readonly Scope[];
  tier: string;
  /** A team the credential acts for (OAuth clients created for a team). */
  teamId: string | null;
  /** CIDR ranges the credential may be used from; empty: anywhere. */
  allowedCidrs: readonly string[];
  /** When the credential stops working by itself (an access token's expiry, ms since the epoch); absent: when revoked. */
  expiresAt?: number;
  /** Publishable keys: what they may read besides what they created (auth/read-resources.ts); null: unrestricted. */
  readResources?: readonly string[] | null;
}
