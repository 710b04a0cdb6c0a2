import { stat } from 'node:fs/promises';
import { AwsClient } from 'aws4fetch';
import { describe, expect, it } from 'vitest';
import { startLocalS3 } from './local-s3.ts';

describe('startLocalS3 (a local S3 server standing in for R2)', () => {
  it('serves the models bucket path-style on loopback with its key pair, and removes its folder on stop', async () => {
    const s3 = await startLocalS3();
    try {
      expect(s3).toMatchObject({ bucket: 'models', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
      expect(s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await stat(s3.dir)).isDirectory()).toBe(true);
      const aws = new AwsClient({ ...s3, service: 's3', region: 'auto' });
      const put = await aws.fetch(`${s3.endpoint}/models/spam/index.json`, { method: 'PUT', body: '{}' });
      expect(put.status).toBe(200);
      const get = await aws.fetch(`${s3.endpoint}/models/spam/index.json`);
      expect(await get.text()).toBe('{}');
    } finally {
      await s3.stop();
      await s3.stop(); // idempotent
    }
    await expect(stat(s3.dir)).rejects.toThrow();
    await expect(fetch(`${s3.endpoint}/models/spam/index.json`)).rejects.toThrow();
  });
});
