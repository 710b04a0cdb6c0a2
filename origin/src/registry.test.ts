import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ModelNotFoundError } from '../../shared/errors/index.ts';
import { createMetrics } from './metrics.ts';
import {
  compareVersions,
  discoverModels,
  ModelRegistry,
  type RegistryOptions,
  verifyArtifacts,
} from './registry.ts';
import { createModelRepository, mlpVersion, type TempRepository, textModel } from './testing/fixtures.ts';

const SMALL = [16, 8, 2];
const repos: TempRepository[] = [];
afterEach(async () => {
  for (const r of repos.splice(0)) await r.cleanup();
});

async function repo(...versions: Parameters<typeof createModelRepository>[0]) {
  const r = await createModelRepository(versions);
  repos.push(r);
  return r;
}

const silent = { info() {}, warn() {}, error() {} };
function options(root: string, extra: Partial<RegistryOptions> = {}): RegistryOptions {
  return {
    repository: root,
    versionPolicy: { kind: 'latest', count: 1 },
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
    metrics: createMetrics({ defaultMetrics: false }),
    logger: silent,
    ...extra,
  };
}

describe('compareVersions', () => {
  it('orders versions naturally', () => {
    expect(['10', '2', '1', 'v10', 'v2', '1.10.0', '1.2.0'].sort(compareVersions)).toEqual([
      '1',
      '1.2.0',
      '1.10.0',
      '2',
      '10',
      'v2',
      'v10',
    ]);
  });
});

describe('discoverModels', () => {
  it('selects versions by policy', async () => {
    const r = await repo(
      mlpVersion('a', '1', SMALL),
      mlpVersion('a', '2', SMALL),
      mlpVersion('a', '10', SMALL),
      mlpVersion('b', '1', SMALL),
    );
    const ids = (found: Awaited<ReturnType<typeof discoverModels>>) =>
      found.map((f) => `${f.name}/${f.version}`);
    expect(ids(await discoverModels(r.root, { kind: 'latest', count: 1 }))).toEqual(['a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'latest', count: 2 }))).toEqual(['a/2', 'a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'all' }))).toEqual(['a/1', 'a/2', 'a/10', 'b/1']);
    expect(ids(await discoverModels(r.root, { kind: 'specific', versions: ['1'] }))).toEqual(['a/1', 'b/1']);
    await expect(discoverModels(r.root, { kind: 'specific', versions: ['2'] })).rejects.toThrow(
      /model 'b' has none of the versions/,
    );
    await expect(discoverModels(r.root, { kind: 'specific', versions: ['1', '7'] })).rejects.toThrow(
      /no model has: 7/,
    );
  });

  it('names the file of a bad or misplaced manifest, and an empty or missing repository', async () => {
    const r = await repo(mlpVersion('a', '1', SMALL));
    const file = join(r.root, 'a', '1', 'manifest.json');
    const manifest = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(file, JSON.stringify({ ...manifest, version: '2' }));
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(
      `${file} names a/2 but sits in a/1`,
    );
    await writeFile(file, JSON.stringify({ ...manifest, labels: [] }));
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(
      /manifest\.json is not a valid manifest: labels/,
    );
    await writeFile(file, '{not json');
    await expect(discoverModels(r.root, { kind: 'all' })).rejects.toThrow(/cannot be read as JSON/);
    const empty = await repo();
    await expect(discoverModels(empty.root, { kind: 'all' })).rejects.toThrow(/holds no models/);
    await expect(discoverModels(join(empty.root, 'nope'), { kind: 'all' })).rejects.toThrow(
      /MODEL_REPOSITORY .* cannot be read/,
    );
  });
});

describe('verifyArtifacts', () => {
  it('names the file and the expected hash of a corrupt or missing artifact, the student included', async () => {
    const r = await repo({ ...mlpVersion('a', '1', SMALL), extra: { student: new Uint8Array([1, 2, 3]) } });
    const [found] = await discoverModels(r.root, { kind: 'all' });
    if (found === undefined) throw new Error('no version found');
    expect((await verifyArtifacts(found)).length).toBe(found.manifest.artifacts.model?.bytes);

    const student = join(found.dir, 'student.onnx');
    const expected = found.manifest.artifacts.student?.sha256 as string;
    await writeFile(student, new Uint8Array([1, 2, 4]));
    await expect(verifyArtifacts(found)).rejects.toThrow(
      `artifact ${student} is corrupt: expected sha256 ${expected}`,
    );
    await writeFile(student, new Uint8Array([1, 2, 3, 4]));
    await expect(verifyArtifacts(found)).rejects.toThrow(
      /\(3 bytes\), found sha256 [0-9a-f]{64} \(4 bytes\)/,
    );
    const { rm } = await import('node:fs/promises');
    await rm(student);
    await expect(verifyArtifacts(found)).rejects.toThrow(
      `artifact ${student} is missing; the manifest expects sha256 ${expected}`,
    );
  });
});

describe('ModelRegistry.load', () => {
  it('serves the selected versions, latest by default, and 404s the rest', async () => {
    const r = await repo(mlpVersion('a', '1', SMALL), mlpVersion('a', '2', SMALL, 2));
    const registry = await ModelRegistry.load(options(r.root, { versionPolicy: { kind: 'all' } }));
    try {
      expect(registry.ready).toBe(true);
      expect(registry.versions('a')).toEqual(['1', '2']);
      expect(registry.get('a').version).toBe('2');
      expect(registry.get('a', '1').version).toBe('1');
      expect(() => registry.get('b')).toThrow(ModelNotFoundError);
      expect(() => registry.get('a', '3')).toThrow("model 'a' has no version '3'");
      const meta = registry.get('a').metadata(registry.versions('a'));
      expect(meta).toMatchObject({
        name: 'a',
        versions: ['1', '2'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
        outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
      });
    } finally {
      await registry.dispose();
    }
    expect(registry.ready).toBe(false);
  });

  it('refuses a manifest whose tensors disagree with the model', async () => {
    const v = mlpVersion('a', '1', SMALL);
    const r = await repo({ ...v, inputs: [{ name: 'input', datatype: 'INT32', shape: [-1, 16] }] });
    await expect(ModelRegistry.load(options(r.root))).rejects.toThrow(
      /model a\/1: tensor 'input' is INT32 \[-1,16\] in the manifest but FP32 \[-1,16\] in the model/,
    );
    const r2 = await repo({ ...v, outputs: [{ name: 'probs', datatype: 'FP32', shape: [-1, 2] }] });
    await expect(ModelRegistry.load(options(r2.root))).rejects.toThrow(
      /declares tensors \[probs\] but the model has \[probabilities\]/,
    );
  });

  it('refuses a featurizer model without a featurizer, and one whose ids do not fit the input', async () => {
    const featurizer = { name: 'email-hash', version: '1.0.0', config: { buckets: 64, maxLength: 8 } };
    const r = await repo({ name: 't', version: '1', onnx: textModel(64, 8), featurizer });
    await expect(ModelRegistry.load(options(r.root))).rejects.toThrow(
      /needs featurizer 'email-hash' but no featurizer/,
    );
    await expect(
      ModelRegistry.load(
        options(r.root, { featurizerFactory: () => ({ featurize: () => new Int32Array(5) }) }),
      ),
    ).rejects.toThrow(/the featurizer returned 5 ids, the model input takes 8/);
  });

  it('refuses an ONNX file ONNX Runtime cannot load, naming the model', async () => {
    const r = await repo({ name: 'x', version: '1', onnx: new TextEncoder().encode('not an onnx model') });
    await expect(ModelRegistry.load(options(r.root))).rejects.toThrow(
      /x:1: ONNX Runtime could not load the model/,
    );
  });
});
