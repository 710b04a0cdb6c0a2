/**
 * The model registry: loads every version the repository reader selects (repository.ts), starts a runner pool on
 * its verified `serving.origin` artifact, checks the manifest's tensor spec against the session (spec.ts), warms
 * it up, then looks versions up by name (latest by default) and closes, drains and disposes them together. A
 * registry that failed to load never exists, so it never reports ready.
 *
 * Versions can come and go while it serves (the S3 registry's puller, registry-s3/): addVersion() takes the same
 * verify -> runner -> warm-up path as start-up and lists the version only once it is ready; removeVersion() unlists
 * a version first (new requests no longer find it), then drains and disposes it.
 */
import { InferenceError, ModelNotFoundError } from '../../shared/errors/index.ts';
import { type FeaturizerRef, sortReleases } from '../../shared/manifest/index.ts';
import { SeenIds } from '../../shared/ood/index.ts';
import { withTimeout } from '../../shared/timeout/index.ts';
import type { Clock } from './batcher.ts';
import type { VersionPolicy } from './config.ts';
import type { OriginMetrics } from './metrics.ts';
import { type BatchingOptions, type Featurizer, ServedModel } from './model/index.ts';
import { discoverModels, type FoundVersion, verifyArtifacts } from './repository.ts';
import { FeaturizePool } from './runner/featurize-pool.ts';
import { type InlineRunOptions, type PoolLogger, RunnerPool } from './runner/pool.ts';
import { resolveSpec } from './spec.ts';

/** Builds the featurizer a manifest names (shared/featurizer's createFeaturizer, wired in main.ts). */
export type FeaturizerFactory = (ref: FeaturizerRef) => Featurizer;

/** Where a served version came from. */
export type VersionSource = 'repository' | 'registry';

export interface RegistryOptions {
  /** Folder of models/<name>/<version>/manifest.json. */
  repository: string;
  /**
   * The S3 registry may add versions later: an absent or empty repository, or a policy version it lacks, is no
   * error (repository.ts DiscoverOptions.partial). @default false
   */
  partialRepository?: boolean;
  versionPolicy: VersionPolicy;
  executionProvider: 'cpu' | 'cuda' | 'auto';
  intraOpThreads: number;
  batching: BatchingOptions;
  metrics: OriginMetrics;
  logger: PoolLogger;
  featurizerFactory?: FeaturizerFactory;
  /**
   * Featurizer threads per version with a featurizer (0: featurize inline) and the request size (characters) from
   * which they are used. The threads build the manifest's featurizer from shared/featurizer, whatever
   * featurizerFactory builds inline: inject another featurizer with workers 0.
   */
  featurizing: { workers: number; inlineChars: number };
  /** Crashed-worker replacements per version within a window (RunnerPool's maxRestarts / restartWindowMs). */
  workerRestarts?: { max: number; windowMs: number };
  /** Inline runs of short batches while a request is alone (RunnerPool's `inline`). @default off */
  inline?: InlineRunOptions;
  clock?: Clock;
}

export class ModelRegistry {
  readonly #models = new Map<string, Map<string, ServedModel>>();
  readonly #latest = new Map<string, ServedModel>();
  readonly #sources = new Map<ServedModel, VersionSource>();
  readonly #options: RegistryOptions;
  /** Versions being added (`name/version`): a second add of one is refused while the first runs. */
  readonly #adding = new Set<string>();
  #closed = false;

  private constructor(models: ServedModel[], options: RegistryOptions) {
    this.#options = options;
    for (const m of models) {
      this.#sources.set(m, 'repository');
      this.#insert(m);
    }
  }

  /** Lists a ready version in its model's map, kept in release order (oldest first), and updates the latest. */
  #insert(m: ServedModel): void {
    const versions = new Map(this.#models.get(m.name) ?? []);
    versions.set(m.version, m);
    const ordered = sortReleases([...versions.values()]);
    this.#models.set(m.name, new Map(ordered.map((v) => [v.version, v])));
    this.#latest.set(m.name, ordered.at(-1) as ServedModel);
  }

  /** Loads, verifies and warms up every selected model version. */
  static async load(options: RegistryOptions): Promise<ModelRegistry> {
    const found = await discoverModels(options.repository, options.versionPolicy, {
      partial: options.partialRepository ?? false,
    });
    const bytes: Array<Awaited<ReturnType<typeof verifyArtifacts>>> = [];
    for (const f of found) bytes.push(await verifyArtifacts(f));
    const models: ServedModel[] = [];
    try {
      for (const [i, f] of found.entries()) {
        models.push(await startVersion(f, bytes[i] as Awaited<ReturnType<typeof verifyArtifacts>>, options));
      }
    } catch (err) {
      await Promise.all(models.map((m) => m.dispose()));
      throw err;
    }
    return new ModelRegistry(models, options);
  }

  /**
   * Verifies a version found on disk (every artifact's size and sha256), starts and warms it up as at start-up, and
   * only then serves it. Throws (and leaves nothing behind) when it cannot; a version already served or being
   * added is a 409 `conflict`.
   */
  async addVersion(found: FoundVersion, source: VersionSource = 'registry'): Promise<ServedModel> {
    const key = `${found.name}/${found.version}`;
    if (this.#closed) throw new InferenceError('not_ready', `cannot add ${key}: the registry is closing`);
    if (this.#models.get(found.name)?.has(found.version) === true || this.#adding.has(key)) {
      throw new InferenceError('conflict', `${key} is already served`);
    }
    this.#adding.add(key);
    try {
      const model = await startVersion(found, await verifyArtifacts(found), this.#options);
      if (this.#closed) {
        await model.dispose();
        throw new InferenceError('not_ready', `cannot add ${key}: the registry is closing`);
      }
      this.#sources.set(model, source);
      this.#insert(model);
      return model;
    } finally {
      this.#adding.delete(key);
    }
  }

  /**
   * Stops serving a version: unlists it (requests that name it get 404, the latest moves to the next newest), then
   * lets its queued and running work finish (at most drainTimeoutMs; what is left then fails with 503) and closes
   * its workers. False when it was not served.
   */
  async removeVersion(name: string, version: string, drainTimeoutMs = 25_000): Promise<boolean> {
    const versions = this.#models.get(name);
    const model = versions?.get(version);
    if (versions === undefined || model === undefined) return false;
    const rest = new Map(versions);
    rest.delete(version);
    if (rest.size === 0) {
      this.#models.delete(name);
      this.#latest.delete(name);
    } else {
      this.#models.set(name, rest);
      this.#latest.set(name, [...rest.values()].at(-1) as ServedModel);
    }
    this.#sources.delete(model);
    model.close();
    await withTimeout(model.drain(), drainTimeoutMs);
    await model.dispose();
    return true;
  }

  /** Where a served version came from (the disk repository at start, or the S3 registry). */
  sourceOf(model: ServedModel): VersionSource {
    return this.#sources.get(model) ?? 'repository';
  }

  /** The version asked for, or the latest served version; 404 model_not_found otherwise. */
  get(name: string, version?: string): ServedModel {
    const versions = this.#models.get(name);
    if (versions === undefined) throw new ModelNotFoundError(name);
    if (version === undefined) return this.#latest.get(name) as ServedModel;
    const m = versions.get(version);
    if (m === undefined) throw new ModelNotFoundError(name, version);
    return m;
  }

  /** Served versions of a model, oldest release first. */
  versions(name: string): string[] {
    return [...(this.#models.get(name)?.keys() ?? [])];
  }

  list(): ServedModel[] {
    return [...this.#models.values()].flatMap((v) => [...v.values()]);
  }

  /** Versions that have lost every worker for good (`name:version`): the process should be restarted. */
  unserviceable(): string[] {
    return this.list()
      .filter((m) => !m.serviceable)
      .map((m) => `${m.name}:${m.version}`);
  }

  get ready(): boolean {
    return this.list().every((m) => m.ready);
  }

  /** Refuses new work everywhere (and new versions); queued and running work completes. */
  close(): void {
    this.#closed = true;
    for (const m of this.list()) m.close();
  }

  async drain(): Promise<void> {
    await Promise.all(this.list().map((m) => m.drain()));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.list().map((m) => m.dispose()));
  }
}

/** Starts one verified version: runner pool, tensor spec check, warm-up, featurizer threads. Cleans up on failure. */
async function startVersion(
  f: FoundVersion,
  bytes: Awaited<ReturnType<typeof verifyArtifacts>>,
  options: RegistryOptions,
): Promise<ServedModel> {
  const where = `model ${f.name}/${f.version}`;
  let featurizer: Featurizer | undefined;
  if (f.manifest.featurizer !== undefined) {
    if (options.featurizerFactory === undefined) {
      throw new Error(
        `${where} needs featurizer '${f.manifest.featurizer.name}' but no featurizer implementation is wired`,
      );
    }
    featurizer = options.featurizerFactory(f.manifest.featurizer);
  }
  const pool = await RunnerPool.create({
    modelBytes: bytes.origin,
    workers: options.batching.workers,
    executionProvider: options.executionProvider,
    intraOpThreads: options.intraOpThreads,
    label: `${f.name}:${f.version}`,
    logger: options.logger,
    ...(options.workerRestarts === undefined
      ? {}
      : { maxRestarts: options.workerRestarts.max, restartWindowMs: options.workerRestarts.windowMs }),
    ...(options.inline === undefined ? {} : { inline: options.inline }),
  });
  const artifact = f.manifest.artifacts[f.manifest.serving.origin];
  let model: ServedModel;
  try {
    model = new ServedModel({
      manifest: f.manifest,
      inputs: resolveSpec(artifact?.inputs ?? [], pool.inputs, where),
      outputs: resolveSpec(artifact?.outputs ?? [], pool.outputs, where),
      pool,
      batching: options.batching,
      metrics: options.metrics.forModel(f.name, f.version),
      ...(featurizer === undefined ? {} : { featurizer }),
      ...(f.manifest.ood !== undefined && bytes.seenIds !== undefined
        ? { ood: { seen: new SeenIds(bytes.seenIds), rule: f.manifest.ood } }
        : {}),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  } catch (err) {
    await pool.close();
    throw err;
  }
  try {
    await model.warmUp();
    if (f.manifest.featurizer !== undefined && options.featurizing.workers > 0) {
      const threads = await FeaturizePool.create({
        ref: f.manifest.featurizer,
        workers: options.featurizing.workers,
        onWorkerExit: (code) =>
          options.logger.warn(
            { model: f.name, version: f.version, code },
            'featurizer worker exited; replaced',
          ),
      });
      try {
        model.offloadFeaturizing(threads, options.featurizing.inlineChars);
      } catch (err) {
        await threads.close();
        throw err;
      }
    }
  } catch (err) {
    await model.dispose();
    throw err;
  }
  options.logger.info(
    { model: f.name, version: f.version, provider: model.provider, text_route: model.hasFeaturizer },
    'model ready',
  );
  return model;
}
