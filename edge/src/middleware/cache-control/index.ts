/**
 * Reads the request's `Cache-Control` (and `Pragma: no-cache`) into `c.get('cacheControl')`: `no-cache` skips
 * result-cache reads, `no-store` skips writes. Handlers that use the cache (cache/) set `x-cache: HIT|MISS|BYPASS`.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv, CacheControl } from '../../types.ts';

export function parseCacheControl(
  cacheControl: string | undefined,
  pragma: string | undefined,
): CacheControl {
  const directives = (cacheControl ?? '')
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  return {
    noCache:
      directives.includes('no-cache') ||
      directives.includes('max-age=0') ||
      (pragma ?? '').toLowerCase().includes('no-cache'),
    noStore: directives.includes('no-store'),
  };
}

export function cacheControl(): MiddlewareHandler<AppEnv> {
  return async function cacheControlMiddleware(c, next) {
    c.set('cacheControl', parseCacheControl(c.req.header('cache-control'), c.req.header('pragma')));
    await next();
  };
}
