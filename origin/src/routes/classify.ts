/**
 * POST /v1/models/{m}[/versions/{v}]/classify: the text API. Featurizes each text with the featurizer the
 * model's manifest names, runs the rows as one batch item, and maps probabilities to labels. A model without a
 * featurizer answers 404 `not_found` naming the /v2 infer route instead.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { parseJsonBody } from '../../../shared/http/index.ts';
import {
  type ClassifyResponse,
  JSON_CONTENT_TYPE,
  parseClassifyRequest,
} from '../../../shared/protocol/index.ts';
import type { AppEnv } from '../env.ts';
import type { RouteDeps } from './deps.ts';
import { computeTiming, observeFailure, observeSuccess } from './observe.ts';
import { deadlineFrom, priorityFrom, requireJson } from './request.ts';

export function classifyHandler(deps: RouteDeps) {
  const { config } = deps;
  return async function classify(c: Context<AppEnv>): Promise<Response> {
    const model = deps.registry().get(c.req.param('model') as string, c.req.param('version'));
    if (!model.hasFeaturizer) {
      throw new InferenceError(
        'not_found',
        `model '${model.name}' has no text route (its manifest names no featurizer); use POST /v2/models/${model.name}/infer`,
      );
    }
    const started = c.get('started');
    try {
      requireJson(c.req.header('content-type'));
      const texts = parseClassifyRequest(parseJsonBody(c.get('body') ?? new Uint8Array(0)));
      if (texts.length > model.batcher.maxBatchRows) {
        throw new InvalidInputError(
          `${texts.length} texts exceed this model's max batch of ${model.batcher.maxBatchRows}; split the request`,
        );
      }
      const deadline = deadlineFrom(c.req.header('x-deadline-ms'), started, config.defaultTimeoutMs);
      const priority = priorityFrom(c.req.header('x-priority'));
      const cost = { computeMs: 0 };
      const predictions = await model.classify(
        texts,
        priority === undefined
          ? { deadline, signal: c.req.raw.signal, cost }
          : { deadline, priority, signal: c.req.raw.signal, cost },
      );
      const body: ClassifyResponse = {
        model: model.name,
        version: model.version,
        predictions,
        served_by: 'origin',
        request_id: c.get('requestId'),
      };
      const headers = observeSuccess(c, model, JSON_CONTENT_TYPE, started);
      headers['x-served-by'] = 'origin';
      headers['server-timing'] = computeTiming(cost.computeMs);
      return new Response(JSON.stringify(body), { status: 200, headers });
    } catch (err) {
      throw observeFailure(c, model, err, started);
    }
  };
}
