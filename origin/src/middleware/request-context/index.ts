/**
 * Request id (from x-request-id when well-formed, else a fresh UUID), trace id from traceparent, arrival time,
 * in-flight tracking and the debug access log, in one middleware (each Hono layer costs a little per request);
 * and baseHeaders(), the headers every answer carries, for handlers that build their Response directly.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { parseTraceparent, requestIdFrom } from '../../../../shared/http/index.ts';
import type { AppEnv } from '../../env.ts';

/**
 * The headers every answer carries (x-request-id, and connection: close while draining), as a plain object for
 * handlers that build their Response directly: plain headers keep @hono/node-server on its fast path, where
 * c.header() would build a Headers object per request.
 */
export function baseHeaders(c: Context<AppEnv>): Record<string, string> {
  c.set('headersDone', true);
  const headers: Record<string, string> = { 'x-request-id': c.get('requestId') ?? 'unknown' };
  if (c.get('closing')) headers.connection = 'close';
  const pool = c.get('poolId');
  if (pool !== undefined) headers['x-origin-pool'] = pool;
  return headers;
}

export interface RequestContextOptions {
  /** True while the server drains: answers carry `connection: close`. */
  draining: () => boolean;
  /** Called when a request starts and when its handler has finished (in-flight tracking). */
  onStart?: () => void;
  onEnd?: () => void;
  /** The pool this origin belongs to (ORIGIN_POOL_ID), answered as `x-origin-pool`. @default none */
  poolId?: string;
  /** Receives a debug access-log line per request when debug logging is on. */
  logger?: { isLevelEnabled(level: string): boolean; debug(obj: object, msg: string): void };
}

export function requestContext(options: RequestContextOptions): MiddlewareHandler<AppEnv> {
  const { draining, onStart, onEnd, logger, poolId } = options;
  return async function requestContextMiddleware(c, next) {
    const started = performance.now();
    c.set('started', started);
    const requestId = requestIdFrom(c.req.header('x-request-id'));
    c.set('requestId', requestId);
    c.set('traceId', parseTraceparent(c.req.header('traceparent'))?.traceId);
    c.set('closing', draining());
    c.set('poolId', poolId);
    onStart?.();
    try {
      await next();
      if (c.get('headersDone') !== true) {
        c.res.headers.set('x-request-id', requestId);
        if (c.get('closing')) c.res.headers.set('connection', 'close');
        if (poolId !== undefined) c.res.headers.set('x-origin-pool', poolId);
      }
    } finally {
      onEnd?.();
      if (logger?.isLevelEnabled('debug')) {
        logger.debug(
          {
            request_id: requestId,
            trace_id: c.get('traceId'),
            method: c.req.method,
            path: c.req.path,
            status: c.res.status,
            ms: Math.round((performance.now() - started) * 1000) / 1000,
          },
          'request',
        );
      }
    }
  };
}
