/**
 * The origin pulling releases from the model registry at run time, with an in-process S3 server (s3rver,
 * scripts/local-s3.ts) standing in for the R2 bucket: releases are published with the origin's own S3 client
 * (test/publish.ts: artifacts, manifest, index last) and the origin starts with no disk copy of them.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../../scripts/local-s3.ts';
import { featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import { signRequest } from '../../../shared/signing/index.ts';
import {
  createModelRepository,
  type FixtureVersion,
  mlpVersion,
  type TempRepository,
  textModel,
} from '../../test/fixtures.ts';
import { sample } from '../../test/harness.ts';
import { publishRelease } from '../../test/publish.ts';
import { createLogger } from '../logger.ts';
import { type OriginServer, startOriginServer } from '../server.ts';
import { createS3Client, type ObjectStore } from './client.ts';

const FIXTURE_RELEASE = fileURLToPath(
  new URL('../../../test/fixtures/models/spam/2026-11-01.dd7ab3869c', import.meta.url),
);
const FIXTURE_VERSION = '2026-11-01.dd7ab3869c';

/** A small text release of `spam` (created after the fixture release; later names are newer). */
function spamVersion(version: string, seed = 7): FixtureVersion {
  return {
    name: 'spam',
    version,
    onnx: textModel(256, 32, 8, seed),
    featurizer: { name: 'email-hash', version: '1.0.0', config: { buckets: 256, maxLength: 32 } },
  };
}

interface LogLine {
  level: string;
  msg: string;
  model?: string;
  version?: string;
  reason?: string;
}

/** A pino logger whose lines the test can read. */
function capturedLogger() {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) },
  });
  return { logger, lines };
}

async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

interface Setup {
  s3: LocalS3;
  store: ObjectStore;
  /** Release folders made for publishing (a publisher's models/ folder). */
  releases: TempRepository;
  /** The origin's own (disk) repository. */
  disk: TempRepository;
  cacheDir: string;
}

function useRegistry(releases: FixtureVersion[], disk: FixtureVersion[] = []): Setup {
  const setup = {} as Setup;
  beforeAll(async () => {
    setup.s3 = await startLocalS3();
    setup.store = createS3Client({
      endpoint: setup.s3.endpoint,
      bucket: setup.s3.bucket,
      accessKeyId: setup.s3.accessKeyId,
      secretAccessKey: setup.s3.secretAccessKey,
    });
    setup.releases = await createModelRepository(releases);
    setup.disk = await createModelRepository(disk);
    setup.cacheDir = await mkdtemp(join(tmpdir(), 'origin-registry-cache-'));
  });
  afterAll(async () => {
    await setup.s3?.stop();
    await setup.releases?.cleanup();
    await setup.disk?.cleanup();
    if (setup.cacheDir !== undefined) await rm(setup.cacheDir, { recursive: true, force: true });
  });
  return setup;
}

function registryConfig(s: Setup) {
  return {
    modelRepository: s.disk.root,
    registryEndpoint: s.s3.endpoint,
    registryBucket: s.s3.bucket,
    registryAccessKeyId: s.s3.accessKeyId,
    registrySecretAccessKey: s.s3.secretAccessKey,
    registryModels: ['spam'],
    registryCacheDir: s.cacheDir,
    executionProvider: 'cpu' as const,
    featurizeWorkers: 0,
  };
}

async function classify(url: string, version?: string, headers: Record<string, string> = {}) {
  const path =
    version === undefined ? '/v1/models/spam/classify' : `/v1/models/spam/versions/${version}/classify`;
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ texts: ['WIN MONEY NOW', 'minutes of the meeting'] }),
  });
  return { status: res.status, body: (await res.json()) as { version?: string; predictions?: unknown[] } };
}

describe('poll mode against a local S3 server standing in for R2', () => {
  const s = useRegistry([spamVersion('2026-11-23.a'), spamVersion('2026-11-23.b', 11)]);
  const { logger, lines } = capturedLogger();
  let origin: { server: OriginServer; url: string };

  beforeAll(async () => {
    await publishRelease(s.store, FIXTURE_RELEASE);
    origin = await startOriginServer(
      { ...registryConfig(s), registryPollSeconds: 0.2, versionPolicy: 'latest:1' },
      { logger, featurizerFactory: featurizerFromManifest },
    );
  });
  afterAll(async () => {
    await origin?.server.stop();
  });

  it('starts with no disk copy of the release, pulls it from the local S3 stand-in for R2, becomes ready and classifies through it', async () => {
    expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(200);
    const answer = await classify(origin.url, FIXTURE_VERSION);
    expect(answer.status).toBe(200);
    expect(answer.body.version).toBe(FIXTURE_VERSION);
    expect(answer.body.predictions).toHaveLength(2);
    const meta = (await (await fetch(`${origin.url}/v2/models/spam`)).json()) as { versions: string[] };
    expect(meta.versions).toEqual([FIXTURE_VERSION]);
    const text = await metrics(origin.url);
    expect(sample(text, 'nv_model_ready', { model: 'spam', version: FIXTURE_VERSION })).toBe(1);
    expect(sample(text, 'nv_model_registry_pulls_total', { model: 'spam', outcome: 'loaded' })).toBe(1);
    expect(sample(text, 'nv_model_registry_pulls_total', { model: 'spam', outcome: 'refused' })).toBe(0);
    expect((await readdir(join(s.cacheDir, 'spam', FIXTURE_VERSION))).sort()).toEqual([
      'cascade.svg',
      'eval.json',
      'manifest.json',
      'seen-ids.bin',
      'student.onnx',
      'teacher.onnx',
    ]);
  });

  it('refuses a release published to the local S3 stand-in for R2 with a corrupted artifact, logs and counts it once, and keeps serving the first', async () => {
    await publishRelease(s.store, join(s.releases.root, 'spam', '2026-11-23.a'), { corrupt: 'model.onnx' });
    await waitFor(
      'the refusal',
      async () =>
        sample(await metrics(origin.url), 'nv_model_registry_pulls_total', {
          model: 'spam',
          outcome: 'refused',
        }) === 1,
    );
    const refusal = lines.find((l) => l.level === 'error' && l.version === '2026-11-23.a');
    expect(refusal).toMatchObject({ model: 'spam', version: '2026-11-23.a' });
    expect(refusal?.reason).toMatch(/model\.onnx: sha256 [0-9a-f]{64} .* does not match the manifest's/);
    // Several polls later: not pulled again, the first release still serves, the server stays ready.
    await new Promise((r) => setTimeout(r, 700));
    const text = await metrics(origin.url);
    expect(sample(text, 'nv_model_registry_pulls_total', { model: 'spam', outcome: 'refused' })).toBe(1);
    expect(sample(text, 'nv_model_ready', { model: 'spam', version: '2026-11-23.a' })).toBeUndefined();
    expect((await classify(origin.url)).body.version).toBe(FIXTURE_VERSION);
    expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(200);
    expect(lines.filter((l) => l.level === 'error' && l.version === '2026-11-23.a')).toHaveLength(1);
  });

  it('serves a newer good release from the local S3 stand-in for R2 once ready, then retires the one latest:1 no longer selects', async () => {
    await publishRelease(s.store, join(s.releases.root, 'spam', '2026-11-23.b'));
    await waitFor(
      'the new release',
      async () => (await classify(origin.url)).body.version === '2026-11-23.b',
    );
    await waitFor(
      'the old release to go',
      async () =>
        ((await (await fetch(`${origin.url}/v2/models/spam`)).json()) as { versions: string[] }).versions
          .length === 1,
    );
    expect((await classify(origin.url, FIXTURE_VERSION)).status).toBe(404);
    const text = await metrics(origin.url);
    expect(sample(text, 'nv_model_ready', { model: 'spam', version: '2026-11-23.b' })).toBe(1);
    expect(sample(text, 'nv_model_ready', { model: 'spam', version: FIXTURE_VERSION })).toBeUndefined();
    expect(sample(text, 'nv_model_registry_pulls_total', { model: 'spam', outcome: 'loaded' })).toBe(2);
    expect(lines.some((l) => l.msg === 'version retired' && l.version === FIXTURE_VERSION)).toBe(true);
  });
});

describe('the admin load call against a local S3 server standing in for R2 (no polling, signed origin)', () => {
  const SECRET = 'edge-origin-secret-0123456789';
  const TOKEN = 'admin-token-0123456789abcdef';
  const s = useRegistry(
    [spamVersion('2026-11-23.a'), spamVersion('2026-11-23.b', 11)],
    [mlpVersion('mlp', '1', [16, 8, 2])],
  );
  let origin: { server: OriginServer; url: string };
  /** POSTs an admin call; `auth` null sends no Authorization header. */
  const admin = (path: string, auth: string | null = `Bearer ${TOKEN}`, body?: string) =>
    fetch(`${origin.url}${path}`, {
      method: 'POST',
      headers: auth === null ? {} : { authorization: auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
  const signedClassify = async () => {
    const path = '/v1/models/spam/classify';
    const body = JSON.stringify({ texts: ['WIN MONEY NOW'] });
    const sig = await signRequest({ secret: SECRET, method: 'POST', path, body });
    const res = await fetch(`${origin.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sig },
      body,
    });
    return { status: res.status, body: (await res.json()) as { version?: string } };
  };

  beforeAll(async () => {
    await publishRelease(s.store, join(s.releases.root, 'spam', '2026-11-23.a'));
    origin = await startOriginServer(
      {
        ...registryConfig(s),
        registryPollSeconds: 0,
        versionPolicy: 'latest:2',
        signingSecret: SECRET,
        adminToken: TOKEN,
      },
      { featurizerFactory: featurizerFromManifest },
    );
  });
  afterAll(async () => {
    await origin?.server.stop();
  });

  it('serves the disk repository (mlp) and the release pulled from the local S3 stand-in for R2 (spam) side by side', async () => {
    expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(200);
    expect((await signedClassify()).body.version).toBe('2026-11-23.a');
    const index = await admin('/v2/repository/index');
    expect(index.status).toBe(200);
    expect(await index.json()).toEqual([
      { name: 'mlp', version: '1', state: 'READY', source: 'repository' },
      { name: 'spam', version: '2026-11-23.a', state: 'READY', source: 'registry' },
    ]);
  });

  it('picks up a release newly published to the local S3 stand-in for R2 on the admin load call, without a poll', async () => {
    await publishRelease(s.store, join(s.releases.root, 'spam', '2026-11-23.b'));
    await new Promise((r) => setTimeout(r, 300));
    expect((await signedClassify()).body.version).toBe('2026-11-23.a'); // no poll picked it up
    const res = await admin('/v2/repository/models/spam/load');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      model: 'spam',
      loaded: ['2026-11-23.b'],
      refused: [],
      errors: [],
      retired: [],
      serving: ['2026-11-23.a', '2026-11-23.b'],
    });
    expect((await signedClassify()).body.version).toBe('2026-11-23.b');
    const again = await admin('/v2/repository/models/spam/load');
    expect(((await again.json()) as { loaded: string[] }).loaded).toEqual([]);
    const ready = await admin('/v2/repository/index', `Bearer ${TOKEN}`, '{"ready": true}');
    expect(((await ready.json()) as unknown[]).length).toBe(3);
  });

  it('guards the admin calls with the bearer token (not the edge signature) and names what it cannot load', async () => {
    const noAuth = await admin('/v2/repository/models/spam/load', null);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await noAuth.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const wrong = await admin('/v2/repository/index', 'Bearer not-the-admin-token-at-all');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/invalid_token/);
    const malformed = await admin('/v2/repository/index', `Basic ${TOKEN}`);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_header');
    const other = await admin('/v2/repository/models/mlp/load');
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: { code: 'model_not_found' } });
    // Inference still needs the edge's signature.
    const unsigned = await fetch(`${origin.url}/v1/models/spam/classify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: '{"text":"x"}',
    });
    expect(unsigned.status).toBe(401);
  });
});

describe('start-up while the local S3 stand-in for R2 has nothing published yet', () => {
  const s = useRegistry([]);
  let origin: { server: OriginServer; url: string };
  beforeAll(async () => {
    origin = await startOriginServer(
      { ...registryConfig(s), registryPollSeconds: 0.1 },
      { featurizerFactory: featurizerFromManifest },
    );
  });
  afterAll(async () => {
    await origin?.server.stop();
  });

  it('stays not ready with nothing to serve, keeps polling, and turns ready once a release is published', async () => {
    expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(503);
    expect((await fetch(`${origin.url}/v2/health/live`)).status).toBe(200);
    await publishRelease(s.store, FIXTURE_RELEASE);
    await waitFor('ready', async () => (await fetch(`${origin.url}/v2/health/ready`)).status === 200);
    expect((await classify(origin.url)).body.version).toBe(FIXTURE_VERSION);
  });
});

describe('start-up with the registry unreachable', () => {
  const s = useRegistry([], [mlpVersion('mlp', '1', [16, 8, 2])]);
  it('serves the disk repository, counts the failed pull as an error and logs it', async () => {
    const { logger, lines } = capturedLogger();
    const origin = await startOriginServer(
      {
        ...registryConfig(s),
        registryEndpoint: 'http://127.0.0.1:9', // discard: nothing listens
        registrySecretAccessKey: 'a-secret-that-must-never-be-logged',
        registryPollSeconds: 0,
      },
      { logger, featurizerFactory: featurizerFromManifest },
    );
    try {
      expect((await fetch(`${origin.url}/v2/health/ready`)).status).toBe(200);
      const text = await metrics(origin.url);
      expect(sample(text, 'nv_model_registry_pulls_total', { model: 'spam', outcome: 'error' })).toBe(1);
      const warning = lines.find((l) => l.msg === 'registry index read failed; retried at the next poll');
      expect(warning).toMatchObject({ level: 'warn', model: 'spam' });
      expect(warning?.reason).toMatch(/^S3 GET models\/spam\/index\.json failed: /);
      expect(JSON.stringify(lines)).not.toContain('a-secret-that-must-never-be-logged');
    } finally {
      await origin.server.stop();
    }
  });
});
