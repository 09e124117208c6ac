/** Structured logging with pino; credentials are redacted wherever they appear in a log record. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out: request headers that carry credentials, and any field named like a secret. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.secret',
  '*.token',
  '*.password',
  'apiKey',
  'secret',
  'token',
  'password',
];

/** A root logger; `destination` lets tests capture output. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { service: 'codex-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}
