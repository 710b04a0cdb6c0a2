import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createModelRepository,
  type FixtureVersion,
  mlpVersion,
  type TempRepository,
} from '../../test/fixtures.ts';
import { sample } from '../../test/harness.ts';
import { publishRelease } from '../../test/publish.ts';
import type { VersionPolicy } from '../config.ts';
import { createMetrics, type OriginMetrics } from '../metrics.ts';
import { ModelRegistry } from '../registry.ts';
import { S3Error } from './client.ts';
import { RegistryPuller } from './puller.ts';

const SMALL = [16, 8, 2];
const v = (version: string, seed = 1): FixtureVersion => mlpVersion('mlp', version, SMALL, seed);

/** A Map-backed object store that records GETs and can fail chosen keys. */
function fakeStore() {
  const objects = new Map<string, Uint8Array>();
  const gets: string[] = [];
  let failing: (key: string) => boolean = () => false;
  return {
    objects,
    gets,
    failWhen(f: (key: string) => boolean) {
      failing = f;
    },
    async get(key: string) {
      gets.push(key);
      if (failing(key)) throw new S3Error(`S3 GET models/${key}: 503 Service Unavailable`, key, 503);
      return objects.get(key);
    },
    async put(key: string, bytes: Uint8Array) {
      objects.set(key, bytes);
    },
  };
}

interface LogEntry {
  level: string;
  fields: Record<string, unknown>;
  msg: string;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(releases: FixtureVersion[], policy: VersionPolicy = { kind: 'latest', count: 1 }) {
  const published: TempRepository = await createModelRepository(releases);
  const disk = await createModelRepository([]);
  const cacheDir = await mkdtemp(join(tmpdir(), 'puller-cache-'));
  const store = fakeStore();
  const metrics = createMetrics({ defaultMetrics: false });
  const logs: LogEntry[] = [];
  const log = (level: string) => (fields: Record<string, unknown>, msg: string) =>
    void logs.push({ level, fields, msg });
  const logger = { info: log('info'), warn: log('warn'), error: log('error') };
  const registry = await ModelRegistry.load({
    repository: disk.root,
    partialRepository: true,
    versionPolicy: policy,
    executionProvider: 'cpu',
    intraOpThreads: 1,
    batching: {
      maxBatch: 8,
      preferredBatch: [],
      maxQueueDelayMs: 0,
      maxQueue: 64,
      priorityLevels: 1,
      defaultPriority: 1,
      workers: 1,
    },
    metrics,
    logger,
    featurizing: { workers: 0, inlineChars: 4096 },
  });
  const puller = (pollMs = 0) => {
    const p = new RegistryPuller({
      store,
      models: ['mlp'],
      cacheDir,
      versionPolicy: policy,
      target: registry,
      logger: logger as never,
      metrics,
      pollMs,
    });
    cleanups.push(() => p.stop());
    return p;
  };
  cleanups.push(
    () => published.cleanup(),
    () => disk.cleanup(),
    () => rm(cacheDir, { recursive: true, force: true }),
    () => registry.dispose(),
  );
  const publish = (version: string, options: Parameters<typeof publishRelease>[2] = {}) =>
    publishRelease(store, join(published.root, 'mlp', version), options);
  const pulls = async (metrics: OriginMetrics, outcome: string) =>
    sample(await metrics.registry.metrics(), 'nv_model_registry_pulls_total', { model: 'mlp', outcome });
  return { store, registry, puller, publish, logs, cacheDir, count: (o: string) => pulls(metrics, o) };
}

describe('RegistryPuller', () => {
  it('starts the pull counters at zero and treats a model without an index as nothing published', async () => {
    const s = await setup([]);
    const result = await s.puller().sync('mlp');
    expect(result).toEqual({ model: 'mlp', loaded: [], refused: [], errors: [], retired: [], serving: [] });
    for (const outcome of ['loaded', 'refused', 'error']) expect(await s.count(outcome)).toBe(0);
  });

  it('counts an unreadable index as an error, keeps what serves, and reads it again at the next sync', async () => {
    const s = await setup([v('1'), v('2', 2)]);
    await s.publish('1');
    const p = s.puller();
    expect((await p.sync('mlp')).loaded).toEqual(['1']);
    await s.publish('2');
    s.store.failWhen((key) => key === 'mlp/index.json');
    const failed = await p.sync('mlp');
    expect(failed.errors).toEqual([{ reason: 'S3 GET models/mlp/index.json: 503 Service Unavailable' }]);
    expect(failed.serving).toEqual(['1']);
    expect(await s.count('error')).toBe(1);
    expect(s.logs.find((l) => l.level === 'warn')?.fields).toMatchObject({ model: 'mlp' });
    s.store.failWhen(() => false);
    expect(await p.sync('mlp')).toMatchObject({ loaded: ['2'], retired: ['1'], serving: ['2'] });
  });

  it('retries a version whose artifact could not be fetched at the next sync', async () => {
    const s = await setup([v('1')]);
    await s.publish('1');
    s.store.failWhen((key) => key.endsWith('model.onnx'));
    const p = s.puller();
    expect((await p.sync('mlp')).errors).toEqual([
      { version: '1', reason: 'S3 GET models/mlp/1/model.onnx: 503 Service Unavailable' },
    ]);
    expect(p.offered()[0]?.versions[0]?.error).toMatch(/503/);
    s.store.failWhen(() => false);
    expect((await p.sync('mlp')).loaded).toEqual(['1']);
    expect(p.offered()[0]?.versions[0]?.error).toBeUndefined();
  });

  it('refuses a missing artifact and a manifest the index does not vouch for, pulls neither again on a poll, and retries refused ones when asked', async () => {
    const s = await setup([v('1'), v('2', 2)], { kind: 'all' });
    await s.publish('1', { omit: ['model.onnx'] });
    const entry = await s.publish('2');
    // The manifest changed after publishing: its sha256 no longer matches the index entry.
    const manifestKey = 'mlp/2/manifest.json';
    s.store.objects.set(
      manifestKey,
      new TextEncoder().encode(`${new TextDecoder().decode(s.store.objects.get(manifestKey))} `),
    );
    const p = s.puller();
    const first = await p.sync('mlp');
    expect(first.loaded).toEqual([]);
    expect(first.refused).toEqual([
      {
        version: '1',
        reason: expect.stringMatching(
          /^mlp\/1\/model\.onnx is missing from the registry; the manifest expects sha256/,
        ),
      },
      {
        version: '2',
        reason: expect.stringMatching(
          new RegExp(`manifest.json has sha256 [0-9a-f]{64}, the index says ${entry.manifest_sha256}`),
        ),
      },
    ]);
    expect(s.logs.filter((l) => l.level === 'error').map((l) => l.fields)).toEqual([
      expect.objectContaining({ model: 'mlp', version: '1', reason: expect.any(String) }),
      expect.objectContaining({ model: 'mlp', version: '2', manifest_sha256: entry.manifest_sha256 }),
    ]);
    const gets = s.store.gets.length;
    expect((await p.sync('mlp')).refused).toEqual([]);
    expect(s.store.gets.length).toBe(gets + 1); // the index only
    expect(await s.count('refused')).toBe(2);
    expect(p.offered()[0]?.versions.map((x) => x.refused !== undefined)).toEqual([true, true]);

    await s.publish('1'); // the artifact is uploaded after all
    const retried = await p.sync('mlp', { retryRefused: true });
    expect(retried.loaded).toEqual(['1']);
    expect(retried.refused.map((r) => r.version)).toEqual(['2']);
    expect(await s.count('loaded')).toBe(1);
  });

  it('refuses a release that fails to load, naming why', async () => {
    const s = await setup([{ ...v('1'), onnx: new TextEncoder().encode('not an onnx model') }]);
    await s.publish('1');
    const result = await s.puller().sync('mlp');
    expect(result.refused).toEqual([{ version: '1', reason: expect.stringMatching(/^failed to load: /) }]);
    expect(result.serving).toEqual([]);
  });

  it('under latest:2 keeps the two newest and retires the oldest only once the newer one serves', async () => {
    const s = await setup([v('1'), v('2', 2), v('3', 3)], { kind: 'latest', count: 2 });
    await s.publish('1');
    await s.publish('2');
    const p = s.puller();
    expect(await p.sync('mlp')).toMatchObject({ loaded: ['1', '2'], serving: ['1', '2'] });
    await s.publish('3', { corrupt: 'model.onnx' });
    expect(await p.sync('mlp')).toMatchObject({ loaded: [], retired: [], serving: ['1', '2'] });
    expect(s.registry.get('mlp').version).toBe('2');
    s.store.objects.delete('mlp/index.json');
    expect(await p.sync('mlp')).toMatchObject({ loaded: [], retired: [], serving: ['1', '2'] });
    for (const version of ['1', '2', '3']) await s.publish(version);
    expect(await p.sync('mlp', { retryRefused: true })).toMatchObject({
      loaded: ['3'],
      retired: ['1'],
      serving: ['2', '3'],
    });
    expect(s.logs.map((l) => l.msg)).toContain('version retired');
  });

  it('reuses a release already in the cache folder (a restart) without downloading its artifacts', async () => {
    const s = await setup([v('1')]);
    await s.publish('1');
    const first = s.puller();
    await first.sync('mlp');
    await s.registry.removeVersion('mlp', '1');
    s.store.gets.length = 0;
    expect((await s.puller().sync('mlp')).loaded).toEqual(['1']);
    expect(s.store.gets).toEqual(['mlp/index.json']);
  });

  it('polls every pollMs until stopped', async () => {
    const s = await setup([v('1')]);
    const p = s.puller(20);
    p.start();
    await s.publish('1');
    for (let i = 0; i < 200 && s.registry.versions('mlp').length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.registry.versions('mlp')).toEqual(['1']);
    await p.stop();
    const gets = s.store.gets.length;
    await new Promise((r) => setTimeout(r, 80));
    expect(s.store.gets.length).toBe(gets);
  });
});
