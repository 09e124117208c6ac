/**
 * The error vocabulary shared by services, GraphQL and REST. Each class carries a snake_case code
 * of `errorCodes` and that code's HTTP status; GraphQL shows the code's `graphql` name in extensions.code.
 */
import { withMessage } from './i18n/descriptor.js';

/** How one error code answers: its HTTP status on REST, its GraphQL `extensions.code`, and what it means. */
export interface ErrorCodeSpec {
  status: number;
  graphql: string;
  description: string;
}

const spec = <S extends number, G extends string>(status: S, graphql: G, description: string) => ({ status, graphql, description });

/**
 * Every error code the API answers with. `ErrorCode` is its key set: an AppError takes only these
 * codes, with the status given here, and the OpenAPI document declares each route's errors from it.
 */
export const errorCodes = {
  invalid_request: spec(400, 'INVALID_REQUEST', 'The request is malformed (not JSON, a bad cursor, an unknown parameter).'),
  authentication_required: spec(401, 'AUTHENTICATION_REQUIRED', 'No valid credential was sent, or it was revoked or expired.'),
  insufficient_credits: spec(402, 'INSUFFICIENT_CREDITS', "The account's credits do not cover the operation's cost."),
  payment_required: spec(402, 'PAYMENT_REQUIRED', 'The billing provider refused a paid plan change; nothing changed.'),
  storage_limit_exceeded: spec(402, 'STORAGE_LIMIT_EXCEEDED', "The plan's storage is full; delete old items or move to a larger plan."),
  permission_denied: spec(403, 'PERMISSION_DENIED', "The credential's scopes or the caller's role do not allow the operation."),
  resource_not_found: spec(404, 'RESOURCE_NOT_FOUND', 'No such resource exists for this account (or it belongs to another).'),
  method_not_allowed: spec(405, 'METHOD_NOT_ALLOWED', 'The path does not answer this method; the Allow header lists those it does.'),
  task_timeout: spec(408, 'TASK_TIMEOUT', 'The work did not finish within its time limit.'),
  idempotency_conflict: spec(409, 'IDEMPOTENCY_CONFLICT', 'The Idempotency-Key was used with a different body, or its first request is still running.'),
  task_not_cancellable: spec(409, 'TASK_NOT_CANCELLABLE', 'The task already finished; only queued or running tasks can be cancelled.'),
  orchestration_not_cancellable: spec(409, 'ORCHESTRATION_NOT_CANCELLABLE', 'The orchestration already finished; only running ones can be cancelled.'),
  invalid_subscription_change: spec(409, 'INVALID_SUBSCRIPTION_CHANGE', 'The plan change does not apply to the current subscription.'),
  generation_not_retryable: spec(409, 'GENERATION_NOT_RETRYABLE', 'Only a failed generation can be retried.'),
  index_in_progress: spec(409, 'INDEX_IN_PROGRESS', 'The project is being indexed; wait for the run to finish.'),
  review_not_completed: spec(409, 'REVIEW_NOT_COMPLETED', 'The review has not completed yet.'),
  review_already_approved: spec(409, 'REVIEW_ALREADY_APPROVED', 'The review was already approved.'),
  webhook_limit_reached: spec(409, 'WEBHOOK_LIMIT_REACHED', 'The project has as many webhooks as it may have.'),
  webhook_disabled: spec(409, 'WEBHOOK_DISABLED', 'The webhook is disabled; enable it first.'),
  key_limit_reached: spec(409, 'KEY_LIMIT_REACHED', 'The account has as many API keys as it may have; revoke one first.'),
  scim_token_limit_reached: spec(409, 'SCIM_TOKEN_LIMIT_REACHED', 'The team has as many active SCIM tokens as it may have; revoke one first.'),
  email_taken: spec(409, 'EMAIL_TAKEN', 'An account with this e-mail already exists.'),
  member_exists: spec(409, 'MEMBER_EXISTS', 'The user is already a member of the team.'),
  last_owner: spec(409, 'LAST_OWNER', 'The team would be left without an owner.'),
  team_has_active_tasks: spec(409, 'TEAM_HAS_ACTIVE_TASKS', 'The team still has queued or running tasks.'),
  invitation_exists: spec(409, 'INVITATION_EXISTS', 'A pending invitation for this e-mail already exists.'),
  invitation_not_pending: spec(409, 'INVITATION_NOT_PENDING', 'The invitation was already accepted, declined or revoked.'),
  share_expired: spec(410, 'SHARE_EXPIRED', 'The share link expired.'),
  share_revoked: spec(410, 'SHARE_REVOKED', 'The share link was revoked.'),
  invitation_expired: spec(410, 'INVITATION_EXPIRED', 'The invitation expired.'),
  payload_too_large: spec(413, 'PAYLOAD_TOO_LARGE', 'The request body or the files in it exceed a size limit.'),
  validation_error: spec(422, 'VALIDATION_ERROR', 'One or more fields are invalid; details lists each field and what to fix.'),
  rate_limit_exceeded: spec(429, 'RATE_LIMIT_EXCEEDED', 'Too many requests; retry after the Retry-After header.'),
  concurrency_limit_exceeded: spec(429, 'CONCURRENCY_LIMIT_EXCEEDED', 'Too many tasks run at once; wait for one to finish.'),
  agent_error: spec(500, 'AGENT_ERROR', 'The agent or model provider failed.'),
  internal_error: spec(500, 'INTERNAL_ERROR', 'An unexpected error; quote the request_id to support.'),
  service_unavailable: spec(503, 'SERVICE_UNAVAILABLE', 'A dependency (database, task engine, Redis) is unreachable; retry after Retry-After.'),
  model_not_configured: spec(503, 'MODEL_NOT_CONFIGURED', 'No model provider is configured on this server.'),
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

/** Documentation link for an error code. */
export function docUrl(code: ErrorCode): string {
  return `https://codex.gr.com/documentation.html#errors-${code.replace(/_/g, '-')}`;
}
