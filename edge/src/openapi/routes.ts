/**
 * GET /openapi.json: the edge's OpenAPI 3.1 document (edge/openapi.json, generated from the code by `npm run
 * openapi` and committed), no key, cacheable (ETag: its SHA-256; If-None-Match answers 304). GET /docs: Scalar's
 * interactive reference over it (its script comes from Scalar's CDN; the page sends the key only where the user
 * pastes one).
 */
import { Scalar } from '@scalar/hono-api-reference';
import type { Context } from 'hono';
import { sha256Hex } from '../../../shared/hash/index.ts';
import document from '../../openapi.json';
import type { AppEnv } from '../types.ts';

export const OPENAPI_PATH = '/openapi.json';

let served: Promise<{ body: string; etag: string }> | undefined;

/** The document's bytes and ETag, made once per isolate. */
function servedDocument(): Promise<{ body: string; etag: string }> {
  served ??= (async () => {
    const body = JSON.stringify(document);
    return { body, etag: `"${(await sha256Hex(body)).slice(0, 32)}"` };
  })();
  return served;
}

export async function openapiHandler(c: Context<AppEnv>): Promise<Response> {
  const { body, etag } = await servedDocument();
  const headers = { etag, 'cache-control': 'public, max-age=300' };
  const match = c.req.header('if-none-match');
  if (match?.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    return c.body(null, 304, headers);
  }
  return c.body(body, 200, { ...headers, 'content-type': 'application/json; charset=UTF-8' });
}

const reference = Scalar({ url: OPENAPI_PATH, pageTitle: 'Edge inference API' });

export async function docsHandler(c: Context<AppEnv>): Promise<Response> {
  const page = await reference(c as unknown as Parameters<typeof reference>[0], async () => {});
  const res = new Response((page as Response).body, page as Response);
  res.headers.set('x-content-type-options', 'nosniff');
  res.headers.set('content-security-policy', "frame-ancestors 'none'");
  res.headers.set('cache-control', 'public, max-age=300');
  return res;
}
