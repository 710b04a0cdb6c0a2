/**
 * Pulls releases from the S3 model registry (shared/registry's layout) into the running origin, like Triton's poll
 * mode: each followed model's `{model}/index.json` is read every poll interval (and on the admin load call); every
 * version the version policy selects that is not served yet is downloaded into the cache folder
 * (`{cacheDir}/{model}/{version}/...`), checked (the manifest's sha256 against the index entry, every artifact's size
 * and sha256 against the manifest) and handed to the registry (ModelRegistry.addVersion: runners, warm-up), which
 * serves it once ready. Then versions the policy no longer selects are drained and disposed.
 *
 * Outcomes, per version (nv_model_registry_pulls_total{model, outcome}):
 *   loaded   verified, warmed up, serving.
 *   refused  the release is bad: a missing or mismatching manifest or artifact, or it failed to load. Logged with
 *            model, version and reason; its manifest_sha256 is remembered and not pulled again by the poll (the
 *            admin load call tries refused releases once more: an operator may have re-uploaded an artifact).
 *   error    the registry did not answer as it should (network, 5xx, timeout, a bad index) or the disk failed:
 *            nothing is remembered, the next poll tries again.
 * The versions already serving keep serving whatever happens to a pull.
 *
 * Pulls of one model run one at a time (a poll and an admin call queue up); models are pulled side by side.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceError } from '../../../shared/errors/index.ts';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { checkArtifact, type Manifest } from '../../../shared/manifest/index.ts';
import {
  type IndexEntry,
  parseIndex,
  type RegistryIndex,
  registryKeys,
  verifiedManifest,
} from '../../../shared/registry/index.ts';
import { policyFor, type VersionPolicy } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { OriginMetrics, PullOutcome } from '../metrics.ts';
import type { ModelRegistry } from '../registry.ts';
import { type FoundVersion, selectReleases, verifyArtifacts } from '../repository.ts';
import type { ObjectStore } from './client.ts';

export interface RegistryPullerOptions {
  store: Pick<ObjectStore, 'get'>;
  /** The models whose index is followed. */
  models: readonly string[];
  /** Where pulled releases are written: {cacheDir}/{model}/{version}/... */
  cacheDir: string;
  versionPolicy: VersionPolicy;
  /** The running registry versions are added to and removed from. */
  target: Pick<ModelRegistry, 'list' | 'addVersion' | 'removeVersion'>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  metrics: Pick<OriginMetrics, 'registryPull' | 'followModel'>;
  /** Time between two polls of every index, ms; 0 polls only when asked (sync). @default 30000 */
  pollMs?: number;
  /** How long a retired version's queued and running work may take before it is cut, ms. @default 25000 */
  drainTimeoutMs?: number;
}

/** What one sync of a model did. */
export interface SyncResult {
  model: string;
  /** Versions pulled and now served. */
  loaded: string[];
  /** Versions refused (bad release), with why. */
  refused: Array<{ version: string; reason: string }>;
  /** Failures to retry (the index or a version could not be read); `version` absent for the index. */
  errors: Array<{ version?: string; reason: string }>;
  /** Versions the policy no longer selects, drained and disposed. */
  retired: string[];
  /** The model's served versions afterwards, oldest release first. */
  serving: string[];
}

/** What the registry offers for one model, as of the last read of its index. */
export interface OfferedModel {
  model: string;
  /** ISO time of the last successful index read; undefined before the first. */
  indexReadAt: string | undefined;
  /** Why the last index read failed, if it did. */
  indexError: string | undefined;
  /** Each published version; `refused` or `error` say why the last pull of it did not load it. */
  versions: Array<IndexEntry & { refused?: string; error?: string }>;
}

/** A release that is bad in itself: pulling it again brings the same bytes. */
class RefusedRelease extends Error {
  override name = 'RefusedRelease';
}

interface ModelState {
  index: RegistryIndex | undefined;
  indexReadAt: string | undefined;
  indexError: string | undefined;
  /** Refused releases by manifest_sha256. */
  refused: Map<string, { version: string; reason: string }>;
  /** The last pull error of a version (cleared when a pull of it ends otherwise). */
  errors: Map<string, string>;
  /** The last sync queued (pulls of one model never overlap). */
  chain: Promise<unknown>;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class RegistryPuller {
  readonly #o: RegistryPullerOptions;
  readonly #pollMs: number;
  readonly #drainMs: number;
  readonly #state = new Map<string, ModelState>();
  readonly #abort = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(options: RegistryPullerOptions) {
    if (options.models.length === 0)
      throw new TypeError('RegistryPuller: models must name at least one model');
    const pollMs = options.pollMs ?? 30_000;
    if (!(Number.isFinite(pollMs) && pollMs >= 0)) {
      throw new TypeError(`RegistryPuller: pollMs must be a number of ms >= 0, got ${pollMs}`);
    }
    this.#o = options;
    this.#pollMs = pollMs;
    this.#drainMs = options.drainTimeoutMs ?? 25_000;
    for (const model of options.models) {
      registryKeys.index(model); // throws TypeError on a name the registry cannot hold
      this.#state.set(model, {
        index: undefined,
        indexReadAt: undefined,
        indexError: undefined,
        refused: new Map(),
        errors: new Map(),
        chain: Promise.resolve(),
      });
      options.metrics.followModel(model);
    }
  }

  get models(): readonly string[] {
    return this.#o.models;
  }

  follows(model: string): boolean {
    return this.#state.has(model);
  }

  /** Syncs every followed model (side by side); never rejects. */
  async syncAll(): Promise<SyncResult[]> {
    return Promise.all(this.#o.models.map((m) => this.sync(m)));
  }

  /**
   * Reads the model's index now and pulls what the policy selects and is not served, then retires what it no longer
   * selects. `retryRefused` forgets the model's refused releases first (the admin call). Never rejects.
   */
  sync(model: string, options: { retryRefused?: boolean } = {}): Promise<SyncResult> {
    const state = this.#state.get(model);
    if (state === undefined) throw new TypeError(`RegistryPuller: '${model}' is not followed`);
    const run = state.chain.then(() => this.#sync(model, state, options.retryRefused ?? false));
    state.chain = run.catch(() => {});
    return run;
  }

  /** Polls every pollMs (after each round ends) until stop(). */
  start(): void {
    if (this.#pollMs === 0 || this.#stopped || this.#timer !== undefined) return;
    const tick = () => {
      this.#timer = setTimeout(() => {
        void this.syncAll().then(() => {
          if (!this.#stopped) tick();
        });
      }, this.#pollMs);
      this.#timer.unref?.();
    };
    tick();
  }

  /** Stops polling, aborts downloads in flight and waits for running syncs to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await Promise.all([...this.#state.values()].map((s) => s.chain));
  }

  /** What the registry offers per followed model, as of the last index read. */
  offered(): OfferedModel[] {
    return [...this.#state.entries()].map(([model, s]) => {
      return {
        model,
        indexReadAt: s.indexReadAt,
        indexError: s.indexError,
        versions: (s.index?.versions ?? []).map((e) => {
          const refused = s.refused.get(e.manifest_sha256)?.reason;
          const error = s.errors.get(e.version);
          return {
            ...e,
            ...(refused === undefined ? {} : { refused }),
            ...(error === undefined ? {} : { error }),
          };
        }),
      };
    });
  }

  #served(model: string) {
    return this.#o.target.list().filter((m) => m.name === model);
  }

  #count(model: string, outcome: PullOutcome): void {
    if (!this.#stopped) this.#o.metrics.registryPull(model, outcome);
  }

  async #sync(model: string, state: ModelState, retryRefused: boolean): Promise<SyncResult> {
    const result: SyncResult = { model, loaded: [], refused: [], errors: [], retired: [], serving: [] };
    const done = () => {
      result.serving = this.#served(model).map((m) => m.version);
      return result;
    };
    if (this.#stopped) return done();
    let index: RegistryIndex | undefined;
    try {
      index = await this.#readIndex(model);
      state.index = index;
      state.indexReadAt = new Date().toISOString();
      state.indexError = undefined;
    } catch (err) {
      if (this.#stopped) return done();
      const reason = message(err);
      state.indexError = reason;
      result.errors.push({ reason });
      this.#count(model, 'error');
      this.#o.logger.warn({ model, reason }, 'registry index read failed; retried at the next poll');
      return done();
    }
    if (retryRefused) state.refused.clear();

    const policy = policyFor(this.#o.versionPolicy, model);
    const served = this.#served(model);
    const servedVersions = new Set(served.map((m) => m.version));
    const offered = (index?.versions ?? []).filter(
      (e) => !servedVersions.has(e.version) && !state.refused.has(e.manifest_sha256),
    );
    const candidates = [
      ...served.map((m) => ({ manifest: m.manifest, entry: undefined })),
      ...offered.map((e) => ({ manifest: { created: e.created, version: e.version }, entry: e })),
    ];
    for (const { entry } of selectReleases(policy, candidates)) {
      if (entry === undefined || this.#stopped) continue;
      const outcome = await this.#pull(model, entry);
      if (this.#stopped) return done();
      this.#count(model, outcome.kind);
      state.errors.delete(entry.version);
      if (outcome.kind === 'loaded') result.loaded.push(entry.version);
      else if (outcome.kind === 'refused') {
        state.refused.set(entry.manifest_sha256, { version: entry.version, reason: outcome.reason });
        result.refused.push({ version: entry.version, reason: outcome.reason });
      } else {
        state.errors.set(entry.version, outcome.reason);
        result.errors.push({ version: entry.version, reason: outcome.reason });
      }
    }

    // What is served now, re-selected: a version the policy dropped for one that is now ready is retired. A
    // version whose pull failed is not served, so it never displaces one that is.
    if (!this.#stopped) {
      const now = this.#served(model);
      const keep = new Set(selectReleases(policy, now).map((m) => m.version));
      for (const m of now) {
        if (keep.has(m.version)) continue;
        this.#o.logger.info({ model, version: m.version }, 'version no longer selected; draining it');
        if (await this.#o.target.removeVersion(model, m.version, this.#drainMs)) {
          result.retired.push(m.version);
          this.#o.logger.info({ model, version: m.version }, 'version retired');
        }
      }
    }
    return done();
  }

  async #readIndex(model: string): Promise<RegistryIndex | undefined> {
    const bytes = await this.#o.store.get(registryKeys.index(model), this.#abort.signal);
    if (bytes === undefined) return undefined; // nothing published yet
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new Error(`${registryKeys.index(model)} is not JSON: ${message(err)}`);
    }
    const index = parseIndex(json, registryKeys.index(model));
    if (index.model !== model) throw new Error(`${registryKeys.index(model)} names model '${index.model}'`);
    return index;
  }

  async #pull(
    model: string,
    entry: IndexEntry,
  ): Promise<{ kind: 'loaded' } | { kind: 'refused' | 'error'; reason: string }> {
    const { version } = entry;
    const started = performance.now();
    let found: FoundVersion;
    try {
      found = (await this.#cached(model, entry)) ?? (await this.#download(model, entry));
    } catch (err) {
      const reason = message(err);
      if (err instanceof RefusedRelease) {
        this.#o.logger.error(
          { model, version, manifest_sha256: entry.manifest_sha256, reason },
          'registry release refused; not pulled again until the admin load call',
        );
        return { kind: 'refused', reason };
      }
      if (!this.#stopped) {
        this.#o.logger.warn({ model, version, reason }, 'registry pull failed; retried at the next poll');
      }
      return { kind: 'error', reason };
    }
    try {
      await this.#o.target.addVersion(found, 'registry');
    } catch (err) {
      const reason = message(err);
      // Closing, or the same version added meanwhile: not the release's fault.
      if (err instanceof InferenceError && (err.code === 'not_ready' || err.code === 'conflict')) {
        return { kind: 'error', reason };
      }
      this.#o.logger.error(
        { model, version, manifest_sha256: entry.manifest_sha256, reason },
        'registry release refused: it failed to load; not pulled again until the admin load call',
      );
      return { kind: 'refused', reason: `failed to load: ${reason}` };
    }
    this.#o.logger.info(
      { model, version, source: 'registry', dir: found.dir, ms: Math.round(performance.now() - started) },
      'registry release loaded',
    );
    return { kind: 'loaded' };
  }

  /** The release in the cache folder from an earlier pull (same manifest sha256, artifacts intact), if any. */
  async #cached(model: string, entry: IndexEntry): Promise<FoundVersion | undefined> {
    const dir = join(this.#o.cacheDir, model, entry.version);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(dir, 'manifest.json'));
    } catch {
      return undefined;
    }
    try {
      if ((await sha256Hex(bytes)) !== entry.manifest_sha256) return undefined;
      const manifest = await verifiedManifest(bytes, model, entry.version, entry.manifest_sha256);
      const found = { name: model, version: entry.version, dir, manifest };
      await verifyArtifacts(found);
      return found;
    } catch {
      return undefined; // downloaded again
    }
  }

  /**
   * Downloads the manifest and every artifact into a staging folder, checking each, then moves the folder to
   * {cacheDir}/{model}/{version}. RefusedRelease for a bad release; S3 and disk failures as they come.
   */
  async #download(model: string, entry: IndexEntry): Promise<FoundVersion> {
    const { version } = entry;
    const signal = this.#abort.signal;
    const manifestKey = registryKeys.manifest(model, version);
    const manifestBytes = await this.#o.store.get(manifestKey, signal);
    if (manifestBytes === undefined) throw new RefusedRelease(`${manifestKey} is missing from the registry`);
    let manifest: Manifest;
    try {
      manifest = await verifiedManifest(manifestBytes, model, version, entry.manifest_sha256);
    } catch (err) {
      throw new RefusedRelease(message(err));
    }
    const parent = join(this.#o.cacheDir, model);
    const staging = join(parent, `.${version}.${randomUUID()}.partial`);
    await mkdir(staging, { recursive: true });
    try {
      const files = new Map(Object.values(manifest.artifacts).map((a) => [a.file, a]));
      for (const artifact of files.values()) {
        const key = registryKeys.artifact(model, version, artifact.file);
        const bytes = await this.#o.store.get(key, signal);
        if (bytes === undefined) {
          throw new RefusedRelease(
            `${key} is missing from the registry; the manifest expects sha256 ${artifact.sha256}`,
          );
        }
        const problem = await checkArtifact(artifact, bytes);
        if (problem !== undefined) throw new RefusedRelease(`${model}/${version}/${problem}`);
        await writeFile(join(staging, artifact.file), bytes);
      }
      await writeFile(join(staging, 'manifest.json'), manifestBytes);
      const dir = join(parent, version);
      try {
        await rename(staging, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Another process sharing the folder put this release there meanwhile: use it. Else a stale copy: replace it.
        const there = await this.#cached(model, entry);
        if (there !== undefined) return there;
        await rm(dir, { recursive: true, force: true });
        await rename(staging, dir);
      }
      return { name: model, version, dir, manifest };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}
