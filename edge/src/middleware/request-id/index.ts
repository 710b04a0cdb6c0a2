/**
 * Request id + W3C trace context + the one structured log line per request.
 *
 * - `x-request-id`: a caller's id is kept when it is 1-128 characters of [A-Za-z0-9._:-], otherwise replaced by a
 *   random UUID; returned on every response and sent to the origin.
 * - `traceparent`: the caller's trace is continued (invalid ones are replaced, per the spec); the edge gets its own
 *   span id, returned in `traceparent` and used as the origin's parent.
 * - After the response is ready, one JSON line: request id, trace id, method, path, status, latency, principal,
 *   model, served_by, cache, confidence, escalation and degradation reasons, error code.
 */
import type { MiddlewareHandler } from 'hono';
import { formatTraceparent, requestIdFrom, startTrace } from '../../../../shared/http/index.ts';
import type { AppEnv, RequestLog } from '../../types.ts';

export interface RequestIdOptions {
  /** Where the log line goes. @default console.log */
  write?: (line: string) => void;
  /** Clock for latency. @default () => performance.now() */
  now?: () => number;
}

export function requestId(options: RequestIdOptions = {}): MiddlewareHandler<AppEnv> {
  if (options.write !== undefined && typeof options.write !== 'function') {
    throw new TypeError(`requestId: write must be a function, got ${typeof options.write}`);
  }
  const write = options.write ?? ((line: string) => console.log(line));
  const now = options.now ?? (() => performance.now());
  return async function requestIdMiddleware(c, next) {
    const started = now();
    const id = requestIdFrom(c.req.header('x-request-id'));
    const trace = startTrace(c.req.header('traceparent'), c.req.header('tracestate'));
    const log: RequestLog = {};
    c.set('requestId', id);
    c.set('trace', trace);
    c.set('startedAt', Date.now());
    c.set('log', log);
    await next();
    c.header('x-request-id', id);
    c.header('traceparent', formatTraceparent(trace));
    const url = new URL(c.req.url);
    write(
      JSON.stringify({
        level: c.res.status >= 500 ? 'error' : c.res.status >= 400 ? 'warn' : 'info',
        msg: 'request',
        time: new Date().toISOString(),
        request_id: id,
        trace_id: trace.traceId,
        span_id: trace.spanId,
        method: c.req.method,
        path: url.pathname,
        status: c.res.status,
        latency_ms: Math.round((now() - started) * 1000) / 1000,
        ...log,
      }),
    );
  };
}
