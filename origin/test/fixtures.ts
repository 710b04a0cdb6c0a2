/**
 * Test and benchmark fixtures: a model repository in a temp folder, written with real ONNX models the project
 * generates itself (the 1024-512-512-2 MLP from training/src/onnx/mlp.ts, and a tiny embedding-bag text model
 * fed by the real featurizer). Never writes into models/.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest, TensorSpec } from '../../shared/manifest/index.ts';
import { buildModel, node, tensor, valueInfo } from '../../training/src/onnx/builder.ts';
import { makeMlp, mulberry32 } from '../../training/src/onnx/mlp.ts';

export interface FixtureVersion {
  name: string;
  version: string;
  /** ONNX bytes of the origin artifact. */
  onnx: Uint8Array;
  labels?: string[];
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
  featurizer?: Manifest['featurizer'];
  /** Extra artifacts (role -> bytes), e.g. a student. */
  extra?: Record<string, Uint8Array>;
  /** An OOD rule and its seen-ids bitmap (written as the `seen_ids` artifact). */
  ood?: { seenIds: Uint8Array; minFeatures: number; minCoverage: number };
  /** Drift baselines (`manifest.baseline`), written as given. */
  baseline?: Manifest['baseline'];
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes <root>/<name>/<version>/{model.onnx, manifest.json} for each version. */
export async function writeModelVersion(root: string, v: FixtureVersion): Promise<string> {
  const dir = join(root, v.name, v.version);
  await mkdir(dir, { recursive: true });
  const artifacts: Record<string, unknown> = {
    model: {
      file: 'model.onnx',
      sha256: sha256(v.onnx),
      bytes: v.onnx.length,
      format: 'onnx',
      inputs: v.inputs ?? [],
      outputs: v.outputs ?? [],
    },
  };
  await writeFile(join(dir, 'model.onnx'), v.onnx);
  for (const [role, bytes] of Object.entries(v.extra ?? {})) {
    await writeFile(join(dir, `${role}.onnx`), bytes);
    artifacts[role] = { file: `${role}.onnx`, sha256: sha256(bytes), bytes: bytes.length, format: 'onnx' };
  }
  const manifest: Record<string, unknown> = {
    schema_version: 1,
    name: v.name,
    version: v.version,
    created: '2026-11-23T00:00:00Z',
    labels: v.labels ?? ['ham', 'spam'],
    artifacts,
    serving: { origin: 'model' },
  };
  if (v.featurizer !== undefined) manifest.featurizer = v.featurizer;
  if (v.ood !== undefined) {
    await writeFile(join(dir, 'seen-ids.bin'), v.ood.seenIds);
    artifacts.seen_ids = {
      file: 'seen-ids.bin',
      sha256: sha256(v.ood.seenIds),
      bytes: v.ood.seenIds.length,
      format: 'bitmap',
    };
    manifest.ood = {
      artifact: 'seen_ids',
      min_count: 1,
      min_features: v.ood.minFeatures,
      min_coverage: v.ood.minCoverage,
    };
  }
  if (v.baseline !== undefined) manifest.baseline = v.baseline;
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

export interface TempRepository {
  root: string;
  cleanup(): Promise<void>;
}

/** A temp model repository holding the given versions. */
export async function createModelRepository(versions: FixtureVersion[]): Promise<TempRepository> {
  const root = await mkdtemp(join(tmpdir(), 'origin-models-'));
  for (const v of versions) await writeModelVersion(root, v);
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** The benchmark MLP: input 'input' FP32 [-1, dims[0]], output 'probabilities' FP32 [-1, dims.at(-1)]. */
export function mlpVersion(
  name: string,
  version: string,
  dims = [1024, 512, 512, 2],
  seed = 1,
): FixtureVersion {
  return {
    name,
    version,
    onnx: makeMlp({ dims, seed }),
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, dims[0] as number] }],
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, dims.at(-1) as number] }],
  };
}

/**
 * A tiny text model: int32 ids [batch, L] -> Gather over a [buckets, D] embedding -> ReduceMean over L ->
 * MatMul [D, 2] + bias -> Softmax -> 'probabilities' [batch, 2]. Ids must lie in [0, buckets).
 */
export function textModel(buckets: number, maxLength: number, dim = 8, seed = 7): Uint8Array {
  const rand = mulberry32(seed);
  const emb = new Float32Array(buckets * dim).map(() => rand() * 2 - 1);
  const w = new Float32Array(dim * 2).map(() => rand() * 2 - 1);
  return buildModel({
    name: 'text',
    nodes: [
      node('Gather', ['emb', 'ids'], ['g']),
      node('ReduceMean', ['g'], ['m'], { axes: [1], keepdims: 0 }),
      node('MatMul', ['m', 'w'], ['z0']),
      node('Add', ['z0', 'b'], ['z']),
      node('Softmax', ['z'], ['probabilities'], { axis: -1 }),
    ],
    initializers: [
      tensor('emb', 'float32', [buckets, dim], emb),
      tensor('w', 'float32', [dim, 2], w),
      tensor('b', 'float32', [2], new Float32Array([0.05, -0.05])),
    ],
    inputs: [valueInfo('ids', 'int32', ['batch', maxLength])],
    outputs: [valueInfo('probabilities', 'float32', ['batch', 2])],
  });
}

/** Deterministic FP32 rows for requests. */
export function rows(count: number, width: number, seed = 1): Float32Array {
  const rand = mulberry32(seed);
  return new Float32Array(count * width).map(() => rand() * 2 - 1);
}

/**
 * A deliberately slow model with small weights: input 'input' FP32 [batch, width] -> `layers` x (MatMul by one
 * shared [width, width] matrix -> Tanh) -> MatMul [width, 2] -> Softmax -> 'probabilities'. About
 * layers * width^2 multiply-adds per row, for tests that need batches to take a while (queues, deadlines, drain).
 */
export function slowModel(layers: number, width = 512, seed = 3): Uint8Array {
  const rand = mulberry32(seed);
  const scale = 1 / Math.sqrt(width);
  const w = new Float32Array(width * width).map(() => (rand() * 2 - 1) * scale);
  const out = new Float32Array(width * 2).map(() => (rand() * 2 - 1) * scale);
  const nodes = [];
  let x = 'input';
  for (let l = 0; l < layers; l++) {
    nodes.push(node('MatMul', [x, 'W'], [`m${l}`]), node('Tanh', [`m${l}`], [`t${l}`]));
    x = `t${l}`;
  }
  nodes.push(node('MatMul', [x, 'Wout'], ['z']), node('Softmax', ['z'], ['probabilities'], { axis: -1 }));
  return buildModel({
    name: 'slow',
    nodes,
    initializers: [tensor('W', 'float32', [width, width], w), tensor('Wout', 'float32', [width, 2], out)],
    inputs: [valueInfo('input', 'float32', ['batch', width])],
    outputs: [valueInfo('probabilities', 'float32', ['batch', 2])],
  });
}

/**
 * A model with two inputs of different types: 'x' FP32 [batch, 4] and 'ids' INT32 [batch, 3];
 * probabilities = Softmax(x W + float(ids) V), FP32 [batch, 2].
 */
export function twoInputModel(seed = 5): Uint8Array {
  const rand = mulberry32(seed);
  return buildModel({
    name: 'two-inputs',
    nodes: [
      node('MatMul', ['x', 'W'], ['a']),
      node('Cast', ['ids'], ['idsf'], { to: 1 }),
      node('MatMul', ['idsf', 'V'], ['b']),
      node('Add', ['a', 'b'], ['z']),
      node('Softmax', ['z'], ['probabilities'], { axis: -1 }),
    ],
    initializers: [
      tensor(
        'W',
        'float32',
        [4, 2],
        new Float32Array(8).map(() => rand() * 2 - 1),
      ),
      tensor(
        'V',
        'float32',
        [3, 2],
        new Float32Array(6).map(() => (rand() * 2 - 1) * 0.1),
      ),
    ],
    inputs: [valueInfo('x', 'float32', ['batch', 4]), valueInfo('ids', 'int32', ['batch', 3])],
    outputs: [valueInfo('probabilities', 'float32', ['batch', 2])],
  });
}
