/**
 * Structured logging with pino; credentials are redacted wherever they appear in a log record.
 * Every line written inside a Temporal activity carries its workflowId, runId, activity and
 * attempt, and every line written while a trace is active carries its trace_id.
 */
import { createRequire } from 'node:module';
import { trace } from '@opentelemetry/api';
import { asyncLocalStorage as activityContext } from '@temporalio/activity';
import { pino, type Logger } from 'pino';

export type { Logger };

/** json: one object per line (for log collectors); pretty: coloured, readable lines (pino-pretty). */
export type LogFormat = 'json' | 'pretty';

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

/** The fields a line gets from where it is written: the activity it runs in, the active trace. */
export function contextFields(): Record<string, string | number> {
  const fields: Record<string, string | number> = {};
  const activity = activityContext.getStore();
  if (activity) {
    const { workflowExecution, activityType, attempt } = activity.info;
    Object.assign(fields, { activity: activityType, attempt });
    if (workflowExecution) Object.assign(fields, { workflowId: workflowExecution.workflowId, runId: workflowExecution.runId });
  }
  const traceId = trace.getActiveSpan()?.spanContext().traceId;
  if (traceId && !/^0+$/.test(traceId)) fields.trace_id = traceId;
  return fields;
}

/**
 * pino-pretty, when installed: it is a development dependency (`npm ci --omit=dev` leaves it out),
 * and production logs are JSON for collectors; pipe them through `npx pino-pretty` to read them.
 */
function prettyStream(destination?: NodeJS.WritableStream): pino.DestinationStream {
  let pretty: (options: Record<string, unknown>) => pino.DestinationStream;
  try {
    pretty = createRequire(import.meta.url)('pino-pretty') as typeof pretty;
  } catch {
    throw new Error('LOG_FORMAT=pretty needs the pino-pretty package, a development dependency this install left out: use LOG_FORMAT=json and pipe the output through `npx pino-pretty`.');
  }
  return pretty({ sync: true, colorize: !destination && process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', ...(destination ? { destination } : {}) });
}

/** A root logger; `destination` lets tests capture output. */
export function createLogger(level: string, destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      redact: { paths: redactPaths, censor: '[redacted]' },
      base: { service: 'codex-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: contextFields,
    },
    format === 'pretty' ? prettyStream(destination) : (destination as pino.DestinationStream | undefined),
  );
}

/** What the access log line of a request says besides the request itself, learnt while it runs. */
export interface AccessFacts {
  /** The account (user id) the request's credential authenticated; never the credential. */
  accountId?: string;
  /** The GraphQL operation: its name when it has one (a route's document always does), else its type. */
  operation?: string;
  operationType?: string;
  /** Credits charged. */
  cost?: number;
}

const facts = new Map<string, AccessFacts>();

/**
 * The facts of HTTP requests in flight, by request id: the HTTP layer opens an entry when a request
 * arrives and takes it when it answers; the operation runner adds to an open entry (a WebSocket
 * operation's own request id has none, and adds nothing).
 */
export const accessFacts = {
  open(requestId: string): void {
    facts.set(requestId, {});
  },
  note(requestId: string | undefined, more: AccessFacts): void {
    const entry = requestId === undefined ? undefined : facts.get(requestId);
    if (entry) Object.assign(entry, more);
  },
  take(requestId: string): AccessFacts {
    const entry = facts.get(requestId) ?? {};
    facts.delete(requestId);
    return entry;
  },
};
