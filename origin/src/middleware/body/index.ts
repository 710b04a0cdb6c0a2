/**
 * Reads the whole request body into c.var.body with shared/http's one body reader: more than maxBytes is a 413
 * (before reading when content-length says so), a malformed content-length a 400.
 */
import type { MiddlewareHandler } from 'hono';
import { readBody as readBodyCapped } from '../../../../shared/http/index.ts';
import type { AppEnv } from '../../env.ts';

export function readBody(maxBytes: number): MiddlewareHandler<AppEnv> {
  const options = { maxBytes, setting: 'ORIGIN_MAX_BODY_BYTES' };
  return async function readBodyMiddleware(c, next) {
    c.set('body', await readBodyCapped(c.req.raw, options));
    await next();
  };
}
