/**
 * The edge's operations routes (admin keys only): traffic and drift statistics per model version, the origin pools
 * as this isolate sees them, the model registry in R2 (list, upload, publish) and the rollout policy of a model
 * (read, replace, promote, roll back). Request bodies are the schemas the routes validate with (shared/rollout,
 * shared/registry); the answers are described field by field as the handlers build them.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { DRIFT_BINS } from '../../../shared/drift/index.ts';
import {
  type ErrorsByStatus,
  errorResponses,
  errorsOf,
  jsonResponse,
  named,
  needs,
  responseHeaders,
} from '../../../shared/openapi/spec.ts';
import { IndexEntry, RegistryIndex } from '../../../shared/registry/index.ts';
import { ROLLOUT_MODES, RolloutPolicyInput } from '../../../shared/rollout/index.ts';
import { FEATURE_BINS, LATENCY_BINS } from '../stats/recorder.ts';
import { authErrors, LIMITED_HEADERS } from './common.ts';

/** 200 with a Prometheus text exposition (`?format=prometheus`). */
const PROMETHEUS = {
  schema: {
    type: 'string',
    description: 'Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4; charset=utf-8`)',
  },
} as const;

const ModelParam = z.string().meta({ description: 'Model name (e.g. `spam`, `digits`)', example: 'spam' });

const FormatQuery = z
  .enum(['json', 'prometheus'])
  .optional()
  .meta({ description: '`json` (default) or `prometheus` (the same as a text exposition for a scrape job)' });

const count = () => z.number().int().min(0);
const counts = (what: string) => z.record(z.string(), count()).meta({ description: what });
const share = () => z.number().min(0).max(1);

// --- stats -----------------------------------------------------------------------------------------------------

const Comparison = named(
  z.object({
    samples: count().meta({ description: 'Items compared' }),
    agree: count().meta({ description: 'Items where both answered the same label' }),
    agreement: share().nullable().meta({ description: 'agree / samples; null without samples' }),
    flips: counts('Disagreements by direction (`from>to` labels)'),
  }),
  'Comparison',
);

const histogram = (bins: number, what: string) =>
  z.array(count()).min(bins).max(bins).meta({ description: what });

const StatsSeriesPoint = named(
  z.object({
    start: z.iso.datetime().meta({ description: "The bucket's first minute (UTC)" }),
    requests: count(),
    items: count(),
    served_by: counts('Items per path that answered (cache, edge, edge-degraded, origin)'),
    model_edge_share: share().nullable().meta({
      description:
        'Of the items a model answered (cache hits excluded), the share the edge answered (6 decimals)',
    }),
    escalation_reasons: counts('Items escalated to the origin, per reason'),
    failed_requests: count().meta({ description: 'Requests that failed (no answer)' }),
    degraded_items: count().meta({ description: 'Items answered edge-degraded (the origin failed)' }),
    latency_p50: z.number().nullable().meta({ description: "Median latency (a bin's upper bound, ms)" }),
    latency_p95: z
      .number()
      .nullable()
      .meta({ description: "95th percentile latency (a bin's upper bound, ms)" }),
    shadow_agreement: share().nullable().meta({ description: "Shadow agreement with stable's answers" }),
    audit_agreement: share().nullable().meta({ description: 'Audit agreement with the teacher' }),
    psi_score: z.number().nullable().meta({
      description: "PSI of the bucket's score histogram against the release's baseline",
    }),
  }),
  'StatsSeriesPoint',
);

const StatsSeries = named(
  z
    .object({
      bucket_minutes: z
        .number()
        .int()
        .min(1)
        .meta({ description: 'Minutes per bucket: ceil(minutes / points)' }),
      points: z.array(StatsSeriesPoint).meta({
        description:
          'The buckets, oldest first, covering exactly the window of the totals (the last one shorter when ' +
          '`bucket_minutes` does not divide `minutes`); null fields mean no data in the bucket',
      }),
    })
    .meta({ description: 'The same window over time, in buckets (only with `?points=`)' }),
  'StatsSeries',
);

const VersionStats = named(
  z.object({
    version: z.string(),
    requests: count(),
    items: count(),
    served_by: counts('Items per path that answered (cache, edge, edge-degraded, origin)'),
    served_by_share: z
      .record(z.string(), share())
      .meta({ description: 'The same as shares of the items answered (6 decimals)' }),
    origin_pools: counts('Items answered by each origin pool (`default` for ORIGIN_URLS)'),
    escalation_reasons: counts('Items escalated to the origin, per reason'),
    score_histogram: histogram(DRIFT_BINS, 'Items per score bin (10 bins over [0, 1])'),
    coverage_histogram: histogram(DRIFT_BINS, 'Items per coverage bin (items whose answer had a coverage)'),
    features_histogram: histogram(
      FEATURE_BINS,
      'Items per feature-count bin (0, then log2 buckets 1, 2-3, ... 1024+)',
    ),
    labels: counts('Items per answered label'),
    ood: count().meta({ description: 'Out-of-distribution answers' }),
    unsure: count().meta({
      description: "Items answered `unsure: true` (the decision rule's default label)",
    }),
    psi: z.object({ score: z.number().nullable(), coverage: z.number().nullable() }).meta({
      description: "PSI against the release's validation baseline; null without a baseline or data",
    }),
    shadow: Comparison.and(
      z.object({
        requests: count(),
        errors: count(),
        mean_ms: z.number().nullable(),
        origin: Comparison,
      }),
    ).meta({
      description:
        "This version as the shadowed candidate against stable's answers (`origin`: against the teachers on " +
        'escalated items)',
    }),
    audit: Comparison.and(z.object({ errors: count() })).meta({
      description: "This version's confident edge answers audited against its teacher",
    }),
    arms: counts('Requests per rollout arm (stable, candidate)'),
    latency_histogram: histogram(LATENCY_BINS, 'Requests per latency bin (under 1 ms, then log2 ms buckets)'),
    latency_ms: z
      .object({ p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable() })
      .meta({
        description: "Latency quantiles from the histogram (a bin's upper bound, ms); null without data",
      }),
    errors: z.object({
      failed_requests: count().meta({ description: 'Requests that failed (no answer)' }),
      degraded_items: count().meta({ description: 'Items answered edge-degraded (the origin failed)' }),
      rate: share()
        .nullable()
        .meta({ description: 'failed / (answered + failed) requests; null without any' }),
    }),
    model_edge_share: share().nullable().meta({
      description: 'Of the items a model answered (cache hits excluded), the share the edge answered',
    }),
    expected_edge_share: share().nullable().meta({
      description: "The release's planned edge share (validation); null when this edge lacks the release",
    }),
    source: z.enum(['embedded', 'registry']).nullable().meta({
      description: 'Where this isolate gets the version: the bundle, the model registry (R2), or neither',
    }),
    series: StatsSeries.optional(),
  }),
  'VersionStats',
);

const ModelStats = named(
  z.object({
    model: z.string(),
    minutes: z.number().int().min(1).max(10_080),
    versions: z
      .array(VersionStats)
      .meta({ description: 'Every version the edge counted for the model, by name' }),
    sources: z.object({
      embedded: z.array(z.string()).meta({ description: 'Versions the bundle embeds, oldest first' }),
      registry_loaded: z
        .array(z.string())
        .meta({ description: 'Versions this isolate loaded from the registry' }),
      registry_published: z
        .array(z.string())
        .meta({ description: 'Versions this isolate knows are published in the registry' }),
    }),
  }),
  'ModelStats',
);

// --- origins ---------------------------------------------------------------------------------------------------

const OriginPool = named(
  z.object({
    id: z.string(),
    region: z.string(),
    batch: z.boolean().meta({ description: 'A pool for batch (job) traffic' }),
    urls: z.array(z.string()),
    breaker: z.enum(['closed', 'open', 'half-open']),
    rtt_ms: z
      .record(z.string(), z.number())
      .meta({ description: 'Observed RTT per location (colo, country or continent; `default`), ms' }),
    p95_ms: z
      .record(z.string(), z.number())
      .meta({ description: 'p95 answer time per location (the hedge delay), ms' }),
    queue_depth: z
      .number()
      .nullable()
      .meta({ description: 'Queue depth the pool last reported; null before any' }),
    capacity: z.number(),
    error_rate: z.number().min(0).max(1),
    ramp: z
      .number()
      .min(0)
      .max(1)
      .meta({ description: "A recovered pool's share cap while it ramps back (1 = full)" }),
    requests: count(),
    errors: count(),
    hedges: count(),
    spills: count(),
    failovers: count(),
    probes: count(),
  }),
  'OriginPool',
);

const OriginPools = named(
  z.object({
    pools: z.array(OriginPool),
    first_attempts: count().meta({ description: 'Escalated requests this isolate routed' }),
    extra_attempts: count().meta({ description: 'Retries and hedges the retry budget granted' }),
    retry_budget_refused: count(),
    hedge_budget_refused: count(),
    brownout: z.boolean().meta({ description: 'Every pool is degraded: the edge answers more itself' }),
  }),
  'OriginPools',
);

// --- registry --------------------------------------------------------------------------------------------------

const NAME_PATTERN = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const registryName = (what: string, example: string) =>
  z
    .string()
    .regex(NAME_PATTERN)
    .meta({ description: `${what}: letters, digits, _ . - (at most 128, no \`..\`)`, example });
const RegistryModelParams = z.object({ model: registryName('Model name', 'spam') });
const RegistryVersionParams = z.object({
  model: registryName('Model name', 'spam'),
  version: registryName('Release version', '2026-12-07.563707c0e1'),
});
const RegistryFileParams = RegistryVersionParams.extend({
  file: registryName(
    'The object: `manifest.json` or an artifact file the manifest lists (not `index.json`)',
    'manifest.json',
  ),
});

named(IndexEntry, 'RegistryIndexEntry');
named(RegistryIndex, 'RegistryIndex');

const RegistryListing = named(
  z.object({
    model: z.string(),
    published: z
      .array(IndexEntry)
      .meta({ description: 'The index: published versions, oldest release first' }),
    embedded: z.array(z.string()).meta({ description: 'Versions this bundle embeds, oldest first' }),
    loaded_from_registry: z
      .array(z.string())
      .meta({ description: 'Versions this isolate loaded from the registry' }),
  }),
  'RegistryListing',
);

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const RegistryObject = named(
  z.object({
    key: z.string().meta({ description: 'The object key: `{model}/{version}/{file}`' }),
    bytes: count(),
    sha256: Sha256,
    unchanged: z.literal(true).optional().meta({
      description: 'Present (200) when the version is published and the bytes are the same: nothing written',
    }),
  }),
  'RegistryObject',
);

const RegistryPublish = named(
  z.object({
    model: z.string(),
    version: z.string(),
    published: z
      .boolean()
      .meta({ description: 'true (201): this call listed it; false (200): it already was' }),
    already: z
      .literal(true)
      .optional()
      .meta({ description: 'Present (200) when the version was already listed' }),
    index: RegistryIndex,
  }),
  'RegistryPublish',
);

// --- rollout ---------------------------------------------------------------------------------------------------

const Version = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/);

const RolloutPolicy = named(
  z.object({
    model: z.string(),
    revision: z.number().int().min(0).meta({ description: 'Bumped by every change (0: the default policy)' }),
    stable: Version,
    candidate: Version.nullable(),
    mode: z.enum(ROLLOUT_MODES),
    weight: share().meta({
      description: 'Share of traffic the candidate answers (canary, ab) or that is shadowed',
    }),
    stickiness: z.enum(['key', 'request']),
    audit_rate: share().meta({ description: 'Share of confident edge answers also sent to the origin' }),
    guardrails: z.object({
      min_samples: z.number().int().min(1),
      max_error_rate: share(),
      max_p95_ms: z.number().positive(),
      max_disagreement: share(),
    }),
    updated_at: z
      .string()
      .meta({ description: 'ISO 8601 (1970-01-01T00:00:00.000Z for the default policy)' }),
    updated_by: z.string().meta({ description: 'The key id that made the last change (`default` for none)' }),
    reason: z.string().max(500).optional().meta({ description: 'Why the last change happened' }),
    promoted_from: Version.optional().meta({
      description: 'Set by promote only: the stable version it replaced (the next rollback restores it)',
    }),
  }),
  'RolloutPolicy',
);

const RolloutState = named(
  z.object({
    policy: RolloutPolicy,
    stored: z
      .boolean()
      .meta({ description: 'false: none was stored; this is the default (latest embedded stable)' }),
    versions: z.array(z.string()).meta({ description: 'The versions this bundle embeds, oldest first' }),
    ttl_ms: z.number().int().min(0).meta({ description: 'How stale a PoP may serve a policy, ms' }),
  }),
  'RolloutState',
);

const RolloutChanged = named(
  z.object({
    policy: RolloutPolicy,
    versions: z.array(z.string()).meta({
      description: 'The versions a policy may name: embedded ones, then those published in the registry',
    }),
  }),
  'RolloutChanged',
);

const RolloutUpdate = named(
  RolloutPolicyInput.safeExtend({
    revision: z.number().int().min(0).optional().meta({
      description: 'The revision this change is based on (409 `conflict` if the stored one is newer)',
    }),
    reason: z.string().max(500).optional().meta({ description: 'Why (kept in the policy and the log)' }),
  }),
  'RolloutPolicyUpdate',
);

const RolloutParams = z.object({ model: ModelParam });

/** A POST's body is read by the rate limiter (to weigh it) when a limit applies: past MAX_BODY_BYTES, 413. */
const POST_BODY_LIMIT = errorsOf('payload_too_large');

/** Errors of a route that reads a JSON body (requireJson, readJson). */
const JSON_BODY = errorsOf(
  'bad_request',
  'invalid_json',
  'invalid_input',
  'payload_too_large',
  'unsupported_media_type',
);

/**
 * The error responses of an admin route: authErrors (auth, limits, config) and its own, without `quota_exceeded`:
 * only classify and infer items are charged to a tenant's quotas (routes/request.ts quotaItems), so the limiter
 * never refuses an admin route on a quota.
 */
export function adminErrorResponses(...own: ErrorsByStatus[]): ReturnType<typeof errorResponses> {
  const all = authErrors(...own);
  return errorResponses({ ...all, 429: all[429]?.filter((c) => c !== 'quota_exceeded') }, LIMITED_HEADERS);
}

const ADMIN_ONLY = 'Keys with the `admin` scope only (403 `forbidden` otherwise).';

export function registerAdminRoutes(registry: OpenAPIRegistry): void {
  const limited = (description: string, schema: z.ZodType) =>
    jsonResponse(description, schema, LIMITED_HEADERS);
  const errors = adminErrorResponses;

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/models/{model}/stats',
    tags: ['ops'],
    summary: "A model's traffic and drift counters per version",
    description:
      "The edge's counters per version of the model over the last `minutes` (the current minute included), read " +
      'from the shared Upstash store: requests, items, who answered, escalation reasons, score, coverage and ' +
      "feature-count histograms with their PSI against the release's baseline, rollout comparisons, latency and " +
      'errors, with the planned edge share beside the observed one. `?format=prometheus` returns the same as a ' +
      'Prometheus text exposition. `?points=N` adds to each version a `series` over the same window, in at most N ' +
      'buckets of ceil(minutes / N) minutes, oldest first, for charts over time (JSON only). ' +
      `${ADMIN_ONLY} 503 \`unavailable\` when this edge has no Upstash store.`,
    ...needs('admin'),
    request: {
      params: z.object({ model: ModelParam }),
      query: z.object({
        minutes: z
          .int()
          .min(1)
          .max(10_080)
          .optional()
          .meta({ description: 'The window in whole minutes, up to a week', default: 60, example: 60 }),
        points: z
          .int()
          .min(1)
          .max(360)
          .optional()
          .meta({
            description:
              'Adds a `series` per version: the window in at most this many buckets of ceil(minutes / points) ' +
              'minutes (ignored with `format=prometheus`)',
            example: 60,
          }),
        format: FormatQuery,
      }),
    },
    responses: {
      200: {
        description: 'The counters per version (JSON), or their Prometheus exposition',
        headers: responseHeaders(LIMITED_HEADERS),
        content: { 'application/json': { schema: ModelStats }, 'text/plain': PROMETHEUS },
      },
      ...errors(errorsOf('forbidden', 'invalid_input', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/origins',
    tags: ['ops'],
    summary: 'The origin pools as this isolate sees them',
    description:
      'Per pool: region, breaker state, observed RTT and p95 per location, reported queue depth and capacity, ' +
      'error rate, recovery ramp, and the attempts, errors, hedges, spill-overs, failovers and probes it counted; ' +
      'plus the first and extra attempts and what the budgets refused. Learned passively per isolate (no shared ' +
      `store): a scrape sees the isolate that answered it. \`?format=prometheus\` returns a text exposition. ${ADMIN_ONLY}`,
    ...needs('admin'),
    request: { query: z.object({ format: FormatQuery }) },
    responses: {
      200: {
        description: 'The pools (JSON), or their Prometheus exposition',
        headers: responseHeaders(LIMITED_HEADERS),
        content: { 'application/json': { schema: OriginPools }, 'text/plain': PROMETHEUS },
      },
      ...errors(errorsOf('forbidden', 'invalid_input')),
    },
  });

  // --- registry ---
  const registryNote = `${ADMIN_ONLY} 503 \`unavailable\` when this edge has no model registry (R2 binding MODELS) or R2 fails.`;
  registry.registerPath({
    method: 'get',
    path: '/v1/admin/registry/{model}',
    tags: ['registry'],
    summary: "A model's published, embedded and loaded versions",
    description: `The registry's index of the model (empty when none is published), the versions this bundle embeds and those this isolate loaded from R2. ${registryNote}`,
    ...needs('admin'),
    request: { params: RegistryModelParams },
    responses: {
      200: limited('The versions', RegistryListing),
      ...errors(errorsOf('forbidden', 'invalid_input', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'put',
    path: '/v1/admin/registry/{model}/{version}/{file}',
    tags: ['registry'],
    summary: 'Upload one object of a release (manifest or artifact)',
    description:
      'Stores the raw body as `{model}/{version}/{file}` with its sha256 (any Content-Type; at most 64 MiB, ' +
      'held in memory to hash it: 413 past it). A published version is immutable: the same bytes again are ' +
      `200 \`unchanged\`, other bytes (or a file it does not list) 409 \`conflict\`. ${registryNote}`,
    ...needs('admin'),
    request: {
      params: RegistryFileParams,
      body: {
        required: true,
        description: 'The object bytes (at most 64 MiB)',
        content: { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } },
      },
    },
    responses: {
      200: limited(
        'The version is published and this object has the same bytes: nothing written',
        RegistryObject,
      ),
      201: limited('Stored', RegistryObject),
      ...errors(
        errorsOf('bad_request', 'forbidden', 'invalid_input', 'conflict', 'payload_too_large', 'unavailable'),
      ),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/registry/{model}/{version}/publish',
    tags: ['registry'],
    summary: 'Publish an uploaded release (check it, then list it in the index)',
    description:
      'Checks the uploaded manifest (valid, naming this model and version) and every artifact it lists (present, ' +
      'size and sha256; 400 naming each problem), then adds the version to the index, written last under a ' +
      'conditional put (a concurrent publish is retried). Publishing it again with the same manifest is 200 ' +
      `\`already\`; with another manifest 409 \`conflict\`. No body. ${registryNote}`,
    ...needs('admin'),
    request: { params: RegistryVersionParams },
    responses: {
      200: limited('Already published with this manifest: nothing changed', RegistryPublish),
      201: limited('Published', RegistryPublish),
      ...errors(
        POST_BODY_LIMIT,
        errorsOf('forbidden', 'invalid_input', 'not_found', 'conflict', 'unavailable'),
      ),
    },
  });

  // --- rollout ---
  const rolloutNote =
    `${ADMIN_ONLY} 404 \`model_not_found\` when this bundle embeds no version of the model; 503 \`unavailable\` ` +
    'when the shared store (Upstash) is not configured or fails.';
  const changeNote =
    'Versions must be embedded in this bundle or published in the model registry (400 `invalid_input` naming the ' +
    'servable ones; 503 when the registry index cannot be read). A change based on an older revision than the ' +
    'stored one is 409 `conflict`.';
  const changeErrors = errorsOf('forbidden', 'invalid_input', 'model_not_found', 'conflict', 'unavailable');

  registry.registerPath({
    method: 'get',
    path: '/v1/admin/models/{model}/rollout',
    tags: ['rollout'],
    summary: 'The rollout policy in force',
    description: `The stored policy, or the default one (the latest embedded release stable, nothing else). ${rolloutNote}`,
    ...needs('admin'),
    request: { params: RolloutParams },
    responses: {
      200: limited('The policy in force', RolloutState),
      ...errors(errorsOf('forbidden', 'model_not_found', 'unavailable')),
    },
  });

  registry.registerPath({
    method: 'put',
    path: '/v1/admin/models/{model}/rollout',
    tags: ['rollout'],
    summary: 'Replace the rollout policy',
    description:
      'The whole policy (fields left out take their defaults), plus optionally the `revision` it is based on ' +
      `(default: the current one) and a \`reason\`. ${changeNote} ${rolloutNote}`,
    ...needs('admin'),
    request: {
      params: RolloutParams,
      body: {
        required: true,
        description: 'JSON, at most MAX_BODY_BYTES (default 1 MiB)',
        content: { 'application/json': { schema: RolloutUpdate } },
      },
    },
    responses: {
      200: limited('The new policy', RolloutChanged),
      ...errors(JSON_BODY, changeErrors),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/models/{model}/rollout/promote',
    tags: ['rollout'],
    summary: 'Promote the candidate to stable',
    description:
      'The candidate becomes stable, mode off, weight 0; `promoted_from` keeps the version it replaced so that a ' +
      `rollback right after undoes it. 400 when there is no candidate. No body. ${changeNote} ${rolloutNote}`,
    ...needs('admin'),
    request: { params: RolloutParams },
    responses: {
      200: limited('The new policy', RolloutChanged),
      ...errors(POST_BODY_LIMIT, changeErrors),
    },
  });

  registry.registerPath({
    method: 'post',
    path: '/v1/admin/models/{model}/rollout/rollback',
    tags: ['rollout'],
    summary: 'Roll back: every request gets the stable version',
    description:
      'Mode off, weight 0. Right after a promote (mode off, `promoted_from` set), the version it replaced becomes ' +
      `stable again and the promoted one the candidate. No body. ${changeNote} ${rolloutNote}`,
    ...needs('admin'),
    request: { params: RolloutParams },
    responses: {
      200: limited('The new policy', RolloutChanged),
      ...errors(POST_BODY_LIMIT, changeErrors),
    },
  });
}
