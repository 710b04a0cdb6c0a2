/**
 * A local stand-in for the R2 model registry: an S3-compatible server (s3rver) running in this process on loopback,
 * with the `models` bucket created. For `npm start` and tests; never for production.
 *
 *   const s3 = await startLocalS3();            // a temp folder, a free port
 *   // MODEL_REGISTRY_S3_ENDPOINT=s3.endpoint MODEL_REGISTRY_BUCKET=s3.bucket
 *   // MODEL_REGISTRY_ACCESS_KEY_ID=s3.accessKeyId MODEL_REGISTRY_SECRET_ACCESS_KEY=s3.secretAccessKey
 *   await s3.stop();
 *
 * s3rver knows one account whose key pair is S3RVER / S3RVER, and it does not check Signature V4 signatures (only
 * that the access key exists): a request signed with a wrong secret passes here but not at R2.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface LocalS3Options {
  /** Where objects are stored. @default a new temp folder, removed by stop() */
  dir?: string;
  /** Loopback port. @default 0 (a free one) */
  port?: number;
  /** Bucket created at start. @default 'models' */
  bucket?: string;
}

export interface LocalS3 {
  /** http://127.0.0.1:port: the S3 endpoint (path-style: {endpoint}/{bucket}/{key}). */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The folder holding the objects. */
  dir: string;
  /** Stops the server (and removes the temp folder when `dir` was not given). */
  stop(): Promise<void>;
}

/** s3rver's built-in account. */
const KEY = 'S3RVER';

export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3> {
  const bucket = options.bucket ?? 'models';
  const owned = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'local-s3-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    directory: dir,
    silent: true,
    // Path-style only: never read the bucket from the Host header.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    if (owned) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    accessKeyId: KEY,
    secretAccessKey: KEY,
    dir,
    stop() {
      stopped ??= (async () => {
        await server.close();
        if (owned) await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
