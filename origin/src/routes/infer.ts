/**
 * POST /v2/models/{m}[/versions/{v}]/infer: OIP v2 inference, JSON or binary tensors. Every answer carries
 * `x-queue-depth` (rows queued for that model version, read by the edge's power-of-two-choices) and
 * `x-model-version`. With the echo route enabled, POST .../echo decodes and validates the same way and answers
 * zeros without inference: the benchmark's HTTP-only ceiling.
 */
import type { Context, Hono } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import {
  BINARY_CONTENT_TYPE,
  decodeInferRequest,
  encodeInferResponse,
  HEADER_LENGTH_HEADER,
  JSON_CONTENT_TYPE,
} from '../../../shared/protocol/index.ts';
import { type AppEnv, baseHeaders, deadlineFrom, mediaType, priorityFrom } from '../http.ts';
import type { RouteDeps } from './deps.ts';

/** The stable code of an error, for the failure metric's `reason` label. */
export function failureReason(err: unknown): string {
  return err instanceof InferenceError ? err.code : 'internal';
}

/** 415 unless the content type suits the body: JSON, or octet-stream/JSON under the binary extension. */
export function checkContentType(contentType: string | undefined, binary: boolean): void {
  const type = mediaType(contentType);
  if (type === '' || type === JSON_CONTENT_TYPE || (binary && type === BINARY_CONTENT_TYPE)) return;
  throw new InferenceError(
    'unsupported_media_type',
    binary
      ? `content-type ${type} is not accepted: send ${BINARY_CONTENT_TYPE} (or ${JSON_CONTENT_TYPE}) with Inference-Header-Content-Length`
      : `content-type ${type} is not accepted: send ${JSON_CONTENT_TYPE}, or binary tensors with Inference-Header-Content-Length`,
  );
}

export function inferRoutes(app: Hono<AppEnv>, deps: RouteDeps): void {
  const { config } = deps;

  const handler = (echo: boolean) =>
    async function inferHandler(c: Context<AppEnv>): Promise<Response> {
      const model = deps.registry().get(c.req.param('model') as string, c.req.param('version'));
      const started = c.get('started');
      try {
        const headerLength = c.req.header(HEADER_LENGTH_HEADER);
        checkContentType(c.req.header('content-type'), headerLength !== undefined);
        const request = decodeInferRequest(c.get('body') ?? new Uint8Array(0), { headerLength });
        const { item, outputs } = model.prepare(request);
        let result: ReturnType<typeof model.echo>;
        if (echo) {
          result = model.echo(item);
        } else {
          const deadline = deadlineFrom(c.req.header('x-deadline-ms'), started, config.defaultTimeoutMs);
          const priority = priorityFrom(request.parameters.priority, c.req.header('x-priority'));
          result = await model.run(item, priority === undefined ? { deadline } : { deadline, priority });
        }
        const encoded = encodeInferResponse({
          model_name: model.name,
          model_version: model.version,
          ...(request.id === undefined ? {} : { id: request.id }),
          outputs: model.select(result, outputs),
        });
        const headers = baseHeaders(c);
        headers['content-type'] = encoded.contentType;
        headers['x-model-version'] = model.version;
        headers['x-queue-depth'] = String(model.queueDepth);
        if (encoded.headerLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(encoded.headerLength);
        if (!echo) model.metrics.success((performance.now() - started) / 1000);
        return new Response(encoded.body as Uint8Array<ArrayBuffer> | string, { status: 200, headers });
      } catch (err) {
        c.set('errorHeaders', {
          'x-model-version': model.version,
          'x-queue-depth': String(model.queueDepth),
        });
        if (!echo) model.metrics.failure(failureReason(err), (performance.now() - started) / 1000);
        throw err;
      }
    };

  app.post('/v2/models/:model/infer', handler(false));
  app.post('/v2/models/:model/versions/:version/infer', handler(false));
  if (config.echoRoute) {
    app.post('/v2/models/:model/echo', handler(true));
    app.post('/v2/models/:model/versions/:version/echo', handler(true));
  }
}
