/** HTTP plumbing shared by the routes: context variables, request ids, body reading with a size limit, headers. */
import type { Context, MiddlewareHandler } from 'hono';
import { InferenceError } from '../../shared/errors/index.ts';

export type AppEnv = {
  Variables: {
    requestId: string;
    /** W3C trace id from `traceparent`, when the caller sent one. */
    traceId: string | undefined;
    /** The raw request body (POST routes). */
    body: Uint8Array | undefined;
    /** performance.now() when the request arrived. */
    started: number;
    /** The server is draining: answers carry `connection: close`. */
    closing: boolean;
    /** A handler built its response headers with baseHeaders() (so x-request-id is already in). */
    headersDone: boolean;
    /** Headers an error answer of this route must carry too (x-queue-depth, x-model-version). */
    errorHeaders: Record<string, string> | undefined;
  };
};

/**
 * The headers every answer carries (x-request-id, and connection: close while draining), as a plain object for
 * handlers that build their Response directly: plain headers keep @hono/node-server on its fast path, where
 * c.header() would build a Headers object per request.
 */
export function baseHeaders(c: Context<AppEnv>): Record<string, string> {
  c.set('headersDone', true);
  const headers: Record<string, string> = { 'x-request-id': c.get('requestId') ?? 'unknown' };
  if (c.get('closing')) headers.connection = 'close';
  return headers;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

export interface RequestContextOptions {
  /** True while the server drains: answers carry `connection: close`. */
  draining: () => boolean;
  /** Called when a request starts and when its handler has finished (in-flight tracking). */
  onStart?: () => void;
  onEnd?: () => void;
  /** Receives a debug access-log line per request when debug logging is on. */
  logger?: { isLevelEnabled(level: string): boolean; debug(obj: object, msg: string): void };
}

/**
 * Request id (from x-request-id when well-formed, else a fresh UUID), trace id from traceparent, arrival time,
 * in-flight tracking and the debug access log, in one middleware (each Hono layer costs a little per request).
 */
export function requestContext(options: RequestContextOptions): MiddlewareHandler<AppEnv> {
  const { draining, onStart, onEnd, logger } = options;
  return async function requestContextMiddleware(c, next) {
    const started = performance.now();
    c.set('started', started);
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && REQUEST_ID_RE.test(given) ? given : crypto.randomUUID();
    c.set('requestId', requestId);
    const tp = c.req.header('traceparent');
    c.set('traceId', tp === undefined ? undefined : TRACEPARENT_RE.exec(tp)?.[1]);
    c.set('closing', draining());
    onStart?.();
    try {
      await next();
      if (c.get('headersDone') !== true) {
        c.res.headers.set('x-request-id', requestId);
        if (c.get('closing')) c.res.headers.set('connection', 'close');
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

/** Reads the whole body into c.var.body, refusing more than maxBytes with 413 (before reading, when it can). */
export function readBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async function readBodyMiddleware(c, next) {
    const declared = c.req.header('content-length');
    const tooLarge = () =>
      new InferenceError(
        'payload_too_large',
        `request body exceeds the limit of ${maxBytes} bytes (ORIGIN_MAX_BODY_BYTES)`,
      );
    let body: Uint8Array;
    if (declared !== undefined) {
      if (!/^[0-9]{1,15}$/.test(declared))
        throw new InferenceError('invalid_header', 'content-length is not a number');
      if (Number(declared) > maxBytes) throw tooLarge();
      try {
        body = new Uint8Array(await c.req.arrayBuffer());
      } catch (err) {
        throw new InferenceError('bad_request', 'the request body could not be read', { cause: err });
      }
    } else {
      const stream = c.req.raw.body;
      const chunks: Uint8Array[] = [];
      let total = 0;
      if (stream !== null) {
        const reader = stream.getReader();
        for (;;) {
          let part: ReadableStreamReadResult<Uint8Array>;
          try {
            part = await reader.read();
          } catch (err) {
            throw new InferenceError('bad_request', 'the request body could not be read', { cause: err });
          }
          if (part.done) break;
          total += part.value.length;
          if (total > maxBytes) {
            await reader.cancel().catch(() => {});
            throw tooLarge();
          }
          chunks.push(part.value);
        }
      }
      body = new Uint8Array(total);
      let offset = 0;
      for (const ch of chunks) {
        body.set(ch, offset);
        offset += ch.length;
      }
    }
    c.set('body', body);
    await next();
  };
}

/** The media type of a content-type header, lowercased, without parameters; '' when absent. */
export function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
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

/** Priority from the OIP request parameters or the x-priority header; undefined (or 0) means the default. */
export function priorityFrom(param: unknown, header: string | undefined): number | undefined {
  const raw = param ?? header;
  if (raw === undefined) return undefined;
  const n = typeof raw === 'string' && /^[0-9]{1,3}$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    throw new InferenceError(
      'invalid_input',
      `priority must be an integer (1 is the highest), got ${JSON.stringify(raw)}`,
    );
  }
  return n === 0 ? undefined : n;
}
