/**
 * The jobs API (edge/src/jobs/routes.ts): asynchronous batch inference. A submission (NDJSON, or JSON
 * `{"texts": [...]}` for text models) is streamed into R2 in chunks and answered 202 with the job; its status, results
 * (NDJSON in input order) and cancellation are read by the key that submitted it, or by an admin key.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  errorResponses,
  errorsOf,
  type HeaderSpec,
  jsonResponse,
  named,
  ndjsonMedia,
  needs,
  registerSchema,
  responseHeaders,
} from '../../../shared/openapi/spec.ts';
import { Prediction, SERVED_BY } from '../../../shared/protocol/text.ts';
import { authErrors, LIMITED_HEADERS } from './common.ts';

const ModelParam = z.string().meta({ description: 'Model name (e.g. `spam`, `digits`)', example: 'spam' });
const VersionParam = z
  .string()
  .meta({ description: 'A release version of the model', example: '2026-12-07.563707c0e1' });
const JobId = z.string().meta({
  description: 'The job id, `job_` and 32 hex digits (any other id is 404)',
  example: 'job_0123456789abcdef0123456789abcdef',
});
const Timestamp = z.string().meta({ description: 'ISO 8601, UTC', example: '2026-12-07T10:00:00.000Z' });

const JobState = named(
  z.enum(['queued', 'running', 'succeeded', 'failed', 'partially_failed', 'cancelled']).meta({
    description:
      'queued (no chunk running or finished), running, succeeded (every chunk answered), failed (every chunk failed), ' +
      'partially_failed (some chunks failed: their rows are error lines in the results), cancelled ' +
      '(DELETE /v1/jobs/{id}; its inputs and results are deleted)',
  }),
  'JobState',
);

/** The coordinator's JobView (jobs/coordinator.ts): what the completion webhook carries. */
export const JobStatusSchema = named(
  z
    .object({
      id: JobId,
      model: z.string(),
      version: z.string().nullable().meta({ description: 'The version the submission pinned, else null' }),
      owner: z.string().meta({ description: 'The name of the API key that submitted the job' }),
      status: JobState,
      created_at: Timestamp,
      started_at: Timestamp.nullable().meta({ description: 'When the first chunk started (null before)' }),
      finished_at: Timestamp.nullable().meta({
        description: 'When the last chunk finished or the job was cancelled (null before)',
      }),
      progress: z.object({
        rows_done: z.number().int().nonnegative(),
        rows_total: z.number().int().nonnegative(),
        chunks_done: z.number().int().nonnegative(),
        chunks_failed: z.number().int().nonnegative(),
        chunks_total: z.number().int().nonnegative(),
      }),
      served_by: z.record(z.string(), z.number().int().nonnegative()).meta({
        description: `Rows answered per path (${SERVED_BY.join(', ')}), over the chunks done`,
      }),
      webhook: z
        .object({
          url: z.string(),
          state: z.enum(['waiting', 'pending', 'sending', 'delivered', 'failed']).meta({
            description:
              'waiting (the job runs), pending (due or retrying after a failed attempt), sending, delivered, ' +
              'failed (given up after 6 attempts)',
          }),
          attempts: z.number().int().nonnegative(),
          last_status: z
            .number()
            .int()
            .nullable()
            .meta({ description: "The receiver's last HTTP status (null: none yet, or a network error)" }),
          last_error: z.string().nullable(),
        })
        .nullable()
        .meta({
          description: 'The completion webhook (`x-webhook-url`) and its delivery; null when none was asked',
        }),
      errors: z
        .array(
          z.object({
            chunk: z.number().int().nonnegative(),
            first_row: z.number().int().nonnegative(),
            last_row: z.number().int().nonnegative(),
            error: z.string(),
          }),
        )
        .meta({ description: 'Failed chunks: their rows (0-based, inclusive) and why' }),
    })
    .meta({ description: 'An asynchronous job: its status, progress and failures' }),
  'JobStatus',
);

/** The routes' answer: the job's status and its URLs. */
export const JobSchema = named(
  JobStatusSchema.extend({
    status_url: z.string().meta({ description: 'Absolute URL of GET /v1/jobs/{id}' }),
    results_url: z.string().meta({ description: 'Absolute URL of GET /v1/jobs/{id}/results' }),
  }).meta({ description: 'An asynchronous job: its status, progress, failures and URLs' }),
  'Job',
);

const JobList = named(
  z.object({
    jobs: z
      .array(JobSchema)
      .meta({ description: 'At most 50 jobs, in job-id order (not by time); cancelled jobs are not listed' }),
    cursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `?cursor=` for the next page; null on the last' }),
  }),
  'JobList',
);

const JobTextItem = z.union([
  z.string().meta({ description: 'The text' }),
  z.object({ text: z.string() }).strict(),
]);

const JobSubmission = named(
  z
    .object({
      texts: z.array(JobTextItem).min(1).meta({
        description:
          'The texts, each a string or `{"text": "..."}`: 1 to JOB_MAX_ROWS (default 50,000) of them',
      }),
    })
    .strict()
    .meta({
      description:
        "A text model's job as one JSON object (at most MAX_BODY_BYTES, default 1 MiB; larger jobs are NDJSON). " +
        'Unknown fields are refused (400).',
    }),
  'JobSubmission',
);

const NDJSON_BODY = {
  schema: {
    type: 'string' as const,
    description:
      'NDJSON (JSON Lines): one row per line, `\\n` or `\\r\\n` separated, blank lines skipped, UTF-8. For a text ' +
      'model each line is a JSON string or `{"text": "..."}`; for a tensor model each line is one row, ' +
      '`{"<input>": [values of one row, nested or flat], ...}` with every input of the model and nothing else ' +
      '(numbers finite, booleans for BOOL; FP16 and BYTES inputs cannot travel as JSON: 400). At most ' +
      'JOB_MAX_ROWS rows (default 50,000), JOB_MAX_BYTES bytes after decompression (default 256 MiB) and ' +
      'MAX_BODY_BYTES per line (default 1 MiB). May be gzipped (`Content-Encoding: gzip`). A malformed line is ' +
      '400 naming the line, a limit passed is 413 naming it; nothing is stored then.',
  },
};

const JobResultLine = named(
  z.union([
    Prediction.omit({ served_by: true })
      .extend({
        index: z.number().int().nonnegative().meta({ description: "The row's 0-based index in the input" }),
        served_by: z
          .string()
          .meta({ description: `Who answered the row: ${SERVED_BY.join(', ')} (\`unknown\` if not said)` }),
        version: z.string().meta({ description: 'The release version that answered the row' }),
      })
      .meta({ description: "A row's prediction" }),
    z
      .object({
        index: z.number().int().nonnegative(),
        error: z.object({
          code: z.literal('chunk_failed'),
          message: z.string().meta({ description: "Why the row's chunk failed" }),
        }),
      })
      .meta({ description: 'A row of a failed chunk' }),
  ]),
  'JobResultLine',
);

const JobFinishedEvent = named(
  z.object({ event: z.literal('job.finished'), job: JobStatusSchema }),
  'JobFinishedEvent',
);

const WebhookSecret = named(
  z.object({
    secret: z.string().meta({ description: "The calling key's webhook secret (hex)" }),
    signature: z.string().meta({ description: 'How the webhook signature is computed, for people' }),
  }),
  'WebhookSecret',
);

const SubmitHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional()
    .meta({
      description:
        'Makes a retried submission return the same job (202 with `idempotent-replayed: true`); 1-255 printable ' +
        'ASCII characters (400 invalid_header otherwise), scoped to the calling key. A replay answers with the ' +
        'job as it is now without reading the body; reusing the key for another model or version is 409.',
    }),
  'x-webhook-url': z
    .string()
    .max(2048)
    .optional()
    .meta({
      description:
        'Where to POST `{"event": "job.finished", "job": <JobStatus>}` when the job finishes (the ' +
        "`jobFinished` webhook), signed with the key's webhook secret (GET /v1/jobs/webhook-secret); https " +
        '(http only to localhost), no credentials, at most 2,048 characters (400 otherwise; 503 when the edge ' +
        'has no WEBHOOK_SIGNING_SECRET)',
    }),
  'content-encoding': z.enum(['identity', 'gzip']).optional().meta({
    description: 'NDJSON bodies only: `gzip` (the limits count the decompressed bytes) or identity',
  }),
});

const JOB_HEADERS = {
  ...LIMITED_HEADERS,
  location: { description: 'The job: `/v1/jobs/{id}`', required: true, schema: { type: 'string' } },
  'idempotent-replayed': {
    description:
      'Present (`true`) when the Idempotency-Key named a job submitted before: that job is returned',
    schema: { type: 'string', enum: ['true'] },
  },
} satisfies Record<string, HeaderSpec>;

const JobPathParams = z.object({ id: JobId });

/** Errors of the routes that read one job (visibleJob): its id, its owner, the bindings. */
const JOB_ERRORS = ['not_found', 'forbidden', 'unavailable'] as const;

const READ_SECURITY = {
  security: [{ bearer: [] }],
  'x-required-scopes': [],
};

export function registerJobRoutes(registry: OpenAPIRegistry): void {
  registerSchema(registry, JobResultLine);
  const submitPaths = [
    { path: '/v1/models/{model}/jobs', params: z.object({ model: ModelParam }) },
    {
      path: '/v1/models/{model}/versions/{version}/jobs',
      params: z.object({ model: ModelParam, version: VersionParam }),
    },
  ];
  for (const { path, params } of submitPaths) {
    registry.registerPath({
      method: 'post',
      path,
      tags: ['jobs'],
      summary: 'Submit a job',
      description:
        'Asynchronous batch inference: the rows are streamed into storage in chunks (JOB_CHUNK_ROWS, at most 256 ' +
        'rows each) and answered by the same cascade as the synchronous routes, in the background. A text model ' +
        'takes NDJSON or JSON `{"texts": [...]}`; a tensor model NDJSON only (415 otherwise). The rows count ' +
        "against the key's daily job-row quota (its tier's `job_rows_per_day`, default 100,000; " +
        "429 `quota_exceeded` until 00:00 UTC past it) and the tenant's item quotas (429 `quota_exceeded`), not " +
        'against the request rate. A Content-Length over JOB_MAX_BYTES is refused before the body is read (413). ' +
        'Poll the `Location` (or use `x-webhook-url`), then read the results.',
      ...needs('infer'),
      request: {
        params,
        headers: SubmitHeaders,
        body: {
          required: true,
          description:
            'The rows: NDJSON (`application/x-ndjson`, or its aliases `application/jsonl`, `application/ndjson`) or JSON',
          content: {
            'application/x-ndjson': NDJSON_BODY,
            'application/jsonl': NDJSON_BODY,
            'application/ndjson': NDJSON_BODY,
            'application/json': { schema: JobSubmission },
          },
        },
      },
      responses: {
        202: {
          description: 'The job, queued (or the job an Idempotency-Key named before, as it is now)',
          headers: responseHeaders(JOB_HEADERS),
          content: { 'application/json': { schema: JobSchema } },
        },
        ...errorResponses(
          authErrors(
            errorsOf(
              'bad_request',
              'invalid_input',
              'invalid_json',
              'invalid_header',
              'forbidden',
              'conflict',
              'payload_too_large',
              'unsupported_media_type',
              'rate_limited',
              'quota_exceeded',
              'unavailable',
            ),
          ),
          LIMITED_HEADERS,
        ),
      },
    });
  }

  registry.registerPath({
    method: 'get',
    path: '/v1/jobs',
    tags: ['jobs'],
    summary: 'List jobs',
    description:
      "The calling key's jobs, 50 a page (cancelled jobs are gone); an admin key may list another key's with " +
      '`?owner=<key id>` (403 for other keys). Any key may call it.',
    ...READ_SECURITY,
    request: {
      query: z.object({
        owner: z
          .string()
          .regex(/^[\w.-]{1,128}$/)
          .optional()
          .meta({
            description: "A key id (admin keys only; default: the calling key's), `[A-Za-z0-9_.-]{1,128}`",
          }),
        cursor: z.string().optional().meta({ description: 'The `cursor` of the previous page' }),
      }),
    },
    responses: {
      200: jsonResponse('A page of jobs', JobList, LIMITED_HEADERS),
      ...errorResponses(authErrors(errorsOf('invalid_input', 'forbidden', 'unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/webhook-secret',
    tags: ['jobs'],
    summary: "The key's webhook secret",
    description:
      "The secret the calling key's job webhooks are signed with (HMAC-SHA256, derived from the edge's " +
      'WEBHOOK_SIGNING_SECRET and the key id, so each key has its own): verify `x-signature` over ' +
      '`v1\\nPOST\\n<path>\\n<x-signature-timestamp>\\n<x-signature-nonce>\\n<sha256 hex of the body>`. Any key may ' +
      'call it; 503 when the edge has no WEBHOOK_SIGNING_SECRET.',
    ...READ_SECURITY,
    responses: {
      200: jsonResponse('The secret', WebhookSecret, {
        ...LIMITED_HEADERS,
        'cache-control': {
          description: '`no-store`',
          required: true,
          schema: { type: 'string', enum: ['no-store'] },
        },
      }),
      ...errorResponses(authErrors(errorsOf('unavailable')), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}',
    tags: ['jobs'],
    summary: 'Job status',
    description:
      'Status, progress, rows per path and failed chunks. The key that submitted the job or an admin key may read ' +
      'it (403 for others).',
    ...READ_SECURITY,
    request: { params: JobPathParams },
    responses: {
      200: jsonResponse('The job', JobSchema, LIMITED_HEADERS),
      ...errorResponses(authErrors(errorsOf(...JOB_ERRORS)), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'delete',
    path: '/v1/jobs/{id}',
    tags: ['jobs'],
    summary: 'Cancel a job',
    description:
      'Cancels the job (chunks not yet run are skipped) and deletes its inputs and any results: the job is ' +
      '`cancelled` from then on, even one that had finished, and has no results. Idempotent. The key that ' +
      'submitted it or an admin key may cancel it (403 for others).',
    ...READ_SECURITY,
    request: { params: JobPathParams },
    responses: {
      200: jsonResponse('The job, cancelled', JobSchema, LIMITED_HEADERS),
      ...errorResponses(authErrors(errorsOf(...JOB_ERRORS)), LIMITED_HEADERS),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/jobs/{id}/results',
    tags: ['jobs'],
    summary: 'Job results',
    description:
      'The results of a finished job (succeeded, failed or partially_failed; 409 while it is queued or running, ' +
      'and for a cancelled one), streamed as NDJSON: one line per input row, in input order. The key that ' +
      'submitted it or an admin key may read them (403 for others).',
    ...READ_SECURITY,
    request: { params: JobPathParams },
    responses: {
      200: {
        description: 'One JobResultLine per row, in input order',
        headers: responseHeaders(LIMITED_HEADERS),
        content: {
          'application/x-ndjson': ndjsonMedia(
            'JobResultLine',
            'NDJSON: one JSON object per line (`\\n` terminated), one line per input row, in input order: ' +
              'the prediction `{index, label, score, scores, served_by, version, ...}`, or for a row of a ' +
              'failed chunk `{index, error: {code: "chunk_failed", message}}` (each line a JobResultLine)',
          ),
        },
      },
      ...errorResponses(authErrors(errorsOf(...JOB_ERRORS, 'conflict')), LIMITED_HEADERS),
    },
  });

  registry.registerWebhook({
    method: 'post',
    path: 'jobFinished',
    tags: ['jobs'],
    summary: 'Job finished (completion webhook)',
    description:
      'POSTed to the `x-webhook-url` of a submission once every chunk of the job has succeeded or failed, ' +
      "signed with the submitting key's webhook secret (GET /v1/jobs/webhook-secret): " +
      '`x-signature` = hex HMAC-SHA256(secret, `v1\\nPOST\\n<path and query>\\n<x-signature-timestamp>\\n' +
      '<x-signature-nonce>\\n<sha256 hex of the body>`). Answer 2xx; any other answer, a network error or no ' +
      "answer within 10 s is retried after 30 s, 1, 2, 4 and 8 min, then given up (6 attempts; the job's " +
      '`webhook.state` says which).',
    request: {
      headers: z.object({
        'x-signature-timestamp': z.string().meta({ description: 'Unix time of the signing, ms' }),
        'x-signature-nonce': z
          .string()
          .meta({ description: '16-128 characters of [A-Za-z0-9_-], once per attempt' }),
        'x-signature': z.string().meta({ description: 'Lowercase hex HMAC-SHA256 (see the description)' }),
      }),
      body: {
        required: true,
        content: {
          'application/json': {
            schema: JobFinishedEvent,
          },
        },
      },
    },
    responses: {
      200: { description: 'Received (any 2xx; the body is ignored)' },
    },
  });
}
