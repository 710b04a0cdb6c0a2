/**
 * The routes both tiers serve, for their OpenAPI documents: Open Inference Protocol v2 (health, server and model
 * metadata, readiness, infer in JSON or the binary tensor extension) and the text API (classify). The tiers differ in
 * who may call them (the edge: an API key; the origin: the edge's signature) and in the headers they add; `tier`
 * carries those differences.
 */
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { OipDatatype, TensorSpec } from '../manifest/index.ts';
import {
  HEADER_LENGTH_HEADER,
  InferRequestHeader,
  InferResponseHeader,
  ModelMetadata,
} from '../protocol/oip.ts';
import { ClassifyRequest, ClassifyResponse, Prediction } from '../protocol/text.ts';
import {
  type ErrorsByStatus,
  errorResponses,
  type HeaderSpec,
  jsonResponse,
  named,
  responseHeaders,
} from './spec.ts';

export interface TierSpec {
  /** Security and scope of the model routes (metadata, ready, infer, classify). */
  modelSecurity: Partial<RouteConfig>;
  /** Headers every model-route answer may carry. */
  modelHeaders: Record<string, HeaderSpec>;
  /** Extra headers of an answer with predictions (x-served-by, x-cache, ...). */
  answerHeaders: Record<string, HeaderSpec>;
  /** Request headers the tier reads on prediction routes (x-escalate, x-deadline-ms, ...). */
  answerRequestHeaders: z.ZodObject;
  /** Errors of the model metadata and ready routes. */
  metadataErrors: ErrorsByStatus;
  /** Errors of infer and classify. */
  predictErrors: ErrorsByStatus;
  /** Errors of the readiness route. */
  readyErrors: ErrorsByStatus;
  /** Extra description per operation (tier behaviour). */
  notes: { infer: string; classify: string; metadata: string };
}

const ModelParam = z.string().meta({ description: 'Model name (e.g. `spam`, `digits`)', example: 'spam' });
const VersionParam = z
  .string()
  .meta({ description: 'A release version of the model', example: '2026-12-07.563707c0e1' });

/** Unpinned and version-pinned paths of a model route (OpenAPI path syntax). */
function modelPaths(suffix: string): Array<{ path: string; params: z.ZodObject }> {
  return [
    { path: `/v2/models/{model}${suffix}`, params: z.object({ model: ModelParam }) },
    {
      path: `/v2/models/{model}/versions/{version}${suffix}`,
      params: z.object({ model: ModelParam, version: VersionParam }),
    },
  ];
}

export const ServerMetadataSchema = z.object({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});

const BINARY_DESCRIPTION =
  'The binary tensor extension (KServe / Triton): the JSON header first, its byte length in the ' +
  "`Inference-Header-Content-Length` header, then each binary tensor's bytes in order (little-endian; BYTES " +
  'elements as a 4-byte length then the UTF-8 bytes). Inputs marked `parameters.binary_data_size` take their ' +
  'data from the binary part.';

function binaryContent(header: z.ZodType): { schema: Record<string, unknown> } {
  return {
    schema: {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description: `${BINARY_DESCRIPTION} The JSON header follows the ${
        header === InferRequestHeader ? 'InferRequest' : 'InferResponse'
      } schema.`,
    },
  };
}

/** Registers the OIP v2 and text routes for one tier. */
export function registerModelRoutes(registry: OpenAPIRegistry, tier: TierSpec): void {
  named(OipDatatype, 'OipDatatype');
  named(TensorSpec, 'TensorSpec');
  named(ServerMetadataSchema, 'ServerMetadata');
  named(ModelMetadata, 'ModelMetadata');
  named(InferRequestHeader, 'InferRequest');
  named(InferResponseHeader, 'InferResponse');
  named(ClassifyRequest, 'ClassifyRequest');
  named(Prediction, 'Prediction');
  named(ClassifyResponse, 'ClassifyResponse');

  registry.registerPath({
    method: 'get',
    path: '/v2/health/live',
    tags: ['health'],
    summary: 'Liveness (OIP v2)',
    responses: {
      200: jsonResponse('The server is live', z.object({ live: z.literal(true) })),
      ...errorResponses({ 503: ['unavailable'] }),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v2/health/ready',
    tags: ['health'],
    summary: 'Readiness (OIP v2)',
    responses: {
      200: jsonResponse('The server can answer inference requests', z.object({ ready: z.literal(true) })),
      ...errorResponses(tier.readyErrors),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v2',
    tags: ['health'],
    summary: 'Server metadata (OIP v2)',
    responses: {
      200: jsonResponse('Name, version and protocol extensions', ServerMetadataSchema),
      ...errorResponses({ 503: ['unavailable'] }),
    },
  });

  const modelErrors = (errors: ErrorsByStatus) => errorResponses(errors, tier.modelHeaders);
  for (const { path, params } of modelPaths('')) {
    registry.registerPath({
      method: 'get',
      path,
      tags: ['oip'],
      summary: 'Model metadata (OIP v2)',
      description: tier.notes.metadata,
      ...tier.modelSecurity,
      request: { params },
      responses: {
        200: jsonResponse(
          "The model's name, versions, platform and public signature",
          ModelMetadata,
          tier.modelHeaders,
        ),
        ...modelErrors(tier.metadataErrors),
      },
    });
  }
  for (const { path, params } of modelPaths('/ready')) {
    registry.registerPath({
      method: 'get',
      path,
      tags: ['oip'],
      summary: 'Model readiness (OIP v2)',
      ...tier.modelSecurity,
      request: { params },
      responses: {
        200: jsonResponse(
          'The model (version) can answer',
          z.object({ name: z.string(), ready: z.boolean() }),
          tier.modelHeaders,
        ),
        ...modelErrors(tier.metadataErrors),
      },
    });
  }
  const answered = { ...tier.modelHeaders, ...tier.answerHeaders };
  for (const { path, params } of modelPaths('/infer')) {
    registry.registerPath({
      method: 'post',
      path,
      tags: ['oip'],
      summary: 'Inference (OIP v2, JSON or binary tensor extension)',
      description: tier.notes.infer,
      ...tier.modelSecurity,
      request: {
        params,
        headers: tier.answerRequestHeaders.extend({
          [HEADER_LENGTH_HEADER]: z
            .string()
            .regex(/^\d+$/)
            .optional()
            .meta({ description: 'Byte length of the JSON header of a binary-extension body' }),
        }),
        body: {
          required: true,
          content: {
            'application/json': { schema: InferRequestHeader },
            'application/octet-stream': binaryContent(InferRequestHeader),
          },
        },
      },
      responses: {
        200: {
          description: 'Outputs in input order (binary outputs when asked for with `binary_data`)',
          headers: responseHeaders(answered),
          content: {
            'application/json': { schema: InferResponseHeader },
            'application/octet-stream': binaryContent(InferResponseHeader),
          },
        },
        ...modelErrors(tier.predictErrors),
      },
    });
  }
  const classifyPaths = [
    { path: '/v1/models/{model}/classify', params: z.object({ model: ModelParam }) },
    {
      path: '/v1/models/{model}/versions/{version}/classify',
      params: z.object({ model: ModelParam, version: VersionParam }),
    },
  ];
  for (const { path, params } of classifyPaths) {
    registry.registerPath({
      method: 'post',
      path,
      tags: ['text'],
      summary: 'Classify texts',
      description: tier.notes.classify,
      ...tier.modelSecurity,
      request: {
        params,
        headers: tier.answerRequestHeaders,
        body: { required: true, content: { 'application/json': { schema: ClassifyRequest } } },
      },
      responses: {
        200: jsonResponse('One prediction per text, in order', ClassifyResponse, answered),
        ...modelErrors(tier.predictErrors),
      },
    });
  }
}
