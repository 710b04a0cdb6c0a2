/** POST /v1/models/{model}[/versions/{version}]/classify: the public text API. */
import type { Context } from 'hono';
import { noTextRouteError } from '../../../shared/protocol/tensor.ts';
import { parseClassifyRequest } from '../../../shared/protocol/text.ts';
import { type AnswerDeps, answerTexts, parseEscalateHeader } from '../cascade/index.ts';
import { isTensorRelease, releaseFor } from '../model/edge-model.ts';
import type { AppEnv } from '../types.ts';
import { modelParams, readJson, requestDeadline, requireJson } from './request.ts';

export function classifyHandler(deps: AnswerDeps) {
  return async function classify(c: Context<AppEnv>): Promise<Response> {
    const config = c.get('config');
    const { model, version } = modelParams(c);
    // A tensor release (no featurizer) has no text route, at either tier.
    const release = releaseFor(deps.releases(), model);
    if (release !== undefined && isTensorRelease(release)) throw noTextRouteError(model);
    const mode = parseEscalateHeader(c.req.header('x-escalate'));
    const deadline = requestDeadline(c, config.requestDeadlineMs, deps.now());
    requireJson(c);
    const texts = parseClassifyRequest(await readJson(c));
    const answer = await answerTexts(c, deps, { model, version, texts, mode, deadline });
    if ('passthrough' in answer) {
      return new Response(answer.passthrough.body, {
        status: answer.passthrough.status,
        headers: {
          'content-type': answer.passthrough.headers.get('content-type') ?? 'application/json',
          ...answer.headers,
        },
      });
    }
    return c.json(
      {
        model: answer.model,
        version: answer.version,
        predictions: answer.predictions,
        served_by: answer.served_by,
        served_by_counts: answer.served_by_counts,
        request_id: c.get('requestId'),
      },
      200,
      answer.headers,
    );
  };
}
