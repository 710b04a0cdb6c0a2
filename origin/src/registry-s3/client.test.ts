import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../scripts/local-s3.ts';
import { createS3Client, type S3ClientOptions, S3Error } from './client.ts';

const SECRET = 'do-not-print-this-secret';
const options = (over: Partial<S3ClientOptions> = {}): S3ClientOptions => ({
  endpoint: 'https://acct.r2.cloudflarestorage.com',
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: SECRET,
  initialBackoffMs: 1,
  ...over,
});

/** A fetch answering from a list (the last answer repeats), recording each request. */
function fakeFetch(answers: Array<() => Response>) {
  const requests: Request[] = [];
  return {
    requests,
    fetch: async (r: Request) => {
      requests.push(r);
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)] as () => Response;
      return answer();
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<S3Error> {
  try {
    await p;
  } catch (err) {
    return err as S3Error;
  }
  throw new Error('expected a rejection');
}

describe('S3 client against a local S3 server standing in for R2', () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startLocalS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });
  const client = () =>
    createS3Client({
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });

  it('puts, heads and gets an object by key; a missing key is undefined', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await client().put('spam/v1/teacher.onnx', bytes);
    expect(await client().get('spam/v1/teacher.onnx')).toEqual(bytes);
    expect(await client().head('spam/v1/teacher.onnx')).toMatchObject({ bytes: 5 });
    expect(await client().get('spam/v1/nothing.onnx')).toBeUndefined();
    expect(await client().head('spam/v1/nothing.onnx')).toBeUndefined();
  });

  it('names the bucket, key, status and S3 code of a failure', async () => {
    const other = createS3Client({
      endpoint: s3.endpoint,
      bucket: 'no-such-bucket',
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
    await expect(other.put('a/b', new Uint8Array(1))).rejects.toThrow(
      /^S3 PUT no-such-bucket\/a\/b: 404 .*no such bucket/,
    );
  });
});

describe('S3 client', () => {
  it('signs path-style requests {endpoint}/{bucket}/{key} with SigV4 for region auto', async () => {
    const f = fakeFetch([() => new Response(new Uint8Array([7]))]);
    const c = createS3Client(options({ fetch: f.fetch }));
    expect(await c.get('spam/2026-12-07.563707c0e1/manifest.json')).toEqual(new Uint8Array([7]));
    const r = f.requests[0] as Request;
    expect(r.url).toBe(
      'https://acct.r2.cloudflarestorage.com/models/spam/2026-12-07.563707c0e1/manifest.json',
    );
    expect(r.headers.get('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/auto\/s3\/aws4_request, SignedHeaders=.*, Signature=[0-9a-f]{64}$/,
    );
    expect(r.headers.get('authorization')).not.toContain(SECRET);
  });

  it('retries 5xx and 429 a few times, then throws naming the key and the status, never the secret', async () => {
    const f = fakeFetch([
      () => new Response('busy', { status: 503, statusText: 'Service Unavailable' }),
      () => new Response('slow down', { status: 429 }),
      () => new Response(new Uint8Array([1])),
    ]);
    expect(await createS3Client(options({ fetch: f.fetch })).get('k')).toEqual(new Uint8Array([1]));
    expect(f.requests).toHaveLength(3);

    const down = fakeFetch([() => new Response('x', { status: 500, statusText: 'Internal Server Error' })]);
    const err = await rejection(
      createS3Client(options({ fetch: down.fetch, retries: 1 })).get('spam/index.json'),
    );
    expect(down.requests).toHaveLength(2);
    expect(err).toBeInstanceOf(S3Error);
    expect(err).toMatchObject({ key: 'spam/index.json', status: 500 });
    expect(err.message).toBe('S3 GET models/spam/index.json: 500 Internal Server Error');
  });

  it('does not retry a refusal, and reads S3 error codes', async () => {
    const f = fakeFetch([
      () =>
        new Response('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>', {
          status: 403,
          statusText: 'Forbidden',
        }),
    ]);
    const err = await rejection(createS3Client(options({ fetch: f.fetch })).get('spam/index.json'));
    expect(f.requests).toHaveLength(1);
    expect(err.message).toBe('S3 GET models/spam/index.json: 403 Forbidden (AccessDenied)');
    expect(err.message).not.toContain(SECRET);
  });

  it('retries network failures and times out an attempt that hangs', async () => {
    const f = fakeFetch([
      () => {
        throw new TypeError('fetch failed');
      },
    ]);
    const err = await rejection(createS3Client(options({ fetch: f.fetch, retries: 2 })).get('k'));
    expect(f.requests).toHaveLength(3);
    expect(err).toMatchObject({ status: undefined, message: 'S3 GET models/k failed: fetch failed' });

    const hang = (r: Request) =>
      new Promise<Response>((_, reject) => r.signal.addEventListener('abort', () => reject(r.signal.reason)));
    const slow = await rejection(
      createS3Client(options({ fetch: hang, retries: 0, timeoutMs: 20 })).get('k'),
    );
    expect(slow.message).toBe('S3 GET models/k failed: no answer within 20 ms');
  });

  it('refuses bad options with a TypeError naming the field', () => {
    expect(() => createS3Client(options({ endpoint: 'acct.r2.cloudflarestorage.com' }))).toThrow(
      /endpoint must be an http\(s\) URL/,
    );
    expect(() => createS3Client(options({ bucket: 'Bad_Bucket' }))).toThrow(
      /bucket must be an S3 bucket name/,
    );
    expect(() => createS3Client(options({ secretAccessKey: '' }))).toThrow(/secretAccessKey are required/);
    expect(() => createS3Client(options({ retries: -1 }))).toThrow(
      /retries must be an integer between 0 and 10/,
    );
  });
});
