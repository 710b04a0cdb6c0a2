/**
 * The edge model: a release's student in onnxruntime-web, behind its featurizer (text releases) or on the request's
 * tensors directly (tensor releases: no featurizer, shared/protocol tensorSignature). Loaded lazily once per isolate
 * per release (the first request pays ORT init + session creation); the student's bytes are checked against the
 * manifest's sha256 first and a mismatch is refused for the isolate's lifetime.
 */
import { type LabelRule, labelRule } from '../../../shared/decision/index.ts';
import { InferenceError } from '../../../shared/errors/index.ts';
import { type Featurizer, featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import { type Artifact, checkArtifact, type Manifest, sortReleases } from '../../../shared/manifest/index.ts';
import { isOutOfDistribution, type OodRule, SeenIds } from '../../../shared/ood/index.ts';
import {
  elementCount,
  type NumericDatatype,
  OIP_TO_ORT,
  TYPED_ARRAY,
} from '../../../shared/protocol/datatypes.ts';
import {
  predictionsFromOutput,
  type TensorModelSignature,
  tensorSignature,
} from '../../../shared/protocol/tensor.ts';
import { type Prediction, predictionsFromProbabilities } from '../../../shared/protocol/text.ts';
import type { PreparedRows } from '../../../shared/protocol/validate.ts';
import { gatherRows, lengthBuckets } from './buckets.ts';
import { createOrtSession, type InferenceSession, ort, takeInstantiateMs } from './ort-wasm.ts';

/** The featurizer method the edge calls (a small fake in tests). */
export type EdgeFeaturizer = Pick<Featurizer, 'featurizeBatch'>;

export interface EdgeRelease {
  /** The release manifest (parsed with shared/manifest `parseManifest`). */
  manifest: Manifest;
  /** The student's bytes as embedded in the bundle (wrangler Data rule). */
  student: ArrayBuffer | Uint8Array;
  /** @default featurizerFromManifest(manifest.featurizer); none for tensor releases */
  featurizer?: EdgeFeaturizer;
  /** The OOD rule's seen-ids bitmap as embedded (required when the manifest has an `ood` rule). */
  seenIds?: ArrayBuffer | Uint8Array;
}

/** A tensor release: no featurizer, neither in its manifest nor given (tests give text releases a small one). */
export function isTensorRelease(release: EdgeRelease): boolean {
  return release.featurizer === undefined && release.manifest.featurizer === undefined;
}

/** An edge prediction: the label and scores, and for releases with an OOD rule the input's coverage and verdict. */
export type EdgePrediction = Prediction & { coverage?: number; features?: number; ood?: boolean };

export type { Prediction };

/** The student's hash does not match the manifest: the edge refuses to serve it. */
export class ArtifactIntegrityError extends InferenceError {
  constructor(message: string) {
    super('not_ready', message);
    this.name = 'ArtifactIntegrityError';
  }
}

/**
 * Where a model's load went, ms: the integrity checks, ORT's wasm instantiation (the isolate's first model only),
 * session creation (ORT's own init included on the first), and a first run on zeros (V8 compiles the kernels'
 * wasm lazily on first use, so the first run is the slow one; it is done here so no request pays it twice).
 * Workerd in production advances its clock only on I/O, so there pure-CPU phases read 0; locally they are real.
 */
export interface LoadPhases {
  verify_ms: number;
  wasm_instantiate_ms: number;
  session_ms: number;
  first_run_ms: number;
  total_ms: number;
}

export class EdgeModel {
  readonly name: string;
  readonly version: string;
  readonly labels: readonly string[];
  readonly threshold: number;
  readonly artifact: Artifact;
  /** Tensor releases: the public signature (inputs, cascade output); undefined for text releases. */
  readonly tensor: TensorModelSignature | undefined;
  readonly #session: InferenceSession;
  readonly #featurizer: EdgeFeaturizer | undefined;
  readonly #input: string;
  readonly #output: string;
  readonly #ood: { seen: SeenIds; rule: OodRule } | undefined;
  /** The release's decision rule for the edge artifact (shared/decision); undefined: argmax. */
  readonly #rule: LabelRule | undefined;
  /** Where the load's time went. */
  loadPhases: LoadPhases | undefined;

  private constructor(
    release: EdgeRelease,
    artifact: Artifact,
    session: InferenceSession,
    featurizer: EdgeFeaturizer | undefined,
    ood: { seen: SeenIds; rule: OodRule } | undefined,
    tensor: TensorModelSignature | undefined,
  ) {
    const m = release.manifest;
    this.name = m.name;
    this.version = m.version;
    this.labels = m.labels;
    this.threshold = m.threshold ?? 0.5;
    this.artifact = artifact;
    this.#session = session;
    this.#featurizer = featurizer;
    this.#ood = ood;
    this.#rule = labelRule(m, m.serving.edge);
    this.tensor = tensor;
    this.#input = artifact.inputs[0]?.name ?? session.inputNames[0] ?? 'ids';
    this.#output =
      tensor?.cascade.spec.name ?? artifact.outputs[0]?.name ?? session.outputNames[0] ?? 'probabilities';
  }

  /** Verifies the student's sha256 against the manifest, then creates its ORT-web session. */
  static async load(release: EdgeRelease): Promise<EdgeModel> {
    const started = performance.now();
    const m = release.manifest;
    const role = m.serving.edge;
    const artifact = role === undefined ? undefined : m.artifacts[role];
    if (artifact === undefined)
      throw new ArtifactIntegrityError(`release ${m.name}@${m.version} names no edge artifact`);
    const bytes = release.student instanceof Uint8Array ? release.student : new Uint8Array(release.student);
    const problem = await checkArtifact(artifact, bytes);
    if (problem !== undefined) throw new ArtifactIntegrityError(`refusing ${m.name}@${m.version} ${problem}`);
    let ood: { seen: SeenIds; rule: OodRule } | undefined;
    if (m.ood !== undefined) {
      const seenArtifact = m.artifacts[m.ood.artifact] as Artifact;
      if (release.seenIds === undefined) {
        throw new ArtifactIntegrityError(
          `refusing ${m.name}@${m.version}: its seen-ids bitmap is not embedded`,
        );
      }
      const seen = release.seenIds instanceof Uint8Array ? release.seenIds : new Uint8Array(release.seenIds);
      const bad = await checkArtifact(seenArtifact, seen);
      if (bad !== undefined) throw new ArtifactIntegrityError(`refusing ${m.name}@${m.version} ${bad}`);
      ood = { seen: new SeenIds(seen), rule: m.ood };
    }
    let tensor: TensorModelSignature | undefined;
    try {
      tensor = isTensorRelease(release) ? tensorSignature(m) : undefined;
    } catch (err) {
      throw new ArtifactIntegrityError(`refusing ${(err as Error).message}`);
    }
    const featurizer =
      release.featurizer ?? (m.featurizer === undefined ? undefined : featurizerFromManifest(m.featurizer));
    if (featurizer === undefined && tensor === undefined) {
      throw new ArtifactIntegrityError(
        `refusing ${m.name}@${m.version}: neither a featurizer nor tensor inputs and outputs in its manifest`,
      );
    }
    const verified = performance.now();
    takeInstantiateMs();
    const session = await createOrtSession(bytes);
    const created = performance.now();
    const wasm = takeInstantiateMs() ?? 0;
    const model = new EdgeModel(release, artifact, session, featurizer, ood, tensor);
    await model.#warmUp();
    const done = performance.now();
    model.loadPhases = {
      verify_ms: verified - started,
      wasm_instantiate_ms: wasm,
      session_ms: created - verified - wasm,
      first_run_ms: done - created,
      total_ms: done - started,
    };
    return model;
  }

  /**
   * One run on zeros at batch 1 (dynamic dimensions as 1): the lazy compile of the kernels happens here. Best
   * effort: a model whose manifest does not describe its inputs (or that refuses zeros) is simply not warmed.
   */
  async #warmUp(): Promise<void> {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (const input of this.artifact.inputs) {
      const datatype = input.datatype as NumericDatatype;
      const Ctor = TYPED_ARRAY[datatype];
      if (Ctor === undefined) return;
      const dims = input.shape.map((d) => (d < 0 ? 1 : d));
      feeds[input.name] = new ort.Tensor(OIP_TO_ORT[datatype], new Ctor(elementCount(dims)) as never, dims);
    }
    if (Object.keys(feeds).length === 0) return;
    await this.#session.run(feeds).catch(() => {});
  }

  /** Releases the ORT session's memory (an evicted registry version); the model must not be used afterwards. */
  async dispose(): Promise<void> {
    await this.#session.release();
  }

  /**
   * Classifies texts (raw messages); one prediction per text, in order. With the release's OOD rule each carries
   * its input's `coverage` and `ood` (shared/ood).
   */
  async predict(texts: readonly string[]): Promise<EdgePrediction[]> {
    if (texts.length === 0) return [];
    if (this.#featurizer === undefined)
      throw new Error(`${this.name} is a tensor model: it has no featurizer`);
    const ids = this.#featurizer.featurizeBatch(texts);
    const length = ids.length / texts.length;
    // A large batch runs as groups of similar length (buckets.ts): each pays for its own longest row.
    const groups = lengthBuckets(ids, texts.length, length);
    const classes = this.labels.length;
    const probs = new Float32Array(texts.length * classes);
    for (const group of groups) {
      const rows = groups.length === 1 ? ids : gatherRows(ids, length, group);
      const out = await this.#session.run({
        [this.#input]: new ort.Tensor('int32', rows, [group.length, length]),
      });
      const result = out[this.#output];
      if (result === undefined) throw new Error(`edge model has no output '${this.#output}'`);
      const data = result.data as Float32Array;
      if (data.length !== group.length * classes) {
        throw new Error(`edge model output has ${data.length} values, expected ${group.length} x ${classes}`);
      }
      for (const [k, r] of group.entries())
        probs.set(data.subarray(k * classes, (k + 1) * classes), r * classes);
    }
    // Labelled by the release's decision rule for the student (shared/decision); confidenceOf() is the item's
    // confidence.
    const predictions = predictionsFromProbabilities(probs, this.labels, this.#rule);
    const ood = this.#ood;
    if (ood === undefined) return predictions;
    return predictions.map((p, i) => {
      const c = ood.seen.coverage(ids, i, length);
      return { ...p, coverage: c.coverage, features: c.features, ood: isOutOfDistribution(c, ood.rule) };
    });
  }

  /**
   * Classifies tensor rows (validated against the release's signature with shared/protocol `prepare`); one
   * prediction per row, in order, read from the cascade output.
   */
  async predictRows(rows: PreparedRows): Promise<EdgePrediction[]> {
    const tensor = this.tensor;
    if (tensor === undefined) throw new Error(`${this.name} is a text model: it takes texts`);
    if (rows.rows === 0) return [];
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    tensor.inputs.forEach((spec, i) => {
      const type = OIP_TO_ORT[spec.datatype as NumericDatatype];
      const dims = [rows.rows, ...(rows.dims[i] as number[])];
      feeds[spec.name] = new ort.Tensor(type, rows.data[i] as never, dims);
    });
    const out = await this.#session.run(feeds);
    const result = out[this.#output];
    if (result === undefined) throw new Error(`edge model has no output '${this.#output}'`);
    return predictionsFromOutput(result.data as Float32Array, tensor.cascade.kind, this.labels);
  }
}

interface LoadState {
  promise: Promise<EdgeModel>;
  /** Failed loads in a row. */
  failures: number;
  /** A failed load is retried from this time on (ms); Infinity while loading, loaded, or refused for good. */
  retryAt: number;
}

const loaded = new WeakMap<EdgeRelease, LoadState>();

export interface LoadEdgeModelOptions {
  /** Clock for the retry backoff, ms. @default Date.now */
  now?: () => number;
  /** How a release is loaded. @default EdgeModel.load */
  load?: (release: EdgeRelease) => Promise<EdgeModel>;
}

/** Longest wait before retrying a failed load, ms. */
const MAX_BACKOFF_MS = 60_000;

/**
 * The release's edge model, created once per isolate. A student refused for integrity stays refused (the bundle's
 * bytes cannot change); any other failure (ORT init, session creation) is retried after 1 s, 2 s, 4 s ... (at most
 * a minute), so a transient failure does not leave the isolate escalating everything for its whole life.
 */
export function loadEdgeModel(release: EdgeRelease, options: LoadEdgeModelOptions = {}): Promise<EdgeModel> {
  const now = options.now ?? Date.now;
  const current = loaded.get(release);
  if (current !== undefined && now() < current.retryAt) return current.promise;
  const failures = current?.failures ?? 0;
  const state: LoadState = {
    promise: (options.load ?? ((r) => EdgeModel.load(r)))(release),
    failures,
    retryAt: Number.POSITIVE_INFINITY,
  };
  state.promise.catch((err: unknown) => {
    state.failures = failures + 1;
    const permanent = err instanceof ArtifactIntegrityError;
    if (!permanent) state.retryAt = now() + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures);
    console.error(
      JSON.stringify({
        level: 'error',
        msg: permanent ? 'edge model refused' : 'edge model failed to load; will retry',
        model: release.manifest.name,
        version: release.manifest.version,
        error: err instanceof Error ? err.message : String(err),
        ...(permanent ? {} : { retry_in_ms: state.retryAt - now() }),
      }),
    );
  });
  state.promise.then(
    (model) => {
      if (model.loadPhases === undefined) return;
      const round = (x: number) => Math.round(x * 10) / 10;
      console.log(
        JSON.stringify({
          level: 'info',
          msg: 'edge model loaded',
          model: model.name,
          version: model.version,
          ...Object.fromEntries(Object.entries(model.loadPhases).map(([k, v]) => [k, round(v)])),
        }),
      );
    },
    () => {},
  );
  loaded.set(release, state);
  return state.promise;
}

/**
 * The embedded release that answers `model`: exactly `version` when the request pins one (undefined when that
 * version is not embedded), else the latest embedded release of the model (shared/manifest's release order, the
 * rule the origin and edge:release use).
 */
export function releaseFor(
  releases: readonly EdgeRelease[],
  model: string,
  version?: string,
): EdgeRelease | undefined {
  const mine = releases.filter((r) => r.manifest.name === model);
  if (version !== undefined) return mine.find((r) => r.manifest.version === version);
  return sortReleases(mine).at(-1);
}
