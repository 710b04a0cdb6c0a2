/**
 * The origin's OpenAPI 3.1 document (served at /openapi.json; written to origin/openapi.json by `npm run openapi`):
 * its OIP v2 routes and the text route (shared/openapi/oip.ts, the same schemas as the edge's), /metrics, and the
 * operator's repository extension. Inference and model routes take the edge's timestamped HMAC signature, not a
 * key; the repository routes take the operator's admin token.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { BEFORE_ROUTING } from '../../shared/openapi/contract.ts';
import { registerModelRoutes } from '../../shared/openapi/oip.ts';
import {
  errorDefinitions,
  errorResponses,
  errorsOf,
  type HeaderSpec,
  jsonResponse,
  mergeErrors,
  OPEN_HEADERS,
  withHeaderComponents,
} from '../../shared/openapi/spec.ts';
import { InferRequestHeader, InferResponseHeader } from '../../shared/protocol/oip.ts';
import { SERVED_BY } from '../../shared/protocol/text.ts';

const SIGNATURE_DESCRIPTION =
  'The edge signs every POST and every model GET with a timestamped HMAC-SHA256 over\n\n' +
  '    v1\\n<METHOD>\\n<path and query>\\n<timestamp ms>\\n<nonce>\\n<sha256 hex of the body>[\\npriority:<n>]\n\n' +
  'sent as `x-signature-timestamp` (unix ms), `x-signature-nonce` (16-128 of [A-Za-z0-9_-], never reused within ' +
  'the replay window) and `x-signature` (lowercase hex); the last line is there when the request carries ' +
  '`x-priority` (the priority the edge decided). Secrets: ORIGIN_SIGNING_SECRET (a comma-separated list while ' +
  'rotating). Refusals are 401 `unauthorized`.';

const ORIGIN_HEADERS = {
  ...OPEN_HEADERS,
  'x-origin-pool': {
    description: "This origin's pool id (ORIGIN_POOL_ID), when set",
    schema: { type: 'string' },
  },
} satisfies Record<string, HeaderSpec>;

const ANSWER_HEADERS = {
  'x-served-by': { description: 'Always origin', schema: { type: 'string', enum: [...SERVED_BY] } },
  'x-model-version': {
    description: 'The release version that answered',
    required: true,
    schema: { type: 'string' },
  },
  'x-queue-depth': {
    description: "The model's batcher queue depth after this answer",
    schema: { type: 'integer' },
  },
  'x-origin-capacity': {
    description: 'Rows per second this origin can serve for the model (the edge routes on it)',
    schema: { type: 'integer' },
  },
  'server-timing': { description: 'compute;dur=<ms>: time in the model', schema: { type: 'string' } },
} satisfies Record<string, HeaderSpec>;

const SIGNED = errorsOf('unauthorized');
const BODY = errorsOf('invalid_json', 'payload_too_large', 'unsupported_media_type');

const RepositoryEntry = z.object({
  name: z.string(),
  version: z.string().optional(),
  state: z.enum(['READY', 'UNAVAILABLE']),
  source: z.enum(['repository', 'registry']),
  reason: z.string().optional(),
});

const predictErrors = mergeErrors(
  SIGNED,
  BODY,
  errorsOf(
    'bad_request',
    'invalid_input',
    'invalid_header',
    'not_found',
    'model_not_found',
    'queue_full',
    'not_ready',
    'unavailable',
    'deadline_exceeded',
  ),
);

export function originDocument(): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'edgeSignature', {
    type: 'apiKey',
    in: 'header',
    name: 'x-signature',
    description: SIGNATURE_DESCRIPTION,
  });
  registry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: "The operator's token (ORIGIN_ADMIN_TOKEN) for the repository extension",
  });
  registerModelRoutes(registry, {
    modelSecurity: { security: [{ edgeSignature: [] }] },
    modelHeaders: ORIGIN_HEADERS,
    answerHeaders: ANSWER_HEADERS,
    answerRequestHeaders: z.object({
      'x-deadline-ms': z
        .string()
        .optional()
        .meta({ description: "The request's remaining budget in ms (the edge's deadline); past it: 504" }),
      'x-priority': z
        .string()
        .optional()
        .meta({ description: 'Batcher priority decided by the edge from the caller tier (signed)' }),
      'x-request-id': z.string().optional().meta({ description: "The edge's request id (echoed)" }),
      traceparent: z.string().optional().meta({ description: 'W3C trace context' }),
    }),
    readyErrors: errorsOf('not_ready'),
    metadataErrors: mergeErrors(SIGNED, errorsOf('model_not_found', 'not_ready')),
    predictErrors,
    notes: {
      infer: 'Batched dynamically per model and version; the full model (teacher) answers.',
      classify: 'The text convenience route: the full model answers every text.',
      metadata: "The model's public signature, versions served and platform.",
    },
  });
  for (const path of ['/v2/models/{model}/echo', '/v2/models/{model}/versions/{version}/echo']) {
    registry.registerPath({
      method: 'post',
      path,
      tags: ['oip'],
      summary: 'Benchmarks only (ORIGIN_ECHO_ROUTE): the infer route without the model run',
      description:
        'Decodes and validates the request like infer, then answers zeros of the output shapes: what the HTTP and ' +
        'protocol work cost without inference. Served only when ORIGIN_ECHO_ROUTE is on.',
      security: [{ edgeSignature: [] }],
      request: {
        params: z.object({
          model: z.string(),
          ...(path.includes('{version}') ? { version: z.string() } : {}),
        }),
        body: { required: true, content: { 'application/json': { schema: InferRequestHeader } } },
      },
      responses: {
        200: jsonResponse('Zeros of the output shapes', InferResponseHeader, {
          ...ORIGIN_HEADERS,
          ...ANSWER_HEADERS,
        }),
        ...errorResponses(predictErrors, ORIGIN_HEADERS),
      },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    tags: ['health'],
    summary: 'Prometheus metrics (Triton-like names)',
    responses: {
      200: {
        description: 'Prometheus text exposition',
        content: { 'text/plain': { schema: { type: 'string' } } },
      },
    },
  });
  const repoErrors = mergeErrors(
    errorsOf('unauthorized', 'invalid_header', 'forbidden', 'not_ready'),
    BODY,
    errorsOf('invalid_input'),
  );
  registry.registerPath({
    method: 'post',
    path: '/v2/repository/index',
    tags: ['repository'],
    summary: 'What is served, and what the S3 registry offers',
    security: [{ adminToken: [] }],
    request: {
      body: {
        required: false,
        content: { 'application/json': { schema: z.object({ ready: z.boolean().optional() }) } },
      },
    },
    responses: {
      200: jsonResponse('Served and offered versions', z.array(RepositoryEntry), ORIGIN_HEADERS),
      ...errorResponses(repoErrors, ORIGIN_HEADERS),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v2/repository/models/{model}/load',
    tags: ['repository'],
    summary: "Read the model's registry index now; pull, load and retire what the version policy says",
    security: [{ adminToken: [] }],
    request: { params: z.object({ model: z.string() }) },
    responses: {
      200: jsonResponse(
        'What was loaded, refused, retired and is serving',
        z.object({
          model: z.string(),
          loaded: z.array(z.string()),
          refused: z.array(z.object({ version: z.string(), reason: z.string() })),
          errors: z.array(z.object({ version: z.string().optional(), reason: z.string() })),
          retired: z.array(z.string()),
          serving: z.array(z.string()),
        }),
        ORIGIN_HEADERS,
      ),
      ...errorResponses(mergeErrors(repoErrors, errorsOf('model_not_found', 'bad_gateway')), ORIGIN_HEADERS),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['docs'],
    summary: 'This document',
    responses: {
      200: jsonResponse('The document', z.object({ openapi: z.string() }).loose(), ORIGIN_HEADERS),
    },
  });
  const doc = new OpenApiGeneratorV31([...registry.definitions, ...errorDefinitions()]).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Origin inference API',
      version: '1.0.0',
      description:
        'An origin pool server: the full models behind a dynamic batcher, Open Inference Protocol v2 and the text ' +
        'route. Called by the edge (signed), scraped by Prometheus, managed by operators (repository extension).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
  });
  // The signature (or the admin token) and the body limit are checked before routing: an unknown path can get them.
  return {
    ...withHeaderComponents(doc as unknown as Record<string, unknown>),
    [BEFORE_ROUTING]: mergeErrors(SIGNED, errorsOf('invalid_header', 'forbidden', 'payload_too_large')),
  };
}
