/**
 * The error vocabulary shared by services, GraphQL and REST. Each class carries a snake_case code
 * of `errorCodes` and that code's HTTP status; GraphQL shows the code's `graphql` name in extensions.code.
 */
import { withMessage } from './i18n/descriptor.js';

/**
 * Fields an error's `details` may carry that the REST envelope also sends at the top of `error`
 * (the place clients that read `error.retry_after` look), with each field's JSON type.
 */
export const liftedFields = {
  retry_after: { type: 'integer', description: 'Seconds to wait before retrying (as the Retry-After header).' },
  tier: { type: 'string', description: "The caller's plan." },
  limit: { type: 'integer', description: 'The limit that was reached.' },
  reset_at: { type: 'date-time', description: 'When the limit resets (ISO 8601 UTC).' },
  current_tier: { type: 'string', description: "The account's plan." },
  requested_tier: { type: 'string', description: 'The plan the change asked for.' },
  requests_used: { type: 'integer', description: 'Credits used this month.' },
  requests_limit: { type: 'integer', description: "Credits the plan allows per month." },
  storage_used_bytes: { type: 'integer', description: 'Bytes the account stores.' },
  storage_limit_bytes: { type: 'integer', description: "Bytes the plan allows." },
  requested_bytes: { type: 'integer', description: 'Bytes the refused operation needed.' },
  upgrade_url: { type: 'string', description: 'Where to change the plan.' },
} as const satisfies Record<string, { type: 'integer' | 'string' | 'date-time'; description: string }>;

/** A field of `details` that the envelope also sends at the top of `error`. */
export type LiftedField = keyof typeof liftedFields;

/** How one error code answers: its HTTP status on REST, its GraphQL `extensions.code`, and what it means. */
export interface ErrorCodeSpec {
  status: number;
  graphql: string;
  /** The code in the upper-case vocabulary a REST client asks for with `Codex-Error-Codes: upper`. */
  upper: string;
  /** What the code means. */
  description: string;
  /** What the caller does about it (the error reference shows it). */
  fix: string;
  /** Fields of `details` also sent at the top of `error`. */
  lifted: readonly LiftedField[];
}

const LIMIT_FIELDS = ['retry_after', 'tier', 'limit', 'reset_at'] as const;

const spec = <S extends number, G extends string>(
  status: S,
  graphql: G,
  description: string,
  fix: string,
  options: { upper?: string; lifted?: readonly LiftedField[] } = {},
) => ({ status, graphql, upper: options.upper ?? graphql, description, fix, lifted: options.lifted ?? [] });

/**
 * Every error code the API answers with. `ErrorCode` is its key set: an AppError takes only these
 * codes, with the status given here, and the OpenAPI document and the served error reference
 * (GET /docs/errors) are built from it.
 */
export const errorCodes = {
  invalid_request: spec(400, 'INVALID_REQUEST', 'The request is malformed (not JSON, a bad cursor, an unknown parameter, a bad header).', 'Read the message: it names the part of the request to correct. Send JSON bodies with "Content-Type: application/json".'),
  authentication_required: spec(401, 'AUTHENTICATION_REQUIRED', 'No valid credential was sent, or it was revoked or expired.', 'Send "Authorization: Bearer <key or token>" (or X-API-Key) with a key that is not revoked, or sign in again for a fresh access token.', { upper: 'UNAUTHORIZED' }),
  insufficient_credits: spec(402, 'INSUFFICIENT_CREDITS', "The account's credits do not cover the operation's cost.", 'Wait for the next monthly period, or upgrade the plan (upgrade_url); GET /v1/usage shows what is left.', { lifted: ['current_tier', 'requests_used', 'requests_limit', 'upgrade_url'] }),
  payment_required: spec(402, 'PAYMENT_REQUIRED', 'The billing provider refused a paid plan change; nothing changed.', 'Ask the operator to change the plan, or use a payment method the billing provider accepts.', { lifted: ['current_tier', 'requested_tier'] }),
  storage_limit_exceeded: spec(402, 'STORAGE_LIMIT_EXCEEDED', "The plan's storage is full; delete old items or move to a larger plan.", 'Delete projects, generations, visualizations or tasks you no longer need, or upgrade the plan (upgrade_url).', { upper: 'INSUFFICIENT_CREDITS', lifted: ['current_tier', 'storage_used_bytes', 'storage_limit_bytes', 'requested_bytes', 'upgrade_url'] }),
  permission_denied: spec(403, 'PERMISSION_DENIED', "The credential's scopes or the caller's role do not allow the operation.", 'Use a secret key (or token) with the scope the message names, from an allowed address, or ask a team owner for the role.', { upper: 'FORBIDDEN' }),
  resource_not_found: spec(404, 'RESOURCE_NOT_FOUND', 'No such resource exists for this account (or it belongs to another).', 'Check the id and the credential: ids of another account or team answer 404 as unknown ones do.', { upper: 'NOT_FOUND' }),
  method_not_allowed: spec(405, 'METHOD_NOT_ALLOWED', 'The path does not answer this method; the Allow header lists those it does.', 'Use one of the methods in the Allow header.'),
  task_timeout: spec(408, 'TASK_TIMEOUT', 'The work did not finish within its time limit.', 'Send less work per task (fewer files), or a longer timeout within the server\'s maximum.'),
  idempotency_conflict: spec(409, 'IDEMPOTENCY_CONFLICT', 'The Idempotency-Key was used with a different body, or its first request is still running.', 'Use a new Idempotency-Key for a different request; repeat a key only with the identical body.'),
  task_not_cancellable: spec(409, 'TASK_NOT_CANCELLABLE', 'The task already finished; only queued or running tasks can be cancelled.', 'Nothing to cancel: read the task for its outcome.'),
  orchestration_not_cancellable: spec(409, 'ORCHESTRATION_NOT_CANCELLABLE', 'The orchestration already finished; only running ones can be cancelled.', 'Nothing to cancel: read the orchestration for its outcome.'),
  invalid_subscription_change: spec(409, 'INVALID_SUBSCRIPTION_CHANGE', 'The plan change does not apply to the current subscription.', 'Read GET /v1/subscription and ask for a plan the change can move to.'),
  generation_not_retryable: spec(409, 'GENERATION_NOT_RETRYABLE', 'Only a failed generation can be retried.', 'Read the generation: a completed one needs no retry; a running one, wait for it.'),
  index_in_progress: spec(409, 'INDEX_IN_PROGRESS', 'The project is being indexed; wait for the run to finish.', 'Wait for the running index to finish, then retry.'),
  review_not_completed: spec(409, 'REVIEW_NOT_COMPLETED', 'The review has not completed yet.', 'Wait for the review to complete, then retry.'),
  review_already_approved: spec(409, 'REVIEW_ALREADY_APPROVED', 'The review was already approved.', 'Nothing to do: the review stays approved.'),
  webhook_limit_reached: spec(409, 'WEBHOOK_LIMIT_REACHED', 'The project has as many webhooks as it may have.', 'Delete a webhook of the project first.'),
  webhook_disabled: spec(409, 'WEBHOOK_DISABLED', 'The webhook is disabled; enable it first.', 'Enable the webhook (PATCH with "active": true), then retry.'),
  key_limit_reached: spec(409, 'KEY_LIMIT_REACHED', 'The account has as many API keys as it may have; revoke one first.', 'Revoke a key you no longer use, then create the new one.'),
  scim_token_limit_reached: spec(409, 'SCIM_TOKEN_LIMIT_REACHED', 'The team has as many active SCIM tokens as it may have; revoke one first.', 'Revoke a SCIM token the team no longer uses, then create the new one.'),
  email_taken: spec(409, 'EMAIL_TAKEN', 'An account with this e-mail already exists.', 'Sign in with that e-mail, or register another one.'),
  member_exists: spec(409, 'MEMBER_EXISTS', 'The user is already a member of the team.', 'Nothing to add; change the member\'s role instead if that was the aim.'),
  last_owner: spec(409, 'LAST_OWNER', 'The team would be left without an owner.', 'Make another member an owner first.'),
  team_has_active_tasks: spec(409, 'TEAM_HAS_ACTIVE_TASKS', 'The team still has queued or running tasks.', 'Wait for the team\'s tasks to finish, or cancel them, then retry.'),
  invitation_exists: spec(409, 'INVITATION_EXISTS', 'A pending invitation for this e-mail already exists.', 'Revoke the pending invitation first, or let the invitee accept it.'),
  invitation_not_pending: spec(409, 'INVITATION_NOT_PENDING', 'The invitation was already accepted, declined or revoked.', 'Ask a team owner for a new invitation.'),
  share_expired: spec(410, 'SHARE_EXPIRED', 'The share link expired.', 'Ask the owner for a new share link.'),
  share_revoked: spec(410, 'SHARE_REVOKED', 'The share link was revoked.', 'Ask the owner for a new share link.'),
  invitation_expired: spec(410, 'INVITATION_EXPIRED', 'The invitation expired.', 'Ask a team owner for a new invitation.'),
  payload_too_large: spec(413, 'PAYLOAD_TOO_LARGE', 'The request body or the files in it exceed a size limit.', 'Send fewer or smaller files per request, or smaller pages.'),
  validation_error: spec(422, 'VALIDATION_ERROR', 'One or more fields are invalid; details lists each field and what to fix.', 'Correct each field that details lists, as its message says.', { upper: 'INVALID_REQUEST' }),
  rate_limit_exceeded: spec(429, 'RATE_LIMIT_EXCEEDED', 'Too many requests; retry after the Retry-After header.', 'Wait retry_after seconds (the Retry-After header), then retry; slow down before X-RateLimit-Remaining reaches 0.', { lifted: LIMIT_FIELDS }),
  concurrency_limit_exceeded: spec(429, 'CONCURRENCY_LIMIT_EXCEEDED', 'Too many tasks run at once; wait for one to finish.', 'Wait for one of your requests or tasks to finish, then retry.', { upper: 'RATE_LIMIT_EXCEEDED', lifted: LIMIT_FIELDS }),
  agent_error: spec(500, 'AGENT_ERROR', 'The agent or model provider failed.', 'Retry later; if it persists, quote the request_id to support.'),
  internal_error: spec(500, 'INTERNAL_ERROR', 'An unexpected error; quote the request_id to support.', 'Retry later; if it persists, quote the request_id to support.', { upper: 'SERVER_ERROR' }),
  service_unavailable: spec(503, 'SERVICE_UNAVAILABLE', 'A dependency (database, task engine, Redis) is unreachable; retry after Retry-After.', 'Retry after the Retry-After header.'),
  model_not_configured: spec(503, 'MODEL_NOT_CONFIGURED', 'No model provider is configured on this server.', 'Ask the operator to configure a model provider (MODEL_BASE_URL).'),
} as const satisfies Record<string, ErrorCodeSpec>;

/** An error code of the API. */
export type ErrorCode = keyof typeof errorCodes;
/** The HTTP status of a code (a literal, so a wrong status fails to compile). */
export type StatusOf<C extends ErrorCode> = (typeof errorCodes)[C]['status'];
/** The codes that answer 409. */
export type ConflictCode = { [C in ErrorCode]: StatusOf<C> extends 409 ? C : never }[ErrorCode];

/** Whether a string is one of the API's error codes. */
export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(errorCodes, code);

/** One field-level problem of a validation error. */
export interface FieldError {
  field: string;
  message: string;
}

/** Base of every error a caller may see. Messages say how to fix the request and never leak internals. */
export class AppError<C extends ErrorCode = ErrorCode> extends Error {
  constructor(
    readonly code: C,
    readonly status: StatusOf<C>,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** The code GraphQL shows in extensions.code. */
  get graphqlCode(): string {
    return errorCodes[this.code].graphql;
  }
}

export class AuthenticationError extends AppError {
  constructor(message = 'Authentication required: send "Authorization: Bearer cdx_sk_…" or "X-API-Key: cdx_sk_…".') {
    super('authentication_required', 401, message);
  }
}

export class PermissionDeniedError extends AppError {
  constructor(message: string) {
    super('permission_denied', 403, message);
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super('resource_not_found', 404, `No ${what} with id "${id}" exists for this account.`);
    withMessage(this, 'resource_not_found.id', { resource: what, id });
  }
}

export class InvalidRequestError extends AppError {
  constructor(message: string, details?: unknown) {
    super('invalid_request', 400, message, details);
  }
}

export class ValidationError extends AppError {
  constructor(
    readonly fieldErrors: FieldError[],
    message = `The request has ${fieldErrors.length === 1 ? 'an invalid field' : `${fieldErrors.length} invalid fields`}: ${fieldErrors
      .map((e) => `${e.field} ${e.message}`)
      .join('; ')}.`,
  ) {
    super('validation_error', 422, message, fieldErrors);
  }
}

export class IdempotencyConflictError extends AppError {
  constructor() {
    super(
      'idempotency_conflict',
      409,
      'This Idempotency-Key was already used with a different request body. Use a new key for a different request.',
    );
  }
}

export class ConflictError extends AppError {
  constructor(code: ConflictCode, message: string, details?: unknown) {
    super(code, 409, message, details);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(
      'payload_too_large',
      413,
      `The request body is larger than ${Math.round(limitBytes / 1024 / 1024)} MB. Send fewer or smaller files per request.`,
    );
    withMessage(this, 'payload_too_large.limit', { megabytes: Math.round(limitBytes / 1024 / 1024) });
  }
}

/** A known path asked with a method it does not answer; `Allow` lists the ones it does. */
export class MethodNotAllowedError extends AppError {
  constructor(method: string, path: string, allowed: string[]) {
    super('method_not_allowed', 405, `${path} does not answer ${method}; it answers ${allowed.join(', ')}.`, undefined, { Allow: allowed.join(', ') });
  }
}

/** A paid plan change the billing provider refused (no payment was collected, nothing changed). */
export class PaymentRequiredError extends AppError {
  constructor(message: string, details?: unknown) {
    super('payment_required', 402, message, details);
  }
}

export class TaskTimeoutError extends AppError {
  constructor(message: string, details?: unknown) {
    super('task_timeout', 408, message, details);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string) {
    super('service_unavailable', 503, message, undefined, { 'Retry-After': '5' });
  }
}

/** No model provider is configured: generation and chat answer this rather than inventing code. */
export class ModelNotConfiguredError extends AppError {
  constructor() {
    super(
      'model_not_configured',
      503,
      'No model provider is configured on this server. An operator sets MODEL_BASE_URL to an OpenAI-compatible chat API (OpenAI, vLLM, Ollama, llama.cpp server), with MODEL_API_KEY and MODEL_NAME, and restarts the gateway and worker.',
    );
  }
}

export class InternalError extends AppError {
  constructor() {
    super('internal_error', 500, 'An internal error occurred. Quote the request_id when you contact support.');
  }
}

