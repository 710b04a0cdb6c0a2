/**
 * The one error shape of the whole system, at the edge and at the origin:
 *
 *   { "error": { "code": "rate_limited", "message": "...", "request_id": "..." } }
 *
 * `code` strings are part of the public contract: clients switch on them. Add codes, never rename them.
 * Runs in workerd and Node (no Node built-ins).
 */

/** Stable error codes and the HTTP status each maps to. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_json: 400,
  invalid_input: 400,
  invalid_header: 400,
  unauthorized: 401,
  key_expired: 401,
  key_disabled: 401,
  key_revoked: 401,
  forbidden: 403,
  not_found: 404,
  model_not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  queue_full: 429,
  quota_exceeded: 429,
  internal: 500,
  bad_gateway: 502,
  unavailable: 503,
  not_ready: 503,
  deadline_exceeded: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string };
}

export interface InferenceErrorOptions {
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** Base class: every error the system means to return carries a stable code and its status. */
export class InferenceError extends Error {
  readonly code: ErrorCode;
  readonly status: ErrorStatus;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: InferenceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InferenceError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = options.headers ?? {};
  }

  toBody(requestId: string): ErrorBody {
    return { error: { code: this.code, message: this.message, request_id: requestId } };
  }
}

/** 400: the request is well-formed HTTP but its content is not a valid request. */
export class InvalidInputError extends InferenceError {
  constructor(message: string, options?: InferenceErrorOptions) {
    super('invalid_input', message, options);
    this.name = 'InvalidInputError';
  }
}

/** 404: no such model, or no such version of it. */
export class ModelNotFoundError extends InferenceError {
  constructor(model: string, version?: string) {
    super(
      'model_not_found',
      version === undefined
        ? `model '${model}' is not served here`
        : `model '${model}' has no version '${version}'`,
    );
    this.name = 'ModelNotFoundError';
  }
}

/** 429 or 503 with Retry-After: the server is shedding load. */
export class OverloadedError extends InferenceError {
  constructor(
    code: 'queue_full' | 'rate_limited' | 'unavailable' | 'not_ready',
    message: string,
    retryAfterSeconds: number,
  ) {
    super(code, message, { headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } });
    this.name = 'OverloadedError';
  }
}

/** 504: the request's deadline passed before an answer was ready. */
export class DeadlineExceededError extends InferenceError {
  constructor(message = 'the request deadline passed before inference completed') {
    super('deadline_exceeded', message);
    this.name = 'DeadlineExceededError';
  }
}

/** Seconds a 429 or 503 tells the client to wait when its thrower named no time. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** Every 429 and 503 answer carries Retry-After (the contract says so): the thrower's, else the default. */
function withRetryAfter(status: number, headers: Record<string, string>): Record<string, string> {
  if (status !== 429 && status !== 503) return headers;
  if (Object.keys(headers).some((k) => k.toLowerCase() === 'retry-after')) return headers;
  return { ...headers, 'Retry-After': String(DEFAULT_RETRY_AFTER_SECONDS) };
}

/** Builds the JSON error body; unknown errors become `internal` without leaking their message. */
export function errorBody(
  err: unknown,
  requestId: string,
): { status: ErrorStatus; body: ErrorBody; headers: Record<string, string> } {
  if (err instanceof InferenceError) {
    return {
      status: err.status,
      body: err.toBody(requestId),
      headers: withRetryAfter(err.status, err.headers),
    };
  }
  return {
    status: 500,
    body: { error: { code: 'internal', message: 'internal error', request_id: requestId } },
    headers: {},
  };
}
