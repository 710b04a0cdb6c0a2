/** The document's own routes: /openapi.json (this document) and /docs (an interactive reference page). */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { errorResponses, OPEN_HEADERS } from '../../../shared/openapi/spec.ts';
import { ANY_ROUTE_ERRORS } from './common.ts';

export function registerDocsRoutes(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['docs'],
    summary: 'This OpenAPI 3.1 document (no key; cacheable)',
    responses: {
      200: {
        description: 'The document',
        headers: {
          ...OPEN_HEADERS,
          'cache-control': { description: 'Public, cacheable', required: true, schema: { type: 'string' } },
          etag: { description: "The document's hash", required: true, schema: { type: 'string' } },
        },
        content: { 'application/json': { schema: z.object({ openapi: z.string() }).loose() } },
      },
      304: { description: 'Not modified (If-None-Match matched the ETag)', headers: OPEN_HEADERS },
      ...errorResponses(ANY_ROUTE_ERRORS),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['docs'],
    summary: 'Interactive API reference (Scalar) over /openapi.json',
    responses: {
      200: {
        description: 'An HTML page',
        headers: OPEN_HEADERS,
        content: { 'text/html': { schema: { type: 'string' } } },
      },
      ...errorResponses(ANY_ROUTE_ERRORS),
    },
  });
}
