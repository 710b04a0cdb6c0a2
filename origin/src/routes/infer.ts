/**
 * POST /v2/models/{m}[/versions/{v}]/infer: OIP v2 inference, JSON or binary tensors (BYTES included). A text model
 * takes its public signature (`text` BYTES in, featurized here) or its raw ids (served-model.ts infer). Every answer carries
 * `x-queue-depth` (rows queued for that model version, read by the edge's power-of-two-choices) and
 * `x-model-version`. The echo handler (POST .../echo, when enabled) decodes and validates the same way and answers
 * zeros without inference or metrics: the benchmark's HTTP-only ceiling.
 */
import type { Context } from 'hono';
import {
  decodeInferRequest,
  encodeInferResponse,
  HEADER_LENGTH_HEADER,
} from '../../../shared/protocol/index.ts';
import type { AppEnv } from '../env.ts';
import type { RouteDeps } from './deps.ts';
import { computeTiming, observeFailure, observeSuccess } from './observe.ts';
import { checkContentType, deadlineFrom, priorityFrom } from './request.ts';

function handler(deps: RouteDeps, echo: boolean) {
  const { config } = deps;
  return async function infer(c: Context<AppEnv>): Promise<Response> {
    const model = deps.registry().get(c.req.param('model') as string, c.req.param('version'));
    const started = c.get('started');
    try {
      const headerLength = c.req.header(HEADER_LENGTH_HEADER);
      checkContentType(c.req.header('content-type'), headerLength !== undefined);
      const request = decodeInferRequest(c.get('body') ?? new Uint8Array(0), { headerLength });
      let answer: Awaited<ReturnType<typeof model.infer>>;
      const cost = { computeMs: 0 };
      if (echo) {
        answer = model.echo(request);
      } else {
        const deadline = deadlineFrom(c.req.header('x-deadline-ms'), started, config.defaultTimeoutMs);
        const priority = priorityFrom(c.req.header('x-priority'));
        const signal = c.req.raw.signal; // aborts when the client (the edge's abandoned attempt) goes away
        answer = await model.infer(
          request,
          priority === undefined ? { deadline, signal, cost } : { deadline, priority, signal, cost },
        );
      }
      const encoded = encodeInferResponse({
        model_name: model.name,
        model_version: model.version,
        ...(request.id === undefined ? {} : { id: request.id }),
        // A text model with an OOD rule: coverage_items / ood_items per row (shared/protocol oodParameters).
        ...(Object.keys(answer.parameters).length === 0 ? {} : { parameters: answer.parameters }),
        outputs: answer.outputs,
      });
      const headers = observeSuccess(c, model, encoded.contentType, echo ? undefined : started);
      if (encoded.headerLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(encoded.headerLength);
      if (!echo) headers['server-timing'] = computeTiming(cost.computeMs);
      return new Response(encoded.body as Uint8Array<ArrayBuffer> | string, { status: 200, headers });
    } catch (err) {
      throw observeFailure(c, model, err, echo ? undefined : started);
    }
  };
}

export function inferHandler(deps: RouteDeps) {
  return handler(deps, false);
}

export function echoHandler(deps: RouteDeps) {
  return handler(deps, true);
}
