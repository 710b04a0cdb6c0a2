/**
 * The edge's model routes (OIP v2 and the text API; shared/openapi/oip.ts) with what the edge adds: an API key with
 * the infer scope, the cascade's answer headers, the client's controls (x-escalate, x-deadline-ms, cache-control)
 * and the errors the cascade can answer.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { registerModelRoutes } from '../../../shared/openapi/oip.ts';
import { errorsOf, type HeaderSpec, needs } from '../../../shared/openapi/spec.ts';
import { SERVED_BY } from '../../../shared/protocol/text.ts';
import { authErrors, LIMITED_HEADERS } from './common.ts';

/** Headers of an answer with predictions (the cascade's contract). */
export const ANSWER_HEADERS = {
  'x-served-by': {
    description:
      'The most expensive path any item took: cache < edge < edge-degraded < origin (edge-degraded: the origin ' +
      'failed and the edge answer was returned)',
    required: true,
    schema: { type: 'string', enum: [...SERVED_BY] },
  },
  'x-served-by-counts': {
    description: 'Items per path, e.g. `edge=3, origin=1`',
    schema: { type: 'string' },
  },
  'x-model-version': {
    description: 'The release version that answered',
    required: true,
    schema: { type: 'string' },
  },
  'x-cache': {
    description:
      'Result cache: HIT (every item from cache), MISS, BYPASS (cache-control: no-cache or not cacheable)',
    schema: { type: 'string', enum: ['HIT', 'MISS', 'BYPASS'] },
  },
  'x-cache-tier': { description: 'Which cache tiers answered (L0, L1, L2)', schema: { type: 'string' } },
  'x-escalation-reason': {
    description: 'Why items went to the origin (low_confidence, ood, heavy, forced, model_loading, ...)',
    schema: { type: 'string' },
  },
  'x-degraded-reason': {
    description: 'Why the origin could not answer escalated items (served_by edge-degraded)',
    schema: { type: 'string' },
  },
  'x-origin-pool': {
    description: 'The origin pool that answered escalated items',
    schema: { type: 'string' },
  },
} satisfies Record<string, HeaderSpec>;

/** The client's controls on prediction routes. */
export const AnswerRequestHeaders = z.object({
  'x-escalate': z.enum(['auto', 'always', 'never']).optional().meta({
    description: 'auto (default): the cascade decides; always: the origin answers; never: the edge answers',
  }),
  'x-deadline-ms': z
    .string()
    .regex(/^\d{1,9}$/)
    .optional()
    .meta({ description: "The request's time budget in ms (capped by the edge's deadline); past it: 504" }),
  'cache-control': z
    .string()
    .optional()
    .meta({ description: '`no-cache`: skip the result-cache read; `no-store`: skip the write' }),
  'x-request-id': z
    .string()
    .optional()
    .meta({ description: 'Your id for the request (echoed; else a UUID)' }),
  traceparent: z.string().optional().meta({ description: 'W3C trace context, forwarded to the origin' }),
});

export function registerEdgeModelRoutes(registry: OpenAPIRegistry): void {
  registerModelRoutes(registry, {
    modelSecurity: needs('infer'),
    modelHeaders: LIMITED_HEADERS,
    answerHeaders: ANSWER_HEADERS,
    answerRequestHeaders: AnswerRequestHeaders,
    readyErrors: errorsOf('not_ready', 'unavailable'),
    metadataErrors: authErrors(
      errorsOf('forbidden', 'model_not_found', 'not_ready', 'bad_gateway', 'deadline_exceeded'),
    ),
    predictErrors: authErrors(
      errorsOf(
        'bad_request',
        'invalid_json',
        'invalid_input',
        'forbidden',
        'not_found',
        'model_not_found',
        'method_not_allowed',
        'payload_too_large',
        'unsupported_media_type',
        'queue_full',
        'not_ready',
        'bad_gateway',
        'deadline_exceeded',
      ),
    ),
    notes: {
      infer:
        "Answered at the edge when the model's release is here and the request speaks its public signature (a " +
        'text release: one BYTES input `text`; a tensor release: its inputs); items the edge is not sure of go to ' +
        'the origin pool. Anything else (other outputs, models or versions) is proxied to the origin.',
      classify:
        'Each text is answered by the cheapest path that is sure: the result cache, the edge model, else the ' +
        'origin (per item). If the origin fails, the edge answer is returned with `served_by: edge-degraded`.',
      metadata: 'Answered at the edge for releases it holds; proxied to the origin otherwise.',
    },
  });
}
