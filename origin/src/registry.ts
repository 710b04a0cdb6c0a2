/**
 * The model registry: reads models/<name>/<version>/manifest.json, picks versions by the version policy, verifies
 * the size and sha256 of every artifact, starts a runner pool on the `serving.origin` artifact, checks the
 * manifest's tensor spec against the session, and warms each version up. Any problem is a start-up error that
 * names the file (and, for artifacts, the expected hash); a registry that failed to load never reports ready.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelNotFoundError } from '../../shared/errors/index.ts';
import {
  type FeaturizerRef,
  type Manifest,
  parseManifest,
  type TensorSpec,
} from '../../shared/manifest/index.ts';
import type { Clock } from './batcher.ts';
import type { VersionPolicy } from './config.ts';
import type { OriginMetrics } from './metrics.ts';
import { type BatchingOptions, type Featurizer, oipDatatype, ServedModel } from './model.ts';
import type { ValueInfo } from './runner/messages.ts';
import { type PoolLogger, RunnerPool } from './runner/pool.ts';

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
  clock?: Clock;
}

/** Natural order of version names: '2' < '10', 'v2' < 'v10', '1.2.0' < '1.10.0'. */
export function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' }) || (a < b ? -1 : a > b ? 1 : 0);
}

export interface FoundVersion {
  name: string;
  version: string;
  dir: string;
  manifest: Manifest;
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Lists the versions the policy selects, with their parsed manifests. */
export async function discoverModels(repository: string, policy: VersionPolicy): Promise<FoundVersion[]> {
  const root = resolve(repository);
  let names: string[];
  try {
    names = await subdirs(root);
  } catch (err) {
    throw new Error(`MODEL_REPOSITORY ${root} cannot be read: ${(err as Error).message}`);
  }
  const found: FoundVersion[] = [];
  const wanted = policy.kind === 'specific' ? new Set(policy.versions) : undefined;
  const matched = new Set<string>();
  for (const name of names) {
    const versions: string[] = [];
    for (const version of await subdirs(join(root, name))) {
      try {
        await stat(join(root, name, version, 'manifest.json'));
        versions.push(version);
      } catch {
        // A folder without a manifest is not a version.
      }
    }
    if (versions.length === 0) continue;
    versions.sort(compareVersions);
    let picked: string[];
    if (policy.kind === 'all') picked = versions;
    else if (policy.kind === 'latest') picked = versions.slice(-policy.count);
    else picked = versions.filter((v) => wanted?.has(v));
    if (picked.length === 0) {
      throw new Error(
        `model '${name}' has none of the versions MODEL_VERSION_POLICY asks for (has: ${versions.join(', ')})`,
      );
    }
    for (const version of picked) {
      matched.add(version);
      const dir = join(root, name, version);
      const file = join(dir, 'manifest.json');
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        throw new Error(`${file} cannot be read as JSON: ${(err as Error).message}`);
      }
      const manifest = parseManifest(json, file);
      if (manifest.name !== name || manifest.version !== version) {
        throw new Error(`${file} names ${manifest.name}/${manifest.version} but sits in ${name}/${version}`);
      }
      found.push({ name, version, dir, manifest });
    }
  }
  if (wanted !== undefined) {
    const absent = [...wanted].filter((v) => !matched.has(v));
    if (absent.length > 0)
      throw new Error(`MODEL_VERSION_POLICY names version(s) no model has: ${absent.join(', ')}`);
  }
  if (found.length === 0)
    throw new Error(`MODEL_REPOSITORY ${root} holds no models (expected <name>/<version>/manifest.json)`);
  return found;
}

/** Reads every artifact of a version, checking size and sha256; returns the bytes of the origin artifact. */
export async function verifyArtifacts(found: FoundVersion): Promise<Uint8Array> {
  let originBytes: Uint8Array | undefined;
  for (const [role, artifact] of Object.entries(found.manifest.artifacts)) {
    const file = join(found.dir, artifact.file);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'is missing'
          : `cannot be read (${(err as Error).message})`;
      throw new Error(`artifact ${file} ${why}; the manifest expects sha256 ${artifact.sha256}`);
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== artifact.sha256 || bytes.length !== artifact.bytes) {
      throw new Error(
        `artifact ${file} is corrupt: expected sha256 ${artifact.sha256} (${artifact.bytes} bytes), found sha256 ${actual} (${bytes.length} bytes)`,
      );
    }
    if (role === found.manifest.serving.origin) originBytes = bytes;
  }
  if (originBytes === undefined) throw new Error(`${found.dir}: serving.origin names no artifact`);
  return originBytes;
}

function specFromSession(info: ValueInfo[], where: string): TensorSpec[] {
  return info.map((v) => {
    const datatype = oipDatatype(v.type);
    if (datatype === undefined)
      throw new Error(`${where}: tensor '${v.name}' has type ${v.type}, which OIP cannot carry here`);
    return { name: v.name, datatype, shape: v.shape };
  });
}

/** The manifest's spec when it declares one (checked against the session), else the session's own. */
export function resolveSpec(declared: TensorSpec[], session: ValueInfo[], where: string): TensorSpec[] {
  const actual = specFromSession(session, where);
  if (declared.length === 0) return actual;
  const names = (s: TensorSpec[]) =>
    s
      .map((t) => t.name)
      .sort()
      .join(', ');
  if (names(declared) !== names(actual)) {
    throw new Error(
      `${where}: the manifest declares tensors [${names(declared)}] but the model has [${names(actual)}]`,
    );
  }
  for (const d of declared) {
    const a = actual.find((t) => t.name === d.name) as TensorSpec;
    const dimsAgree =
      d.shape.length === a.shape.length &&
      d.shape.every((x, i) => x === a.shape[i] || a.shape[i] === -1 || x === -1);
    if (d.datatype !== a.datatype || !dimsAgree) {
      throw new Error(
        `${where}: tensor '${d.name}' is ${d.datatype} [${d.shape}] in the manifest but ${a.datatype} [${a.shape}] in the model`,
      );
    }
  }
  // Keep the session's order (the order outputs come back in), with the manifest's (possibly more fixed) dims.
  return actual.map((a) => {
    const d = declared.find((t) => t.name === a.name) as TensorSpec;
    return {
      name: a.name,
      datatype: a.datatype,
      shape: a.shape.map((x, i) => (x === -1 ? (d.shape[i] as number) : x)),
    };
  });
}

export class ModelRegistry {
  readonly #models = new Map<string, Map<string, ServedModel>>();
  readonly #latest = new Map<string, ServedModel>();

  private constructor(models: ServedModel[]) {
    for (const m of models) {
      let versions = this.#models.get(m.name);
      if (versions === undefined) {
        versions = new Map();
        this.#models.set(m.name, versions);
      }
      versions.set(m.version, m);
    }
    for (const [name, versions] of this.#models) {
      const latest = [...versions.keys()].sort(compareVersions).at(-1) as string;
      this.#latest.set(name, versions.get(latest) as ServedModel);
    }
  }

  /** Loads, verifies and warms up every selected model version. */
  static async load(options: RegistryOptions): Promise<ModelRegistry> {
    const found = await discoverModels(options.repository, options.versionPolicy);
    const bytes: Uint8Array[] = [];
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
          modelBytes: bytes[i] as Uint8Array,
          workers: options.batching.workers,
          executionProvider: options.executionProvider,
          intraOpThreads: options.intraOpThreads,
          label: `${f.name}:${f.version}`,
          logger: options.logger,
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
            ...(options.clock === undefined ? {} : { clock: options.clock }),
          });
        } catch (err) {
          await pool.close();
          throw err;
        }
        models.push(model);
        await model.warmUp();
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

  /** Served versions of a model, oldest first. */
  versions(name: string): string[] {
    return [...(this.#models.get(name)?.keys() ?? [])].sort(compareVersions);
  }

  list(): ServedModel[] {
    return [...this.#models.values()].flatMap((v) => [...v.values()]);
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
