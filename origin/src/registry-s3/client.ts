/**
 * A small S3 client for the model registry (an R2 bucket through R2's S3-compatible API, or any S3 server):
 * get, put and head of one object, signed with AWS Signature V4 (aws4fetch), path-style URLs
 * `{endpoint}/{bucket}/{key}`, which R2 (`https://<account>.r2.cloudflarestorage.com`, region `auto`) and local S3
 * servers both accept. Everything comes in through the options: nothing reads the environment.
 *
 * A missing object is `undefined` (404), never an error. Other answers throw an S3Error naming the method, the key
 * and the status (and S3's error code when the body carries one), never a credential. 5xx, 429 and network
 * failures are retried a few times with jittered backoff; every attempt has a timeout.
 */
import { AwsClient } from 'aws4fetch';

export interface S3ClientOptions {
  /** Service URL without the bucket, e.g. `https://<account>.r2.cloudflarestorage.com` or `http://127.0.0.1:4568`. */
  endpoint: string;
  /** @default 'models' */
  bucket?: string;
  /** Signing region; R2 takes `auto`. @default 'auto' */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Attempts after the first on 5xx, 429 and network errors. @default 2 */
  retries?: number;
  /** Time limit of one attempt, ms. @default 30000 */
  timeoutMs?: number;
  /** First backoff, ms (doubled per retry, jittered). @default 100 */
  initialBackoffMs?: number;
  /** @default globalThis.fetch */
  fetch?: (request: Request) => Promise<Response>;
}

/** What the registry reader needs from an object store (tests pass a Map-backed fake). */
export interface ObjectStore {
  /** The object's bytes, or undefined when there is no such key (404). */
  get(key: string, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array, contentType?: string, signal?: AbortSignal): Promise<void>;
  /** Size and ETag of the object, or undefined when there is no such key. */
  head(key: string, signal?: AbortSignal): Promise<{ bytes: number; etag: string | undefined } | undefined>;
}

/** An S3 call that failed: a status other than 2xx/404, or no answer at all (status undefined). */
export class S3Error extends Error {
  readonly key: string;
  readonly status: number | undefined;
  constructor(message: string, key: string, status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'S3Error';
    this.key = key;
    this.status = status;
  }
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function checkOptions(o: S3ClientOptions): { base: string; bucket: string } {
  let url: URL;
  try {
    url = new URL(o.endpoint);
  } catch {
    throw new TypeError(`S3 client: endpoint must be an http(s) URL, got ${JSON.stringify(o.endpoint)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`S3 client: endpoint must be an http(s) URL, got ${JSON.stringify(o.endpoint)}`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError('S3 client: endpoint must have no query, fragment or credentials');
  }
  const bucket = o.bucket ?? 'models';
  if (!BUCKET.test(bucket)) {
    throw new TypeError(`S3 client: bucket must be an S3 bucket name, got ${JSON.stringify(bucket)}`);
  }
  if (o.accessKeyId === '' || o.secretAccessKey === '') {
    throw new TypeError('S3 client: accessKeyId and secretAccessKey are required');
  }
  for (const [field, value, min, max] of [
    ['retries', o.retries, 0, 10],
    ['timeoutMs', o.timeoutMs, 1, 3_600_000],
    ['initialBackoffMs', o.initialBackoffMs, 0, 60_000],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
      throw new TypeError(`S3 client: ${field} must be an integer between ${min} and ${max}, got ${value}`);
    }
  }
  return { base: url.href.replace(/\/+$/, ''), bucket };
}

/** S3's error code from an XML error body (`<Code>NoSuchBucket</Code>`), when there is one. */
function errorCode(body: string): string | undefined {
  return /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(body)?.[1];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createS3Client(options: S3ClientOptions): ObjectStore {
  const { base, bucket } = checkOptions(options);
  const aws = new AwsClient({
    accessKeyId: options.accessKeyId,
    secretAccessKey: options.secretAccessKey,
    service: 's3',
    region: options.region ?? 'auto',
    retries: 0,
  });
  const retries = options.retries ?? 2;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const backoffMs = options.initialBackoffMs ?? 100;
  const fetchImpl = options.fetch ?? ((r: Request) => fetch(r));

  const urlOf = (key: string) => {
    if (key === '' || key.startsWith('/'))
      throw new TypeError(`S3 client: invalid key ${JSON.stringify(key)}`);
    return `${base}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  };

  /** One call with retries; resolves with a 2xx or 404 response, throws S3Error otherwise. */
  async function call(
    method: 'GET' | 'PUT' | 'HEAD',
    key: string,
    init: { body?: Uint8Array; headers?: Record<string, string>; signal?: AbortSignal | undefined },
  ): Promise<Response> {
    const url = urlOf(key);
    const what = `S3 ${method} ${bucket}/${key}`;
    for (let attempt = 0; ; attempt++) {
      const signal =
        init.signal === undefined
          ? AbortSignal.timeout(timeoutMs)
          : AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]);
      let res: Response;
      try {
        const request = await aws.sign(url, {
          method,
          ...(init.headers === undefined ? {} : { headers: init.headers }),
          ...(init.body === undefined ? {} : { body: init.body as BodyInit }),
          signal,
        });
        res = await fetchImpl(request);
      } catch (err) {
        if (init.signal?.aborted === true)
          throw new S3Error(`${what}: aborted`, key, undefined, { cause: err });
        if (attempt < retries) {
          await sleep(Math.random() * backoffMs * 2 ** attempt);
          continue;
        }
        const why =
          (err as Error).name === 'TimeoutError'
            ? `no answer within ${timeoutMs} ms`
            : (err as Error).message;
        throw new S3Error(`${what} failed: ${why}`, key, undefined, { cause: err });
      }
      if (res.ok || res.status === 404) return res;
      const text = method === 'HEAD' ? '' : await res.text().catch(() => '');
      if ((res.status >= 500 || res.status === 429) && attempt < retries) {
        await sleep(Math.random() * backoffMs * 2 ** attempt);
        continue;
      }
      const code = errorCode(text);
      throw new S3Error(
        `${what}: ${res.status} ${res.statusText}${code === undefined ? '' : ` (${code})`}`,
        key,
        res.status,
      );
    }
  }

  return {
    async get(key, signal) {
      const res = await call('GET', key, { signal });
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      return new Uint8Array(await res.arrayBuffer());
    },
    async put(key, bytes, contentType = 'application/octet-stream', signal) {
      const res = await call('PUT', key, { body: bytes, headers: { 'content-type': contentType }, signal });
      await res.body?.cancel();
      if (res.status === 404) throw new S3Error(`S3 PUT ${bucket}/${key}: 404 (no such bucket?)`, key, 404);
    },
    async head(key, signal) {
      const res = await call('HEAD', key, { signal });
      await res.body?.cancel();
      if (res.status === 404) return undefined;
      return {
        bytes: Number(res.headers.get('content-length') ?? 0),
        etag: res.headers.get('etag') ?? undefined,
      };
    },
  };
}
