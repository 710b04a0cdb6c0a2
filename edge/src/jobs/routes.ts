/**
 * The jobs API (asynchronous batch inference):
 *
 *   POST   /v1/models/{model}[/versions/{v}]/jobs   NDJSON (one text per line) or JSON {"texts": [...]}: 202 + job
 *   GET    /v1/jobs                                 the caller's jobs (admin: ?owner=<key id>)
 *   GET    /v1/jobs/{id}                            status, progress, counts by served_by, errors per failed chunk
 *   GET    /v1/jobs/{id}/results                    NDJSON in input order, streamed (once the job is finished)
 *   DELETE /v1/jobs/{id}                            cancels
 *
 * A job belongs to the key that created it (403 for others; admin keys may read any). Its rows count against the
 * key's daily row quota (tier `job_rows_per_day`, in Upstash), not against the per-request rate limit: the
 * submission is one request. `Idempotency-Key` makes a retried submission return the same job.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { bytesToHex, sha256Hex } from '../../../shared/hash/index.ts';
import { mediaType } from '../../../shared/http/index.ts';
import { type TensorModelSignature, tensorSignature } from '../../../shared/protocol/tensor.ts';
import { DEFAULT_JOB_ROWS_PER_DAY, rateTierOf } from '../config.ts';
import { type EdgeRelease, isTensorRelease, releaseFor } from '../model/edge-model.ts';
import { modelParams, readBody, readJson } from '../routes/request.ts';
import type { AppEnv } from '../types.ts';
import { quotaCounters } from '../usage/quota.ts';
import { resultKey } from './consumer.ts';
import type { ChunkMessage, JobCoordinator, JobSpec, JobView } from './coordinator.ts';
import {
  ChunkWriter,
  DRAIN_MAX_BYTES,
  drainBody,
  type JobLimits,
  type StoredInput,
  storeNdjson,
  storeTexts,
} from './ingest.ts';
import { checkWebhookUrl, webhookSecretFor } from './webhook.ts';

/** What the routes need of the app: the embedded releases and the shared store for quotas. */
export interface JobRouteDeps {
  releases: () => EdgeRelease[];
  /** INCRBY/DECRBY/EXPIRE on the shared store, or undefined without one (no quota then). */
  quotaStore: (c: Context<AppEnv>) => QuotaStore | undefined;
  now: () => number;
  /** Where chunks are sent. @default the JOBS_QUEUE binding */
  queue?: ((c: Context<AppEnv>) => Queue) | undefined;
}

export interface QuotaStore {
  incrby(key: string, n: number): Promise<number>;
  decrby(key: string, n: number): Promise<number>;
  expire(key: string, seconds: number): Promise<unknown>;
}

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/jsonl', 'application/ndjson']);
const JOB_ID = /^job_[0-9a-f]{32}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** Bytes of one chunk's internal request body at most (a single larger row makes a chunk of its own). */
const CHUNK_BYTES = 2 * 1024 * 1024;

function bindings(c: Context<AppEnv>): {
  bucket: R2Bucket;
  jobs: DurableObjectNamespace<JobCoordinator>;
  queue: Queue;
} {
  const { JOBS_BUCKET: bucket, JOBS: jobs, JOBS_QUEUE: queue } = c.env;
  if (bucket === undefined || jobs === undefined || queue === undefined) {
    throw new InferenceError(
      'unavailable',
      'asynchronous jobs are not configured on this edge (R2, Queue, Durable Object)',
    );
  }
  return { bucket, jobs, queue };
}

const stubOf = (jobs: DurableObjectNamespace<JobCoordinator>, id: string) => jobs.get(jobs.idFromName(id));

/** The job's public view with its URLs (the owner's key id stays inside). */
function present(c: Context<AppEnv>, view: JobView): Record<string, unknown> {
  const base = new URL(c.req.url).origin;
  return {
    ...view,
    status_url: `${base}/v1/jobs/${view.id}`,
    results_url: `${base}/v1/jobs/${view.id}/results`,
  };
}

/** The job, if the caller may see it: 404 when there is none, 403 when it is another key's (admins see all). */
async function visibleJob(
  c: Context<AppEnv>,
): Promise<{ view: JobView; spec: JobSpec; stub: DurableObjectStub<JobCoordinator> }> {
  const id = c.req.param('id') as string;
  if (!JOB_ID.test(id)) throw new InferenceError('not_found', `no job ${JSON.stringify(id.slice(0, 80))}`);
  const stub = stubOf(bindings(c).jobs, id);
  const found = await stub.describe();
  if (found === undefined) throw new InferenceError('not_found', `no job ${id}`);
  const principal = c.get('principal');
  if (found.spec.owner !== principal.id && !principal.scopes.includes('admin')) {
    throw new InferenceError('forbidden', `job ${id} belongs to another API key`);
  }
  return { ...found, stub };
}

/**
 * A tensor release's job signature: every input JSON-encodable (FP16 travels only as binary data, BYTES is a text
 * model's business: 400 for those), the cascade output and the labels.
 */
function tensorJob(release: EdgeRelease): NonNullable<JobSpec['tensor']> {
  const signature = tensorSignature(release.manifest) as TensorModelSignature;
  const unsupported = signature.inputs.filter((i) => i.datatype === 'FP16' || i.datatype === 'BYTES');
  if (unsupported.length > 0) {
    throw new InvalidInputError(
      `jobs carry rows as JSON, which cannot hold ${unsupported.map((i) => `${i.name} (${i.datatype})`).join(', ')}: send those to /v2/models/${release.manifest.name}/infer as binary data`,
    );
  }
  return {
    inputs: signature.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [...i.shape] })),
    output: { name: signature.cascade.spec.name, kind: signature.cascade.kind },
    labels: [...release.manifest.labels],
  };
}

/** Seconds until the next UTC midnight (when the daily quota resets). */
const untilMidnight = (now: number) => Math.ceil((86_400_000 - (now % 86_400_000)) / 1000);

/** Charges `rows` to the key's quota of the day; 429 naming the quota when it would pass it. Returns a refund. */
async function chargeQuota(
  c: Context<AppEnv>,
  deps: JobRouteDeps,
  rows: number,
): Promise<() => Promise<void>> {
  const store = deps.quotaStore(c);
  const none = async () => {};
  if (store === undefined) return none;
  const config = c.get('config');
  const principal = c.get('principal');
  const limit = rateTierOf(config.rateTiers, principal.tier)?.job_rows_per_day ?? DEFAULT_JOB_ROWS_PER_DAY;
  const now = deps.now();
  const day = new Date(now).toISOString().slice(0, 10);
  const key = `jobs:quota:v1:${principal.id}:${day}`;
  let used: number;
  try {
    used = await store.incrby(key, rows);
    await store.expire(key, 2 * 86_400);
  } catch (err) {
    if (config.rateFailMode === 'closed') {
      throw new InferenceError('unavailable', 'the job quota could not be checked; retry', { cause: err });
    }
    console.warn(
      JSON.stringify({ level: 'warn', msg: 'job quota not checked (store unavailable): fail open' }),
    );
    return none;
  }
  const charged = [key];
  const refund = async () => {
    await Promise.all(charged.map((k) => store.decrby(k, rows).catch(() => {})));
  };
  if (used > limit) {
    await refund();
    throw new InferenceError(
      'quota_exceeded',
      `this job of ${rows} rows would pass the key's quota of ${limit} job rows per day (tier ${principal.tier}, ${Math.max(0, used - rows)} used today); it resets at 00:00 UTC`,
      { headers: { 'Retry-After': String(untilMidnight(now)) } },
    );
  }
  // Job rows count against the tenant's item quotas too (store keys; bootstrap keys have none).
  if (principal.source === 'store') {
    for (const q of quotaCounters(principal.tenant, principal.quotas, now)) {
      let value: number;
      try {
        value = await store.incrby(q.key, rows);
        charged.push(q.key);
        await store.expire(q.key, q.ttlSeconds);
      } catch (err) {
        if (config.rateFailMode === 'closed') {
          await refund();
          throw new InferenceError('unavailable', 'the quota could not be checked; retry', { cause: err });
        }
        continue;
      }
      if (value > q.limit) {
        await refund();
        throw new InferenceError(
          'quota_exceeded',
          `this job of ${rows} rows would pass the tenant's quota of ${q.limit} ${q.name.replace(/_/g, ' ')} (${Math.max(0, value - rows)} used); it resets at ${new Date(q.resetAt).toISOString()}`,
          { headers: { 'Retry-After': String(Math.max(1, q.retryAfter)) } },
        );
      }
    }
  }
  return refund;
}

export function jobSubmitHandler(deps: JobRouteDeps) {
  return async function submitJob(c: Context<AppEnv>): Promise<Response> {
    const config = c.get('config');
    const { model, version } = modelParams(c);
    const { bucket, jobs, queue: bound } = bindings(c);
    const queue = deps.queue?.(c) ?? bound;
    const release = releaseFor(deps.releases(), model);
    const tensor = release !== undefined && isTensorRelease(release) ? tensorJob(release) : null;
    const type = mediaType(c.req.header('content-type'));
    const ndjson = NDJSON_TYPES.has(type ?? '');
    if (tensor !== null && !ndjson) {
      throw new InferenceError(
        'unsupported_media_type',
        `'${model}' is a tensor model: a job is application/x-ndjson, one row per line ({${tensor.inputs.map((i) => `"${i.name}": [...]`).join(', ')}})`,
      );
    }
    if (!ndjson && type !== 'application/json') {
      throw new InferenceError(
        'unsupported_media_type',
        `a job body is application/x-ndjson (one text per line) or application/json ({"texts": [...]}), got ${JSON.stringify(c.req.header('content-type') ?? '(none)')}`,
      );
    }
    const length = Number(c.req.header('content-length'));
    if (Number.isFinite(length) && length > config.jobMaxBytes) {
      throw new InferenceError(
        'payload_too_large',
        `the job body is over ${config.jobMaxBytes} bytes (JOB_MAX_BYTES); split it`,
      );
    }
    const principal = c.get('principal');
    const hook = c.req.header('x-webhook-url');
    const webhook = hook === undefined ? null : checkWebhookUrl(hook);
    if (webhook !== null && (c.env.WEBHOOK_SIGNING_SECRET ?? '').length < 16) {
      throw new InferenceError(
        'unavailable',
        'job webhooks are not configured on this edge (WEBHOOK_SIGNING_SECRET)',
      );
    }
    const idempotency = c.req.header('idempotency-key');
    if (idempotency !== undefined && !IDEMPOTENCY_KEY.test(idempotency)) {
      throw new InferenceError('invalid_header', 'Idempotency-Key must be 1-255 printable ASCII characters');
    }
    const id =
      idempotency === undefined
        ? `job_${bytesToHex(crypto.getRandomValues(new Uint8Array(16)))}`
        : `job_${(await sha256Hex(`${principal.id}\u0000${idempotency}`)).slice(0, 32)}`;
    const stub = stubOf(jobs, id);
    const replay = async (spec: JobSpec, view: JobView) => {
      if (spec.model !== model || spec.version !== (version ?? null)) {
        throw new InferenceError(
          'conflict',
          'this Idempotency-Key was used for a job of another model or version',
        );
      }
      return c.json(present(c, view), 202, { location: `/v1/jobs/${id}`, 'idempotent-replayed': 'true' });
    };
    if (idempotency !== undefined) {
      const existing = await stub.describe();
      if (existing !== undefined) return replay(existing.spec, existing.view);
    }

    const limits: JobLimits = {
      maxRows: config.jobMaxRows,
      maxBytes: config.jobMaxBytes,
      chunkRows: config.jobChunkRows,
      chunkBytes: CHUNK_BYTES,
      // One row may be as large as a whole synchronous request.
      maxLineBytes: config.maxBodyBytes,
    };
    // Each submission writes under a prefix of its own: two racing retries never overwrite each other's parts.
    const prefix = `jobs/${principal.id}/${id}/${crypto.randomUUID()}/`;
    const writer = new ChunkWriter(bucket, prefix, limits);
    let stored: StoredInput;
    if (ndjson) {
      const raw = c.req.raw.body;
      if (raw === null) throw new InvalidInputError('the job holds no rows');
      const encoding = (c.req.header('content-encoding') ?? 'identity').trim().toLowerCase();
      if (encoding !== 'identity' && encoding !== 'gzip') {
        throw new InferenceError(
          'unsupported_media_type',
          `content-encoding must be gzip or identity, got ${JSON.stringify(encoding.slice(0, 40))}`,
        );
      }
      // Over the platform's request body limit (100 MB on Free and Pro plans), send the NDJSON gzipped: the limits
      // count the decompressed bytes.
      if (encoding === 'gzip') {
        // The compressed body is not cancelled when decompressing fails (preventCancel): it is drained below, so the
        // answer never comes while the client is still uploading.
        const body = raw.pipeThrough(new DecompressionStream('gzip'), { preventCancel: true });
        stored = await storeNdjson(body, writer, limits, tensor ?? undefined).catch(async (err: unknown) => {
          await drainBody(raw, DRAIN_MAX_BYTES);
          throw err;
        });
      } else stored = await storeNdjson(raw, writer, limits, tensor ?? undefined);
    } else {
      const raw = await readBody(c, config.maxBodyBytes);
      stored = await storeTexts(await readJson(c), writer, raw.byteLength);
    }
    let refund: () => Promise<void>;
    try {
      refund = await chargeQuota(c, deps, stored.rows);
    } catch (err) {
      await writer.discard();
      throw err;
    }
    const spec: JobSpec = {
      id,
      owner: principal.id,
      owner_name: principal.name,
      model,
      version: version ?? null,
      rows: stored.rows,
      bytes: stored.bytes,
      chunks: stored.chunks,
      prefix,
      created_at: new Date(deps.now()).toISOString(),
      webhook,
      tensor,
    };
    const created = await stub.create(spec);
    if (!created.created) {
      // A concurrent retry with the same Idempotency-Key won: its job stands, this one's parts go.
      await writer.discard();
      await refund();
      const existing = await stub.describe();
      if (existing !== undefined) return replay(existing.spec, existing.view);
    }
    try {
      for (let i = 0; i < spec.chunks.length; i += 100) {
        await queue.sendBatch(
          spec.chunks
            .slice(i, i + 100)
            .map((_, k) => ({ body: { job: id, chunk: i + k } satisfies ChunkMessage })),
        );
      }
    } catch (err) {
      // The job is stored: its alarm sends the chunks again after the stuck timeout.
      console.error(
        JSON.stringify({
          level: 'warn',
          msg: 'job chunks not queued yet; the job alarm will',
          job: id,
          error: String(err),
        }),
      );
    }
    const log = c.get('log');
    log.model = model;
    log.items = stored.rows;
    log.job_rows = stored.rows;
    const view = (await stub.view()) as JobView;
    return c.json(present(c, view), 202, { location: `/v1/jobs/${id}` });
  };
}

/** GET /v1/jobs/webhook-secret: the calling key's secret for verifying its job webhooks (jobs/webhook.ts). */
export function webhookSecretHandler() {
  return async function webhookSecret(c: Context<AppEnv>): Promise<Response> {
    const root = c.env.WEBHOOK_SIGNING_SECRET ?? '';
    if (root.length < 16) {
      throw new InferenceError(
        'unavailable',
        'job webhooks are not configured on this edge (WEBHOOK_SIGNING_SECRET)',
      );
    }
    c.header('cache-control', 'no-store');
    return c.json({
      secret: await webhookSecretFor(root, c.get('principal').id),
      signature:
        'x-signature = hex HMAC-SHA256(secret, "v1\\nPOST\\n<path>\\n<x-signature-timestamp>\\n<x-signature-nonce>\\n<sha256 hex of the body>")',
    });
  };
}

export function jobStatusHandler() {
  return async function jobStatus(c: Context<AppEnv>): Promise<Response> {
    const { view } = await visibleJob(c);
    return c.json(present(c, view));
  };
}

export function jobCancelHandler() {
  return async function cancelJob(c: Context<AppEnv>): Promise<Response> {
    const { stub, spec } = await visibleJob(c);
    const view = (await stub.cancel()) as JobView;
    const { bucket } = bindings(c);
    // Inputs go now; results already written go too (a cancelled job has no results to read).
    c.executionCtx.waitUntil(deletePrefix(bucket, spec.prefix));
    return c.json(present(c, view));
  };
}

async function deletePrefix(bucket: R2Bucket, prefix: string): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, ...(cursor === undefined ? {} : { cursor }) });
    if (page.objects.length > 0) await bucket.delete(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
}

export function jobResultsHandler() {
  return async function jobResults(c: Context<AppEnv>): Promise<Response> {
    const { view, spec } = await visibleJob(c);
    if (view.status === 'queued' || view.status === 'running' || view.status === 'cancelled') {
      throw new InferenceError(
        'conflict',
        `job ${view.id} is ${view.status} (${view.progress.rows_done} of ${view.progress.rows_total} rows done): results come once it is finished`,
      );
    }
    const { bucket } = bindings(c);
    const errors = new Map(view.errors.map((e) => [e.chunk, e.error]));
    const encoder = new TextEncoder();
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (n >= spec.chunks.length) {
          controller.close();
          return;
        }
        const chunk = spec.chunks[n] as JobSpec['chunks'][number];
        const object = errors.has(n) ? null : await bucket.get(resultKey(spec, n));
        if (object === null) {
          // A failed chunk keeps its rows' places: one error line per row.
          const error = {
            code: 'chunk_failed',
            message: errors.get(n) ?? 'no results stored for this chunk',
          };
          const lines = Array.from({ length: chunk.rows }, (_, i) =>
            JSON.stringify({ index: chunk.first + i, error }),
          );
          controller.enqueue(encoder.encode(`${lines.join('\n')}\n`));
        } else {
          controller.enqueue(new Uint8Array(await object.arrayBuffer()));
        }
        n++;
      },
    });
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/x-ndjson', 'x-request-id': c.get('requestId') },
    });
  };
}

export function jobListHandler() {
  return async function listJobs(c: Context<AppEnv>): Promise<Response> {
    const principal = c.get('principal');
    const owner = c.req.query('owner') ?? principal.id;
    if (owner !== principal.id && !principal.scopes.includes('admin')) {
      throw new InferenceError('forbidden', "only admin keys may list another key's jobs");
    }
    if (!/^[\w.-]{1,128}$/.test(owner)) throw new InvalidInputError('owner: expected a key id');
    const cursor = c.req.query('cursor');
    const { bucket, jobs } = bindings(c);
    const page = await bucket
      .list({
        prefix: `jobs/${owner}/`,
        delimiter: '/',
        limit: 50,
        ...(cursor === undefined ? {} : { cursor }),
      })
      .catch((err: unknown) => {
        // R2 refuses a cursor it did not hand out: the client's mistake, not ours.
        if (cursor !== undefined)
          throw new InvalidInputError('cursor: expected the cursor of the previous page');
        throw err;
      });
    const ids = page.delimitedPrefixes.map((p) => p.split('/')[2] as string).filter((id) => JOB_ID.test(id));
    const views = await Promise.all(ids.map((id) => stubOf(jobs, id).view()));
    return c.json({
      jobs: views.filter((v): v is JobView => v !== undefined).map((v) => present(c, v)),
      cursor: page.truncated ? page.cursor : null,
    });
  };
}
