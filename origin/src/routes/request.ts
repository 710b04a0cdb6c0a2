/**
 * Request parsing shared by the model routes: content type, deadline and priority headers (body reading, JSON
 * and media types come from shared/http, as at the edge). Every bad
 * input is a 4xx InferenceError (onError turns it into the shared JSON body).
 */
import { InferenceError } from '../../../shared/errors/index.ts';
import { mediaType } from '../../../shared/http/index.ts';
import { BINARY_CONTENT_TYPE, JSON_CONTENT_TYPE } from '../../../shared/protocol/index.ts';

/** 415 unless the content type suits the body: JSON, or octet-stream/JSON under the binary extension. */
export function checkContentType(contentType: string | undefined, binary: boolean): void {
  const type = mediaType(contentType);
  if (type === '' || type === JSON_CONTENT_TYPE || (binary && type === BINARY_CONTENT_TYPE)) return;
  throw new InferenceError(
    'unsupported_media_type',
    binary
      ? `content-type ${type} is not accepted: send ${BINARY_CONTENT_TYPE} (or ${JSON_CONTENT_TYPE}) with Inference-Header-Content-Length`
      : `content-type ${type} is not accepted: send ${JSON_CONTENT_TYPE}, or binary tensors with Inference-Header-Content-Length`,
  );
}

/** 415 unless the content type is JSON (or absent: taken as JSON). */
export function requireJson(contentType: string | undefined): void {
  const type = mediaType(contentType);
  if (type !== '' && type !== JSON_CONTENT_TYPE) {
    throw new InferenceError(
      'unsupported_media_type',
      `content-type ${type} is not accepted: send ${JSON_CONTENT_TYPE}`,
    );
  }
}

/**
 * Absolute deadline (performance.now() ms) from `x-deadline-ms` (remaining budget), capped by the default
 * timeout. 400 when malformed; 504 when the budget is already spent.
 */
export function deadlineFrom(header: string | undefined, started: number, defaultTimeoutMs: number): number {
  if (header === undefined) return started + defaultTimeoutMs;
  const ms = Number(header);
  if (header.trim() === '' || !Number.isFinite(ms)) {
    throw new InferenceError(
      'invalid_header',
      `x-deadline-ms must be a number of milliseconds, got '${header.slice(0, 40)}'`,
    );
  }
  if (ms <= 0) throw new InferenceError('deadline_exceeded', 'x-deadline-ms left no time to run the request');
  return started + Math.min(ms, defaultTimeoutMs);
}

/**
 * Priority from the `x-priority` header only, which the edge sets from the caller's tier and signs; undefined (or
 * 0) means the default. The body's `parameters.priority` is ignored: the edge forwards client bodies as they are,
 * so honouring it would let any client jump the queue.
 */
export function priorityFrom(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (!/^[0-9]{1,3}$/.test(header.trim())) {
    throw new InferenceError(
      'invalid_header',
      `x-priority must be an integer (1 is the highest), got ${JSON.stringify(header.slice(0, 40))}`,
    );
  }
  const n = Number(header);
  return n === 0 ? undefined : n;
}
