/**
 * The reviewer API (edge/src/review/routes.ts over the review queue Durable Object, review/queue.ts): the items no
 * model was sure of, listed per model, labelled by people, and exported as training data. Keys with the `reviewer`
 * or `admin` scope only.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  errorResponses,
  errorsOf,
  jsonResponse,
  named,
  ndjsonMedia,
  needs,
  registerSchema,
  responseHeaders,
} from '../../../shared/openapi/spec.ts';
import { SERVED_BY } from '../../../shared/protocol/text.ts';
import { authErrors, LIMITED_HEADERS } from './common.ts';

/** Most items one page holds (review/queue.ts MAX_PAGE; that module needs workerd, so it is not imported here). */
const MAX_PAGE = 100;

const MODEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';
const Timestamp = z.string().meta({ description: 'ISO 8601, UTC', example: '2026-12-07T10:00:00.000Z' });

const ReviewReason = named(
  z.enum(['teacher_unsure', 'out_of_distribution']).meta({
    description:
      "Why the item came: `teacher_unsure` (the teacher's top probability under the release's review " +
      'threshold) or `out_of_distribution`',
  }),
  'ReviewReason',
);

export const ReviewItemSchema = named(
  z
    .object({
      id: z.string().meta({ description: '`rv_` and 32 hex digits (a hash of the model and the text)' }),
      model: z.string(),
      version: z.string().meta({ description: 'The release version that answered' }),
      labels: z.array(z.string()).meta({ description: "The model's labels: a label must be one of them" }),
      text: z.string().meta({ description: 'The input' }),
      reason: ReviewReason,
      answer: z
        .object({ label: z.string(), score: z.number(), served_by: z.enum(SERVED_BY) })
        .meta({ description: 'What the client was answered' }),
      student: z
        .object({ label: z.string(), score: z.number() })
        .nullable()
        .meta({ description: "The edge student's answer (null when the edge did not run)" }),
      request_id: z.string().meta({ description: 'The request that first brought the item' }),
      created_at: Timestamp,
      seen: z.number().int().min(1).meta({ description: 'How many times the input was routed to review' }),
      label: z.string().nullable().meta({
        description: 'The final label, what training gets (null: waiting for labels or a decision)',
      }),
      labelled_by: z
        .string()
        .nullable()
        .meta({ description: 'Who gave it: the key name(s), or `<admin> (decision)`' }),
      labelled_at: Timestamp.nullable(),
      status: z.enum(['open', 'disputed', 'done']).meta({
        description:
          'open: waiting for labels; disputed: two reviewers disagreed, an admin decides; done: final',
      }),
      votes_needed: z.number().int().min(1).meta({
        description: 'Labels from different reviewers it needs (2 for the REVIEW_DOUBLE_SHARE items)',
      }),
      votes: z
        .array(z.object({ by: z.string(), label: z.string(), at: Timestamp }))
        .meta({ description: 'The labels given so far, one per reviewer' }),
      leased_by: z
        .string()
        .nullable()
        .meta({ description: 'The reviewer whose screen it is on (a lease from /v1/review/next), or null' }),
      lease_until: Timestamp.nullable(),
    })
    .meta({ description: 'An input no model was sure of, and its label once a reviewer gave one' }),
  'ReviewItem',
);

const ReviewLabelEvent = z.object({
  label: z.string(),
  by: z.string().meta({ description: 'The name of the key that gave it' }),
  at: Timestamp,
});

const ReviewItemDetail = named(
  ReviewItemSchema.extend({
    history: z.array(ReviewLabelEvent).meta({ description: 'Every label given, oldest first' }),
  }),
  'ReviewItemDetail',
);

const count = (description: string) => z.number().int().meta({ description });

const ReviewQueueState = named(
  z.object({
    max_pending: count('REVIEW_MAX_PENDING: above it a weighted sample of the items is kept'),
    received: count('Items routed to review'),
    folded: count('Exact or near duplicates of an item already queued (counted on it: its `seen`)'),
    admitted: count('New items queued'),
    rejected: count("New items not kept: the queue was full and their sample key under every pending one's"),
    evicted: count('Pending items dropped for a new one that the sample favours (more uncertain or novel)'),
    expired: count('Unlabelled items past REVIEW_PENDING_TTL_DAYS'),
    labelled: count('Items given their first label'),
    pending: count('Unlabelled items now: admitted - evicted - expired - labelled'),
    double_agreed: count('Items labelled twice whose labels agreed'),
    double_disputed: count(
      'Items labelled twice whose labels disagreed (agreement = agreed / (agreed + disputed))',
    ),
  }),
  'ReviewQueueState',
).meta({
  description:
    "Where the model's review submissions went: received = folded + admitted + rejected; sampled out = rejected + evicted",
});

const ReviewPage = named(
  z.object({
    model: z.string(),
    state: z.enum(['pending', 'labelled', 'disputed']),
    items: z.array(ReviewItemSchema).meta({ description: 'Oldest first' }),
    cursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `?cursor=` for the next page; null on the last' }),
    pending: z.number().int().nonnegative().meta({ description: "The model's pending items, all pages" }),
    queue: ReviewQueueState,
  }),
  'ReviewPage',
);

const ReviewLabelRequest = named(
  z.object({
    label: z.string().meta({ description: "One of the item's `labels`" }),
  }),
  'ReviewLabelRequest',
);

const ReviewExportLine = named(
  z.object({
    key: z
      .string()
      .meta({ description: '`review/<item id>`: the split key for training', example: 'review/rv_0123' }),
    text: z.string(),
    label: z.string(),
    model: z.string(),
    version: z.string(),
    reason: ReviewReason,
    labelled_by: z.string(),
    labelled_at: Timestamp,
  }),
  'ReviewExportLine',
);

const ModelQuery = z
  .string()
  .regex(new RegExp(MODEL_PATTERN))
  .meta({ description: 'The model name (400 when absent or malformed)', example: 'spam' });

const ItemParams = z.object({
  id: z.string().meta({
    description: 'The item id, `rv_` and 32 hex digits (any other id is 404)',
    example: 'rv_0123456789abcdef0123456789abcdef',
  }),
});

const REVIEWER_NOTE = 'Keys with the reviewer or admin scope (403 otherwise).';

export function registerReviewRoutes(registry: OpenAPIRegistry): void {
  registerSchema(registry, ReviewExportLine);

  registry.registerPath({
    method: 'get',
    path: '/v1/review',
    tags: ['review'],
    summary: 'List review items',
    description: `A page of a model's items, oldest first: pending ones (no label yet) or labelled ones. ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: {
      query: z.object({
        model: ModelQuery,
        state: z.enum(['pending', 'labelled', 'disputed']).optional().meta({
          description:
            'pending (default): no final label yet; labelled: final; disputed: waiting for an admin',
        }),
        cursor: z
          .string()
          .regex(/^\d{1,12}$/)
          .optional()
          .meta({ description: 'The `cursor` of the previous page' }),
        limit: z
          .number()
          .int()
          .min(1)
          .max(MAX_PAGE)
          .optional()
          .meta({ description: `Items per page, 1 to ${MAX_PAGE} (default 50)` }),
      }),
    },
    responses: {
      200: jsonResponse('A page of items', ReviewPage, LIMITED_HEADERS),
      ...errorResponses(authErrors(errorsOf('invalid_input', 'forbidden', 'unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/review/export',
    tags: ['review'],
    summary: 'Export labelled items',
    description:
      "A model's labelled items as NDJSON training data, in the order the items came (`npm run train -- " +
      `--extra <file>\` takes them; their keys split them like the corpus). ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: { query: z.object({ model: ModelQuery }) },
    responses: {
      200: {
        description: 'One ReviewExportLine per labelled item',
        headers: responseHeaders(LIMITED_HEADERS),
        content: {
          'application/x-ndjson': ndjsonMedia(
            'ReviewExportLine',
            'NDJSON: one JSON object per line (`\\n` terminated), one per labelled item, in the order the ' +
              'items came: `{key, text, label, model, version, reason, labelled_by, labelled_at}` (each line a ' +
              'ReviewExportLine); empty when none is labelled',
          ),
        },
      },
      ...errorResponses(authErrors(errorsOf('invalid_input', 'forbidden', 'unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/review/{id}',
    tags: ['review'],
    summary: 'A review item',
    description: `One item and every label given to it. ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: { params: ItemParams },
    responses: {
      200: jsonResponse('The item and its label history', ReviewItemDetail, LIMITED_HEADERS),
      ...errorResponses(authErrors(errorsOf('not_found', 'forbidden', 'unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/review/next',
    tags: ['review'],
    summary: 'The next item to label, leased to the caller',
    description:
      "The model's oldest open item the calling key has not labelled and no other reviewer holds, leased to the " +
      'caller for REVIEW_LEASE_SECONDS (asking again renews it): two reviewers never label the same item by ' +
      `accident. \`item: null\` when nothing is left. \`after\` skips: only items queued after that one qualify, ` +
      `and the caller's lease on it ends. ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: {
      query: z.object({
        model: z.string().regex(new RegExp(MODEL_PATTERN)),
        after: z
          .string()
          .regex(/^rv_[0-9a-f]{32}$/)
          .optional()
          .meta({
            description: 'Skip to items queued after this item id (the console’s `j`)',
            example: 'rv_0123456789abcdef0123456789abcdef',
          }),
      }),
    },
    responses: {
      200: jsonResponse(
        'The leased item, or null',
        z.object({ model: z.string(), item: z.union([ReviewItemSchema, z.null()]) }),
        LIMITED_HEADERS,
      ),
      ...errorResponses(authErrors(errorsOf('invalid_input', 'forbidden', 'unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'delete',
    path: '/v1/review/{id}/label',
    tags: ['review'],
    summary: "Take the caller's label back (undo)",
    description: `The item waits for a label again (unless other labels settle it). 409 when the caller gave none. ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: { params: ItemParams },
    responses: {
      200: jsonResponse('The item', ReviewItemSchema, LIMITED_HEADERS),
      ...errorResponses(
        authErrors(errorsOf('not_found', 'conflict', 'forbidden', 'unavailable')),
        LIMITED_HEADERS,
      ),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/review/{id}/decide',
    tags: ['review'],
    summary: "An admin's final label (for disputed items)",
    description:
      'Sets the final label whatever the reviewers said: how a disagreement between two reviewers reaches ' +
      'training. Admin keys only.',
    ...needs('admin'),
    request: {
      params: ItemParams,
      body: { required: true, content: { 'application/json': { schema: ReviewLabelRequest } } },
    },
    responses: {
      200: jsonResponse('The item, decided', ReviewItemSchema, LIMITED_HEADERS),
      ...errorResponses(
        authErrors(
          errorsOf(
            'bad_request',
            'invalid_json',
            'invalid_input',
            'forbidden',
            'not_found',
            'payload_too_large',
            'unsupported_media_type',
            'unavailable',
          ),
        ),
        LIMITED_HEADERS,
      ),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/review/{id}',
    tags: ['review'],
    summary: 'Label a review item',
    description:
      "Records the calling key's label (one per reviewer; the same again changes nothing). Once the item has the " +
      'labels it needs it is final: one label, or two that agree; two that disagree make it `disputed` until an ' +
      'admin decides. A final single-labelled item takes a later label as its label (a correction). 409 while ' +
      `another reviewer holds the item's lease. Fields other than \`label\` are ignored. ${REVIEWER_NOTE}`,
    ...needs('reviewer', 'admin'),
    request: {
      params: ItemParams,
      body: {
        required: true,
        description: 'JSON (at most MAX_BODY_BYTES, default 1 MiB)',
        content: { 'application/json': { schema: ReviewLabelRequest } },
      },
    },
    responses: {
      200: jsonResponse('The item, labelled', ReviewItemSchema, LIMITED_HEADERS),
      ...errorResponses(
        authErrors(
          errorsOf(
            'bad_request',
            'invalid_json',
            'invalid_input',
            'forbidden',
            'not_found',
            'conflict',
            'payload_too_large',
            'unsupported_media_type',
            'unavailable',
          ),
        ),
        LIMITED_HEADERS,
      ),
    },
  });
}
