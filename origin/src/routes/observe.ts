/**
 * The outcome of a model route, recorded once for both model routes (infer, classify): the answer's model headers
 * (x-model-version, x-queue-depth) on success and on failure, and the success and failure metrics. Plain calls from
 * the handler's own try/catch, so the hot path allocates no closure or extra promise for them.
 */
import type { Context } from 'hono';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { AppEnv } from '../env.ts';
import { baseHeaders } from '../middleware/request-context/index.ts';
import type { ServedModel } from '../model/index.ts';

/**
 * A model route answered: counts the success (unless `started` is undefined: the echo route) and returns the
 * answer's headers: the base headers, content-type, x-model-version and x-queue-depth.
 */
export function observeSuccess(
  c: Context<AppEnv>,
  model: ServedModel,
  contentType: string,
  started: number | undefined,
): Record<string, string> {
  if (started !== undefined) model.metrics.success((performance.now() - started) / 1000);
  const headers = baseHeaders(c);
  headers['content-type'] = contentType;
  headers['x-model-version'] = model.version;
  headers['x-queue-depth'] = String(model.queueDepth);
  headers['x-origin-capacity'] = String(model.capacity);
  return headers;
}

/**
 * The `Server-Timing` entry of a model answer: its share of the model's run time, ms (the edge meters it per
 * tenant as origin compute).
 */
export function computeTiming(ms: number): string {
  return `compute;dur=${ms.toFixed(3)}`;
}

/**
 * A model route failed with `err`: the error answer (built by onError) carries x-model-version and x-queue-depth
 * too, and the failure metric counts it under its error code (unless `started` is undefined: the echo route).
 * Returns `err`, for `throw observeFailure(...)`.
 */
export function observeFailure(
  c: Context<AppEnv>,
  model: ServedModel,
  err: unknown,
  started: number | undefined,
): unknown {
  c.set('errorHeaders', {
    'x-model-version': model.version,
    'x-queue-depth': String(model.queueDepth),
    'x-origin-capacity': String(model.capacity),
  });
  if (started !== undefined) {
    const reason = err instanceof InferenceError ? err.code : 'internal';
    model.metrics.failure(reason, (performance.now() - started) / 1000);
  }
  return err;
}
