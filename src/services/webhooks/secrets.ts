/**
 * Webhook secrets and signatures (Standard Webhooks layout). A secret is `whsec_` + base64 of
 * random bytes; the HMAC-SHA256 key is the decoded bytes. The plaintext is needed to sign, so it is
 * stored encrypted (AES-256-GCM) with WEBHOOK_SECRET_KEY, or, when that is unset, with a random key
 * kept in DATA_DIR/webhook-secret.key (created on first use, mode 0600). Secrets are never logged.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config.js';

const PREFIX = 'whsec_';
const keys = new Map<string, Buffer>();

/** The 32-byte encryption key: WEBHOOK_SECRET_KEY (base64 of 32 bytes, or a passphrase hashed with SHA-256), else the data-dir key file. */
function encryptionKey(config: Pick<Config, 'WEBHOOK_SECRET_KEY' | 'dataDir'>): Buffer {
  const cacheKey = config.WEBHOOK_SECRET_KEY ?? `file:${config.dataDir}`;
  const cached = keys.get(cacheKey);
  if (cached) return cached;
  let key: Buffer;
  if (config.WEBHOOK_SECRET_KEY) {
    const decoded = Buffer.from(config.WEBHOOK_SECRET_KEY, 'base64');
    key = decoded.length === 32 ? decoded : createHash('sha256').update(config.WEBHOOK_SECRET_KEY).digest();
  } else {
    const file = join(config.dataDir, 'webhook-secret.key');
    try {
      key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    } catch {
      mkdirSync(config.dataDir, { recursive: true });
      key = randomBytes(32);
      try {
        writeFileSync(file, key.toString('base64'), { mode: 0o600, flag: 'wx' });
      } catch {
        key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'); // another process wrote it first
      }
    }
  }
  keys.set(cacheKey, key);
  return key;
}

/** A new secret: whsec_ + base64 of 24 random bytes. */
export function generateSecret(): string {
  return PREFIX + randomBytes(24).toString('base64');
}

/** Whether a caller-chosen secret has the whsec_ + base64 (16 to 64 bytes) form; returns a message when not. */
export function secretProblem(secret: string): string | null {
  if (!secret.startsWith(PREFIX)) return 'must start with whsec_ followed by base64 (or leave it out and one is generated)';
  const body = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return 'must be whsec_ followed by standard base64';
  const n = Buffer.from(body, 'base64').length;
  if (n < 16 || n > 64) return `must encode 16 to 64 bytes (got ${n})`;
  return null;
}

export function encryptSecret(config: Pick<Config, 'WEBHOOK_SECRET_KEY' | 'dataDir'>, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(config), iv);
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join('.');
}

export function decryptSecret(config: Pick<Config, 'WEBHOOK_SECRET_KEY' | 'dataDir'>, stored: string): string {
  const [, iv, tag, data] = stored.split('.');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey(config), Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for one secret. */
export function signature(secret: string, msgId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${msgId}.${timestamp}.${body}`).digest('base64')}`;
}

/** The three Standard Webhooks headers; one signature per valid secret, space-separated. */
export function signedHeaders(secrets: string[], msgId: string, timestamp: number, body: string): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((s) => signature(s, msgId, timestamp, body)).join(' '),
  };
}
