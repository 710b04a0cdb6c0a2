/**
 * The headers that tie an origin request to the edge request: `x-request-id`, and the W3C trace with the edge's
 * span as the parent (`traceparent`, plus `tracestate` when the caller's trace was continued).
 */
import { formatTraceparent } from '../../../shared/http/index.ts';
import type { Trace } from '../types.ts';

/**
 * `extra` (content type, accept, ...) plus the request id and trace headers, which take precedence; a tracestate
 * is sent only with a continued trace (W3C), never from `extra`.
 */
export function originHeaders(
  requestId: string,
  trace: Trace,
  extra: Record<string, string> = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    ...extra,
    'x-request-id': requestId,
    traceparent: formatTraceparent(trace),
  };
  delete headers.tracestate;
  if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
  return headers;
}
