import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ModelNotFoundError } from '../../shared/errors/index.ts';
import { mlpVersion, textModel } from '../test/fixtures.ts';
import { useRepositories } from '../test/harness.ts';
import { createMetrics } from './metrics.ts';
import { ModelRegistry, type RegistryOptions } from './registry.ts';

const SMALL = [16, 8, 2];
const repo = useRepositories();

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
    featurizing: { workers: 0, inlineChars: 4096 },
    ...extra,
  };
}

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

  it('cuda is strict: without the CUDA provider libraries start-up fails naming them (this machine has none)', async () => {
    const r = await repo(mlpVersion('a', '1', SMALL));
    await expect(ModelRegistry.load(options(r.root, { executionProvider: 'cuda' }))).rejects.toThrow(
      /ORIGIN_EXECUTION_PROVIDER=cuda.*libonnxruntime_providers_cuda\.so.*set auto to fall back to CPU/,
    );
  });

  it('auto falls back to CPU with a warning per worker, and metadata names the provider of every worker', async () => {
    const r = await repo(mlpVersion('a', '1', SMALL));
    const warnings: string[] = [];
    const registry = await ModelRegistry.load(
      options(r.root, {
        executionProvider: 'auto',
        batching: { ...options(r.root).batching, workers: 2 },
        logger: { ...silent, warn: (_obj: object, msg: string) => warnings.push(msg) },
      }),
    );
    try {
      expect(registry.get('a').provider).toBe('cpu');
      expect(registry.get('a').metadata(['1']).parameters).toMatchObject({
        execution_provider: 'cpu',
        execution_providers: ['cpu', 'cpu'],
      });
      expect(warnings.filter((w) => /CUDA execution provider unavailable/.test(w))).toHaveLength(2);
    } finally {
      await registry.dispose();
    }
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

describe('ModelRegistry at run time', () => {
  it('starts empty on a partial repository, adds a version once warm, refuses a second add, and removes one', async () => {
    const empty = await repo();
    const extra = await repo(mlpVersion('a', '1', SMALL), mlpVersion('a', '2', SMALL, 2));
    await expect(ModelRegistry.load(options(empty.root))).rejects.toThrow(/holds no models/);
    const registry = await ModelRegistry.load(options(empty.root, { partialRepository: true }));
    try {
      expect(registry.list()).toEqual([]);
      const found = async (version: string) => ({
        name: 'a',
        version,
        dir: `${extra.root}/a/${version}`,
        manifest: JSON.parse(await readFile(`${extra.root}/a/${version}/manifest.json`, 'utf8')),
      });
      const [two, one] = await Promise.all([registry.addVersion(await found('2')), found('1')]);
      expect(two.ready).toBe(true);
      expect(registry.sourceOf(two)).toBe('registry');
      await registry.addVersion(one, 'repository');
      expect(registry.versions('a')).toEqual(['1', '2']); // release order, whatever the order of adding
      expect(registry.get('a').version).toBe('2');
      await expect(registry.addVersion(await found('2'))).rejects.toMatchObject({ code: 'conflict' });
      expect(await registry.removeVersion('a', '2', 1000)).toBe(true);
      expect(two.ready).toBe(false);
      expect(registry.get('a').version).toBe('1');
      expect(() => registry.get('a', '2')).toThrow(ModelNotFoundError);
      expect(await registry.removeVersion('a', '2')).toBe(false);
      registry.close();
      await expect(registry.addVersion(await found('2'))).rejects.toMatchObject({ code: 'not_ready' });
    } finally {
      await registry.dispose();
    }
  });
});
