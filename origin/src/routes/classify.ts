/**
 * POST /v1/models/{m}[/versions/{v}]/classify: the text API. Featurizes each text with the featurizer the
 * model's manifest names, runs the rows as one batch item, and maps probabilities to labels. A model without a
 * featurizer answers 404 `not_found` naming the /v2 infer route instead.
 */
import type { Context, Hono } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import {
  type ClassifyResponse,
  JSON_CONTENT_TYPE,
  parseClassifyRequest,
} from '../../../shared/protocol/index.ts';
import { type AppEnv, baseHeaders, deadlineFrom, mediaType, priorityFrom } from '../http.ts';
import type { RouteDeps } from './deps.ts';
import { failureReason } from './infer.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

export function classifyRoutes(app: Hono<AppEnv>, deps: RouteDeps): void {
  async function classifyHandler(c: Context<AppEnv>): Promise<Response> {
    const model = deps.registry().get(c.req.param('model') as string, c.req.param('version'));
    if (!model.hasFeaturizer) {
      throw new InferenceError(
        'not_found',
        `model '${model.name}' has no text route (its manifest names no featurizer); use POST /v2/models/${model.name}/infer`,
      );
    }
    const started = c.get('started');
    try {
      const type = mediaType(c.req.header('content-type'));
      if (type !== '' && type !== JSON_CONTENT_TYPE) {
        throw new InferenceError(
          'unsupported_media_type',
          `content-type ${type} is not accepted: send ${JSON_CONTENT_TYPE}`,
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(decoder.decode(c.get('body') ?? new Uint8Array(0)));
      } catch (err) {
        throw new InferenceError(
          'invalid_json',
          `request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`,
        );
      }
      const texts = parseClassifyRequest(json);
      if (texts.length > model.batcher.maxBatchRows) {
        throw new InvalidInputError(
          `${texts.length} texts exceed this model's max batch of ${model.batcher.maxBatchRows}; split the request`,
        );
      }
      const deadline = deadlineFrom(c.req.header('x-deadline-ms'), started, deps.config.defaultTimeoutMs);
      const priority = priorityFrom(undefined, c.req.header('x-priority'));
      const predictions = await model.classify(
        texts,
        priority === undefined ? { deadline } : { deadline, priority },
      );
      const body: ClassifyResponse = {
        model: model.name,
        version: model.version,
        predictions,
        served_by: 'origin',
        request_id: c.get('requestId'),
      };
      model.metrics.success((performance.now() - started) / 1000);
      const headers = baseHeaders(c);
      headers['content-type'] = 'application/json';
      headers['x-model-version'] = model.version;
      headers['x-queue-depth'] = String(model.queueDepth);
      headers['x-served-by'] = 'origin';
      return new Response(JSON.stringify(body), { status: 200, headers });
    } catch (err) {
      c.set('errorHeaders', { 'x-model-version': model.version, 'x-queue-depth': String(model.queueDepth) });
      model.metrics.failure(failureReason(err), (performance.now() - started) / 1000);
      throw err;
    }
  }
  app.post('/v1/models/:model/classify', classifyHandler);
  app.post('/v1/models/:model/versions/:version/classify', classifyHandler);
}
