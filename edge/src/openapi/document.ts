/**
 * The edge's OpenAPI 3.1 document, generated from the zod schemas the routes validate with. `npm run openapi`
 * writes it to edge/openapi.json (committed; the Worker serves that file at /openapi.json) and the typed client's
 * types from it; scripts/openapi.test.ts fails when the committed files are not current.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { BEFORE_ROUTING } from '../../../shared/openapi/contract.ts';
import {
  errorDefinitions,
  registerSecuritySchemes,
  withHeaderComponents,
} from '../../../shared/openapi/spec.ts';
import { registerAdminRoutes } from './admin.ts';
import { AUTH_ERRORS } from './common.ts';
import { registerConsoleRoutes } from './console.ts';
import { registerDocsRoutes } from './docs.ts';
import { registerJobRoutes } from './jobs.ts';
import { registerEdgeModelRoutes } from './models.ts';
import { registerReviewRoutes } from './review.ts';
import { registerTenantRoutes } from './tenants.ts';

export const EDGE_API_VERSION = '1.0.0';

export function edgeDocument(): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);
  registerEdgeModelRoutes(registry);
  registerJobRoutes(registry);
  registerReviewRoutes(registry);
  registerAdminRoutes(registry);
  registerTenantRoutes(registry);
  registerConsoleRoutes(registry);
  registerDocsRoutes(registry);
  const doc = new OpenApiGeneratorV31([...registry.definitions, ...errorDefinitions()]).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Edge inference API',
      version: EDGE_API_VERSION,
      description:
        'The edge tier (a Cloudflare Worker): text classification and Open Inference Protocol v2, answered at ' +
        'the edge when a small model is sure and escalated to the origin pool otherwise; asynchronous jobs; human ' +
        'review; rollout, registry, tenants, keys and usage administration. Every error has one shape, ' +
        '`{error: {code, message, request_id}}`, with a stable `code` (see ErrorCode).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:8787', description: 'npm start (local stack)' }],
    tags: [
      { name: 'health', description: 'Liveness, readiness, server metadata (no key)' },
      { name: 'text', description: 'The text API' },
      { name: 'oip', description: 'Open Inference Protocol v2 (KServe / Triton)' },
      { name: 'jobs', description: 'Asynchronous batch inference' },
      { name: 'review', description: 'Human review of what no model is sure of' },
      { name: 'rollout', description: 'Versions, shadow, canary, promote, rollback' },
      { name: 'registry', description: 'The model registry in R2' },
      { name: 'ops', description: 'Statistics and origin pools' },
      { name: 'tenants', description: 'Tenants, API keys, audit' },
      { name: 'usage', description: 'Metered usage' },
      { name: 'console', description: "The web console's sessions" },
      { name: 'docs', description: 'This document and its reference page' },
    ],
  });
  // Auth and the limits run before routing under /v1/* and /v2/models/*: an unknown path there can get their refusal.
  return {
    ...withHeaderComponents(doc as unknown as Record<string, unknown>),
    [BEFORE_ROUTING]: AUTH_ERRORS,
  };
}
