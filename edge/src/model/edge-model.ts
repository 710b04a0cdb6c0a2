/**
 * The edge model: a release's student in onnxruntime-web, behind its featurizer. Loaded lazily once per isolate
 * per release (the first request pays ORT init + session creation); the student's bytes are checked against the
 * manifest's sha256 first and a mismatch is refused for the isolate's lifetime.
 */
import { InferenceError } from '../../../shared/errors/index.ts';
import { type Featurizer, featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import { type Artifact, checkArtifact, type Manifest } from '../../../shared/manifest/index.ts';
import { type Prediction, predictionsFromProbabilities } from '../../../shared/protocol/text.ts';
import { createOrtSession, type InferenceSession, ort } from './ort-wasm.ts';

/** The featurizer method the edge calls (a small fake in tests). */
export type EdgeFeaturizer = Pick<Featurizer, 'featurizeBatch'>;

export interface EdgeRelease {
  /** The release manifest (parsed with shared/manifest `parseManifest`). */
  manifest: Manifest;
  /** The student's bytes as embedded in the bundle (wrangler Data rule). */
  student: ArrayBuffer | Uint8Array;
  /** @default featurizerFromManifest(manifest.featurizer) */
  featurizer?: EdgeFeaturizer;
}

export type { Prediction };

/** The student's hash does not match the manifest: the edge refuses to serve it. */
export class ArtifactIntegrityError extends InferenceError {
  constructor(message: string) {
    super('not_ready', message);
    this.name = 'ArtifactIntegrityError';
  }
}

export class EdgeModel {
  readonly name: string;
  readonly version: string;
  readonly labels: readonly string[];
  readonly threshold: number;
  readonly artifact: Artifact;
  readonly #session: InferenceSession;
  readonly #featurizer: EdgeFeaturizer;
  readonly #input: string;
  readonly #output: string;

  private constructor(
    release: EdgeRelease,
    artifact: Artifact,
    session: InferenceSession,
    featurizer: EdgeFeaturizer,
  ) {
    const m = release.manifest;
    this.name = m.name;
    this.version = m.version;
    this.labels = m.labels;
    this.threshold = m.threshold ?? 0.5;
    this.artifact = artifact;
    this.#session = session;
    this.#featurizer = featurizer;
    this.#input = artifact.inputs[0]?.name ?? session.inputNames[0] ?? 'ids';
    this.#output = artifact.outputs[0]?.name ?? session.outputNames[0] ?? 'probabilities';
  }

  /** Verifies the student's sha256 against the manifest, then creates its ORT-web session. */
  static async load(release: EdgeRelease): Promise<EdgeModel> {
    const m = release.manifest;
    const role = m.serving.edge;
    const artifact = role === undefined ? undefined : m.artifacts[role];
    if (artifact === undefined)
      throw new ArtifactIntegrityError(`release ${m.name}@${m.version} names no edge artifact`);
    const bytes = release.student instanceof Uint8Array ? release.student : new Uint8Array(release.student);
    const problem = await checkArtifact(artifact, bytes);
    if (problem !== undefined) throw new ArtifactIntegrityError(`refusing ${m.name}@${m.version} ${problem}`);
    const featurizer = release.featurizer ?? featurizerFromManifest(m.featurizer);
    const session = await createOrtSession(bytes);
    return new EdgeModel(release, artifact, session, featurizer);
  }

  /** Classifies texts (raw messages); one prediction per text, in order. */
  async predict(texts: readonly string[]): Promise<Prediction[]> {
    if (texts.length === 0) return [];
    const ids = this.#featurizer.featurizeBatch(texts);
    const length = ids.length / texts.length;
    const out = await this.#session.run({
      [this.#input]: new ort.Tensor('int32', ids, [texts.length, length]),
    });
    const probs = out[this.#output];
    if (probs === undefined) throw new Error(`edge model has no output '${this.#output}'`);
    // `score` (the top class's probability) is the item's confidence.
    return predictionsFromProbabilities(probs.data as Float32Array, this.labels);
  }
}

const loaded = new WeakMap<EdgeRelease, Promise<EdgeModel>>();

/** The release's edge model, created once per isolate; a refused or failed load stays refused. */
export function loadEdgeModel(release: EdgeRelease): Promise<EdgeModel> {
  let p = loaded.get(release);
  if (p === undefined) {
    p = EdgeModel.load(release);
    p.catch((err: unknown) =>
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'edge model refused',
          model: release.manifest.name,
          version: release.manifest.version,
          error: err instanceof Error ? err.message : String(err),
        }),
      ),
    );
    loaded.set(release, p);
  }
  return p;
}
