/**
 * The error vocabulary shared by services, GraphQL and REST. Each class carries the spec's
 * snake_case code and its HTTP status; GraphQL shows the code upper-cased in extensions.code.
 */

/** One field-level problem of a validation error. */
export interface FieldError {
  field: string;
  message: string;
}

/** Base of every error a caller may see. Messages say how to fix the request and never leak internals. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
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
  constructor(code: string, message: string, details?: unknown) {
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

/** Error codes and statuses, for OpenAPI and the code→status map used when only a code is known. */
export const errorStatuses: Record<string, number> = {
  authentication_required: 401,
  permission_denied: 403,
  resource_not_found: 404,
  invalid_request: 400,
  validation_error: 422,
  insufficient_credits: 402,
  payment_required: 402,
  storage_limit_exceeded: 402,
  method_not_allowed: 405,
  task_timeout: 408,
  idempotency_conflict: 409,
  invalid_subscription_change: 409,
  task_not_cancellable: 409,
  payload_too_large: 413,
  rate_limit_exceeded: 429,
  concurrency_limit_exceeded: 429,
  agent_error: 500,
  internal_error: 500,
  service_unavailable: 503,
  model_not_configured: 503,
  generation_not_retryable: 409,
  index_in_progress: 409,
  review_not_completed: 409,
  review_already_approved: 409,
  webhook_limit_reached: 409,
  webhook_disabled: 409,
  share_expired: 410,
  share_revoked: 410,
  email_taken: 409,
  member_exists: 409,
  invitation_exists: 409,
  invitation_not_pending: 409,
  invitation_expired: 410,
};

/** Documentation link for an error code. */
export function docUrl(code: string): string {
  return `https://codex.gr.com/documentation.html#errors-${code.replace(/_/g, '-')}`;
}
