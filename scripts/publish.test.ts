/**
 * `npm run publish` against an S3-compatible server (s3rver, a local stand-in for R2's S3 API): every artifact is
 * checked before anything is written, the index is written last, a published version is immutable.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, type ObjectStore } from '../origin/src/registry-s3/client.ts';
import { parseIndex, RegistryConflictError, registryKeys } from '../shared/registry/index.ts';
import { type LocalS3, startLocalS3 } from './local-s3.ts';
import { publishToStore, readRelease } from './publish.ts';

const FIXTURE = 'test/fixtures/models/spam/2026-11-01.dd7ab3869c';

let s3: LocalS3;
let store: ObjectStore;
let tmp: string;

beforeAll(async () => {
  s3 = await startLocalS3();
  store = createS3Client({ ...s3, region: 'auto' });
  tmp = await mkdtemp(join(tmpdir(), 'publish-test-'));
});

afterAll(async () => {
  await s3?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('npm run publish to an S3 endpoint (s3rver: local stand-in for R2)', () => {
  it('uploads every object and writes the index last; publishing again is a no-op', async () => {
    const release = await readRelease(FIXTURE);
    const { name, version } = release.manifest;
    expect(await store.get(registryKeys.index(name))).toBeUndefined();
    const first = await publishToStore(release, store, () => Date.parse('2026-12-07T10:00:00Z'));
    expect(first).toMatchObject({ published: true, already: false });
    const index = parseIndex(JSON.parse(new TextDecoder().decode(await store.get(registryKeys.index(name)))));
    expect(index.versions).toEqual([
      expect.objectContaining({
        version,
        created: release.manifest.created,
        published: '2026-12-07T10:00:00.000Z',
      }),
    ]);
    for (const [file, bytes] of release.artifacts) {
      expect(await store.get(registryKeys.artifact(name, version, file))).toEqual(bytes);
    }
    expect(await publishToStore(release, store)).toMatchObject({ published: false, already: true });
  });

  it('refuses a version already published with another manifest, writing nothing', async () => {
    const release = await readRelease(FIXTURE);
    const other = {
      ...release,
      manifestBytes: new TextEncoder().encode(`${new TextDecoder().decode(release.manifestBytes)} `),
    };
    await expect(publishToStore(other, store)).rejects.toThrow(RegistryConflictError);
  });

  it('refuses a release folder whose artifact does not match its manifest, before any upload', async () => {
    const dir = join(tmp, 'corrupt');
    await cp(FIXTURE, dir, { recursive: true });
    await writeFile(join(dir, 'student.onnx'), 'not the student');
    await expect(readRelease(dir)).rejects.toThrow(/does not match its manifest/);
  });
});
