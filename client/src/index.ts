/**
 * @edge-inference/client: the typed client of the edge inference API (and of an origin pool server), generated
 * from their OpenAPI documents (edge/openapi.json, origin/openapi.json: `npm run openapi` writes the types beside
 * this file). Every route is a typed call (`client.POST('/v1/models/{model}/classify', {params, body})`, openapi-fetch);
 * on top of them, what the API asks of a good client:
 *
 * - bearer auth: `apiKey` is sent as `Authorization: Bearer <key>` on every call;
 * - 429 and 503 retried after their Retry-After, within a bounded budget (retry.ts);
 * - job submission with an Idempotency-Key (generated when not given, the same one on every retry): a retried
 *   submission returns the same job, never a second one;
 * - job results read as NDJSON while they stream (ndjson.ts).
 *
 * Runs wherever fetch does (Node >= 18, workerd, browsers).
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components as EdgeComponents, paths as EdgePaths } from './edge-api.d.ts';
import { ApiError, unwrap } from './errors.ts';
import { ndjson } from './ndjson.ts';
import type { paths as OriginPaths } from './origin-api.d.ts';
import { type RetryOptions, retryingFetch } from './retry.ts';

export type {
  components as EdgeComponents,
  operations as EdgeOperations,
  paths as EdgePaths,
} from './edge-api.d.ts';
export { ApiError, type ErrorShape, unwrap } from './errors.ts';
export { ndjson } from './ndjson.ts';
export type { paths as OriginPaths } from './origin-api.d.ts';
export { type RetryOptions, retryAfterMs, retryingFetch } from './retry.ts';

export interface ClientOptions {
  /** The API's base URL, e.g. `https://edge.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer <key>`. @default none (health and docs routes only) */
  apiKey?: string;
  /** Retries of 429/503 answers after their Retry-After (retry.ts); `false` turns them off. @default 2 retries, 30 s budget */
  retry?: RetryOptions | false;
  /** Headers sent on every call. @default none */
  headers?: Record<string, string>;
  /** The fetch underneath. @default globalThis.fetch */
  fetch?: (request: Request) => Promise<Response>;
}

export type Prediction = EdgeComponents['schemas']['Prediction'];
export type ClassifyResponse = EdgeComponents['schemas']['ClassifyResponse'];
export type Job = EdgeComponents['schemas']['Job'];
export type JobResultLine = EdgeComponents['schemas']['JobResultLine'];

export interface ClassifyOptions {
  /** Pin a release version. @default the model's current one */
  version?: string;
  /** `x-escalate`: auto (the cascade decides), always (the origin answers), never (the edge answers). */
  escalate?: 'auto' | 'always' | 'never';
  /** `x-deadline-ms`: the request's time budget. */
  deadlineMs?: number;
  /** `cache-control`, e.g. `no-cache` to skip the result-cache read. */
  cacheControl?: string;
}

export interface SubmitJobOptions {
  version?: string;
  /** Makes a retried submission return the same job. @default a new UUID per call (kept across its retries) */
  idempotencyKey?: string;
  /** `x-webhook-url`: called when the job finishes (signed). */
  webhookUrl?: string;
  /** Send the NDJSON gzipped (`content-encoding: gzip`; the job limits count decompressed bytes). @default false */
  gzip?: boolean;
}

function baseOptions(options: ClientOptions) {
  if (typeof options?.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new TypeError(`client: baseUrl must be an http(s) URL, got ${JSON.stringify(options?.baseUrl)}`);
  }
  const send = options.fetch ?? ((r: Request) => globalThis.fetch(r));
  const headers: Record<string, string> = { ...options.headers };
  if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
  return {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers,
    fetch: options.retry === false ? send : retryingFetch({ ...options.retry, fetch: send }),
  };
}

/** The edge API: every route typed, plus the helpers below. */
export function createEdgeClient(options: ClientOptions) {
  const client: Client<EdgePaths> = createClient<EdgePaths>(baseOptions(options));
  return Object.assign(client, {
    /** Classifies texts (one prediction per text, in order); throws ApiError on a refusal. */
    async classify(model: string, texts: string[], o: ClassifyOptions = {}): Promise<ClassifyResponse> {
      const header: Record<string, string> = {};
      if (o.escalate !== undefined) header['x-escalate'] = o.escalate;
      if (o.deadlineMs !== undefined) header['x-deadline-ms'] = String(o.deadlineMs);
      if (o.cacheControl !== undefined) header['cache-control'] = o.cacheControl;
      const body = { texts };
      return o.version === undefined
        ? unwrap(
            await client.POST('/v1/models/{model}/classify', { params: { path: { model }, header }, body }),
          )
        : unwrap(
            await client.POST('/v1/models/{model}/versions/{version}/classify', {
              params: { path: { model, version: o.version }, header },
              body,
            }),
          );
    },

    /**
     * Submits a job of texts (NDJSON, one text per line) with an Idempotency-Key; answers the job as accepted.
     * Retried after 429/503 with the same key, so the server makes one job.
     */
    async submitJob(model: string, texts: string[], o: SubmitJobOptions = {}) {
      const headers: Record<string, string> = {
        'content-type': 'application/x-ndjson',
        'idempotency-key': o.idempotencyKey ?? crypto.randomUUID(),
      };
      if (o.webhookUrl !== undefined) headers['x-webhook-url'] = o.webhookUrl;
      const text = `${texts.map((t) => JSON.stringify(t)).join('\n')}\n`;
      let body: string | Uint8Array<ArrayBuffer> = text;
      if (o.gzip === true) {
        headers['content-encoding'] = 'gzip';
        const gz = new Response(text).body?.pipeThrough(new CompressionStream('gzip'));
        body = new Uint8Array(await new Response(gz).arrayBuffer());
      }
      const path =
        o.version === undefined
          ? `/v1/models/${encodeURIComponent(model)}/jobs`
          : `/v1/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(o.version)}/jobs`;
      const { baseUrl, fetch, headers: common } = baseOptions(options);
      const res = await fetch(
        new Request(`${baseUrl}${path}`, { method: 'POST', headers: { ...common, ...headers }, body }),
      );
      const json = (await res.json().catch(() => undefined)) as unknown;
      if (!res.ok) throw new ApiError(res, json);
      return json as Job;
    },

    /** A finished job's result rows, read as they stream (NDJSON); throws ApiError on a refusal. */
    async *jobResults<Row = JobResultLine>(id: string): AsyncGenerator<Row> {
      const { baseUrl, fetch, headers } = baseOptions(options);
      const res = await fetch(
        new Request(`${baseUrl}/v1/jobs/${encodeURIComponent(id)}/results`, {
          headers: { ...headers, accept: 'application/x-ndjson' },
        }),
      );
      if (!res.ok) throw new ApiError(res, await res.json().catch(() => undefined));
      yield* ndjson<Row>(res.body);
    },
  });
}

export type EdgeClient = ReturnType<typeof createEdgeClient>;

/** An origin pool server's API (OIP v2, text route, repository extension, /metrics). */
export function createOriginClient(options: ClientOptions): Client<OriginPaths> {
  return createClient<OriginPaths>(baseOptions(options));
}
