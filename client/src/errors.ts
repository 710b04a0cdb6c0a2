/**
 * The API's one error shape as an exception: `unwrap` turns an openapi-fetch result into its data, or throws an
 * ApiError carrying the status, the stable `code`, the request id and the server's message.
 */

export interface ErrorShape {
  error: { code: string; message: string; request_id: string };
}

export class ApiError extends Error {
  readonly status: number;
  /** The stable error code (`rate_limited`, `forbidden`, ...), or `http_<status>` for a body without one. */
  readonly code: string;
  readonly requestId: string | undefined;
  /** Retry-After, seconds, when the server sent one. */
  readonly retryAfter: number | undefined;
  /** The server's message alone (`message` is `<status> <code>: <detail>`). */
  readonly detail: string;

  constructor(response: Response, body: unknown) {
    const e = (body as Partial<ErrorShape> | undefined)?.error;
    const code = typeof e?.code === 'string' ? e.code : `http_${response.status}`;
    const detail = typeof e?.message === 'string' ? e.message : response.statusText;
    super(`${response.status} ${code}: ${detail}`);
    this.detail = detail;
    this.name = 'ApiError';
    this.status = response.status;
    this.code = code;
    this.requestId =
      typeof e?.request_id === 'string' ? e.request_id : (response.headers.get('x-request-id') ?? undefined);
    const ra = response.headers.get('retry-after');
    this.retryAfter = ra !== null && /^\d+$/.test(ra) ? Number(ra) : undefined;
  }
}

/** The result's data, or an ApiError when the answer was not 2xx. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (!result.response.ok) throw new ApiError(result.response, result.error);
  return result.data as T;
}
