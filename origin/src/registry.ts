/**
 * The model registry: loads every version the repository reader selects (repository.ts), starts a runner pool on
 * its verified `serving.origin` artifact, checks the manifest's tensor spec against the session (spec.ts), warms
 * it up, then looks versions up by name (latest by default) and closes, drains and disposes them together. A
 * registry that failed to load never exists, so it never reports ready.
 */
import { ModelNotFoundError } from '../../shared/errors/index.ts';
import { type FeaturizerRef, sortReleases } from '../../shared/manifest/index.ts';
import { SeenIds } from '../../shared/ood/index.ts';
import type { Clock } from './batcher.ts';
import type { VersionPolicy } from './config.ts';
import type { OriginMetrics } from './metrics.ts';
import { type BatchingOptions, type Featurizer, ServedModel } from './model/index.ts';
import { discoverModels, verifyArtifacts } from './repository.ts';
import { FeaturizePool } from './runner/featurize-pool.ts';
import { type InlineRunOptions, type PoolLogger, RunnerPool } from './runner/pool.ts';
import { resolveSpec } from './spec.ts';

/** Builds the featurizer a manifest names (shared/featurizer's createFeaturizer, wired in main.ts). */
export type FeaturizerFactory = (ref: FeaturizerRef) => Featurizer;

export interface RegistryOptions {
  /** Folder of models/<name>/<version>/manifest.json. */
  repository: string;
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

  private constructor(models: ServedModel[]) {
    // Oldest release first (shared/manifest's release order), so each version map iterates in that order.
    for (const m of sortReleases(models)) {
      let versions = this.#models.get(m.name);
      if (versions === undefined) {
        versions = new Map();
        this.#models.set(m.name, versions);
      }
      versions.set(m.version, m);
    }
    for (const [name, versions] of this.#models)
      this.#latest.set(name, [...versions.values()].at(-1) as ServedModel);
  }

  /** Loads, verifies and warms up every selected model version. */
  static async load(options: RegistryOptions): Promise<ModelRegistry> {
    const found = await discoverModels(options.repository, options.versionPolicy);
    const bytes: Array<Awaited<ReturnType<typeof verifyArtifacts>>> = [];
    for (const f of found) bytes.push(await verifyArtifacts(f));
    const models: ServedModel[] = [];
    try {
      for (const [i, f] of found.entries()) {
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
          modelBytes: bytes[i]?.origin as Uint8Array,
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
            ...(f.manifest.ood !== undefined && bytes[i]?.seenIds !== undefined
              ? { ood: { seen: new SeenIds(bytes[i]?.seenIds as Uint8Array), rule: f.manifest.ood } }
              : {}),
            ...(options.clock === undefined ? {} : { clock: options.clock }),
          });
        } catch (err) {
          await pool.close();
          throw err;
        }
        models.push(model);
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
        options.logger.info(
          { model: f.name, version: f.version, provider: model.provider, text_route: model.hasFeaturizer },
          'model ready',
        );
      }
    } catch (err) {
      await Promise.all(models.map((m) => m.dispose()));
      throw err;
    }
    return new ModelRegistry(models);
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

  /** Refuses new work everywhere; queued and running work completes. */
  close(): void {
    for (const m of this.list()) m.close();
  }

  async drain(): Promise<void> {
    await Promise.all(this.list().map((m) => m.drain()));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.list().map((m) => m.dispose()));
  }
}
