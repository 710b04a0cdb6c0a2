/**
 * Releases pulled from the model registry at run time: the R2 bucket bound as `MODELS` (layout in shared/registry:
 * `{model}/index.json`, `{model}/{version}/manifest.json` + artifacts). A version the bundle does not embed is
 * loaded on first use: the index entry is read, the manifest checked against its sha256, the student and the
 * seen-ids bitmap fetched, and the session created by EdgeModel.load (which checks every artifact's sha256 and size
 * against the manifest, as for embedded releases).
 *
 * Nothing here runs on the request path's critical section: `lookup()` is synchronous and answers from what the
 * isolate already knows; index reads and loads run in `waitUntil`. While a version's index is unknown or its
 * session is being created, its items go to the origin (cascade/policy.ts: `version_not_at_edge`,
 * `model_loading`). The bundle's embedded releases stay the default and the fallback: R2 being down only means
 * registry versions are answered by the origin.
 *
 * Bounded: at most `maxLoaded` registry versions keep a session per isolate (least recently used evicted; its
 * session is released after a grace period so a request still running on it finishes). Staleness bound: an index
 * is trusted for `indexTtlMs` (a version published since is seen at most that late; a version is immutable once
 * published, so a loaded one never goes stale).
 */
import {
  isRegistryName,
  parseIndex,
  type RegistryIndex,
  registryKeys,
  verifiedManifest,
} from '../../../shared/registry/index.ts';
import type { EdgeModel, EdgeRelease } from './edge-model.ts';

/** The part of an R2 bucket binding the reader uses (a test can pass a fake). */
export type RegistryBucket = Pick<R2Bucket, 'get'>;

export interface RegistryReaderOptions {
  /** Registry versions that keep a session per isolate; the least recently used is evicted. @default 2 */
  maxLoaded?: number;
  /** How long a model's index is trusted before it is read again, ms. @default 30_000 */
  indexTtlMs?: number;
  /** A failed load (R2 error, not an integrity refusal) is tried again after this long, ms. @default 10_000 */
  retryMs?: number;
  /** How long an evicted session lives on before it is released, ms. @default 10_000 */
  releaseGraceMs?: number;
  /** Creates the session of a release (EdgeModel.load through loadEdgeModel). */
  load: (release: EdgeRelease) => Promise<EdgeModel>;
  /** Releases an evicted model's session. @default model.dispose() */
  dispose?: (model: EdgeModel) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
  /** Structured log lines. @default console.log / console.error as JSON */
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>) => void;
}

/** What the isolate knows about a registry version, without waiting. */
export type Lookup =
  | { state: 'ready'; release: EdgeRelease; model: EdgeModel }
  | { state: 'loading' }
  /** The index does not list it (or is not known yet, or R2 is unreachable): the origin answers. */
  | { state: 'absent' }
  /** Its artifacts were refused (hash or manifest mismatch): never served from this isolate. */
  | { state: 'refused'; reason: string };

interface IndexState {
  index: RegistryIndex | undefined;
  /** When it was read (ms); 0 never. */
  at: number;
  reading?: Promise<void> | undefined;
}

type Entry =
  | { state: 'loading'; promise: Promise<void> }
  | { state: 'ready'; release: EdgeRelease; model: EdgeModel }
  | { state: 'refused'; reason: string }
  | { state: 'failed'; retryAt: number };

/** One isolate's view of the registry (the app keeps one). */
export class RegistryReader {
  readonly #o: Required<Omit<RegistryReaderOptions, 'dispose'>> & Pick<RegistryReaderOptions, 'dispose'>;
  readonly #indexes = new Map<string, IndexState>();
  /** `model@version` -> entry; Map order is the LRU order of the ready ones (oldest first). */
  readonly #entries = new Map<string, Entry>();

  constructor(options: RegistryReaderOptions) {
    const maxLoaded = options.maxLoaded ?? 2;
    if (!Number.isInteger(maxLoaded) || maxLoaded < 1 || maxLoaded > 32) {
      throw new TypeError(`RegistryReader: maxLoaded must be an integer in [1, 32], got ${maxLoaded}`);
    }
    const ms = (v: number | undefined, d: number, field: string) => {
      const x = v ?? d;
      if (!(x >= 0) || !Number.isFinite(x))
        throw new TypeError(`RegistryReader: ${field} must be >= 0 ms, got ${x}`);
      return x;
    };
    this.#o = {
      maxLoaded,
      indexTtlMs: ms(options.indexTtlMs, 30_000, 'indexTtlMs'),
      retryMs: ms(options.retryMs, 10_000, 'retryMs'),
      releaseGraceMs: ms(options.releaseGraceMs, 10_000, 'releaseGraceMs'),
      load: options.load,
      dispose: options.dispose,
      now: options.now ?? Date.now,
      log:
        options.log ??
        ((level, fields) =>
          (level === 'info' ? console.log : console.error)(JSON.stringify({ level, ...fields }))),
    };
  }

  /**
   * The state of `model@version` now. Starts what is missing in `waitUntil` (reading a stale index, loading a
   * version the index lists) and returns at once: the caller escalates anything not `ready`.
   */
  lookup(
    bucket: RegistryBucket | undefined,
    model: string,
    version: string,
    waitUntil: (p: Promise<unknown>) => void,
  ): Lookup {
    if (bucket === undefined || !isRegistryName(model) || !isRegistryName(version))
      return { state: 'absent' };
    const key = `${model}@${version}`;
    const entry = this.#entries.get(key);
    if (entry?.state === 'ready') {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return { state: 'ready', release: entry.release, model: entry.model };
    }
    if (entry?.state === 'loading') return { state: 'loading' };
    if (entry?.state === 'refused') return { state: 'refused', reason: entry.reason };
    const now = this.#o.now();
    const idx = this.#indexState(model);
    if (now - idx.at >= this.#o.indexTtlMs && idx.reading === undefined) {
      idx.reading = this.#readIndex(bucket, model).finally(() => {
        idx.reading = undefined;
      });
      waitUntil(idx.reading);
    }
    const listed = idx.index?.versions.find((v) => v.version === version);
    if (listed === undefined) return { state: 'absent' };
    if (entry?.state === 'failed' && now < entry.retryAt) return { state: 'absent' };
    const promise = this.#load(bucket, model, version, listed.manifest_sha256);
    this.#entries.set(key, { state: 'loading', promise });
    waitUntil(promise);
    return { state: 'loading' };
  }

  /** The versions the registry publishes for `model`, read now (the admin path; R2 errors propagate). */
  async publishedVersions(bucket: RegistryBucket, model: string): Promise<string[]> {
    await this.#readIndex(bucket, model, true);
    return this.#indexState(model).index?.versions.map((v) => v.version) ?? [];
  }

  /** The registry versions this isolate holds a session for, least recently used first. */
  loaded(): Array<{ model: string; version: string }> {
    return [...this.#entries.entries()]
      .filter(([, e]) => e.state === 'ready')
      .map(([k]) => {
        const at = k.lastIndexOf('@');
        return { model: k.slice(0, at), version: k.slice(at + 1) };
      });
  }

  /** What the isolate last read of `model`'s index (no read). */
  knownVersions(model: string): string[] {
    return this.#indexes.get(model)?.index?.versions.map((v) => v.version) ?? [];
  }

  #indexState(model: string): IndexState {
    let s = this.#indexes.get(model);
    if (s === undefined) {
      s = { index: undefined, at: 0 };
      this.#indexes.set(model, s);
    }
    return s;
  }

  async #readIndex(bucket: RegistryBucket, model: string, rethrow = false): Promise<void> {
    const s = this.#indexState(model);
    try {
      const object = await bucket.get(registryKeys.index(model));
      const index =
        object === null
          ? undefined
          : parseIndex(await object.json(), `registry ${registryKeys.index(model)}`);
      if (index !== undefined && index.model !== model) {
        throw new TypeError(`registry ${registryKeys.index(model)} names model '${index.model}'`);
      }
      s.index = index;
      s.at = this.#o.now();
    } catch (err) {
      // The last known index stays; it is tried again after the TTL (not on every request).
      s.at = this.#o.now();
      this.#o.log('warn', { msg: 'model registry index not read', model, error: String(err) });
      if (rethrow) throw err;
    }
  }

  async #load(bucket: RegistryBucket, model: string, version: string, manifestSha256: string): Promise<void> {
    const key = `${model}@${version}`;
    const started = this.#o.now();
    try {
      const bytes = async (k: string): Promise<Uint8Array> => {
        const object = await bucket.get(k);
        if (object === null) throw new RegistryArtifactError(`registry object ${k} is missing`);
        return new Uint8Array(await object.arrayBuffer());
      };
      const manifest = await verifiedManifest(
        await bytes(registryKeys.manifest(model, version)),
        model,
        version,
        manifestSha256,
      ).catch((err: unknown) => {
        throw new RegistryArtifactError(String(err instanceof Error ? err.message : err));
      });
      const role = manifest.serving.edge;
      const student = role === undefined ? undefined : manifest.artifacts[role];
      if (student === undefined)
        throw new RegistryArtifactError(`${model}@${version} names no edge artifact`);
      const seen = manifest.ood === undefined ? undefined : manifest.artifacts[manifest.ood.artifact];
      const release: EdgeRelease = {
        manifest,
        student: await bytes(registryKeys.artifact(model, version, student.file)),
        ...(seen === undefined
          ? {}
          : { seenIds: await bytes(registryKeys.artifact(model, version, seen.file)) }),
      };
      const edgeModel = await this.#o.load(release);
      this.#entries.delete(key);
      this.#entries.set(key, { state: 'ready', release, model: edgeModel });
      this.#o.log('info', {
        msg: 'registry model loaded',
        model,
        version,
        ms: this.#o.now() - started,
        bytes: release.student.byteLength,
      });
      // Inside this load's waitUntil, so the delayed release of an evicted session is not cut off.
      await this.#evict();
    } catch (err) {
      // EdgeModel.load refuses bad artifacts with an ArtifactIntegrityError (named so): never retried.
      const refused =
        err instanceof RegistryArtifactError || (err as Error | undefined)?.name === 'ArtifactIntegrityError';
      const reason = err instanceof Error ? err.message : String(err);
      this.#entries.set(
        key,
        refused
          ? { state: 'refused', reason }
          : { state: 'failed', retryAt: this.#o.now() + this.#o.retryMs },
      );
      this.#o.log('error', {
        msg: refused ? 'registry model refused' : 'registry model failed to load; will retry',
        model,
        version,
        error: reason,
      });
    }
  }

  /** Drops the least recently used ready versions over the bound; their sessions are released after the grace. */
  async #evict(): Promise<void> {
    const ready = [...this.#entries.entries()].filter(([, e]) => e.state === 'ready');
    const evicted: EdgeModel[] = [];
    for (const [key, entry] of ready.slice(0, Math.max(0, ready.length - this.#o.maxLoaded))) {
      this.#entries.delete(key);
      if (entry.state !== 'ready') continue;
      this.#o.log('info', { msg: 'registry model evicted', key });
      evicted.push(entry.model);
    }
    if (evicted.length === 0) return;
    const dispose = this.#o.dispose ?? ((m: EdgeModel) => m.dispose());
    if (this.#o.releaseGraceMs > 0) await new Promise((r) => setTimeout(r, this.#o.releaseGraceMs));
    for (const model of evicted) {
      await dispose(model).catch((err: unknown) =>
        this.#o.log('warn', {
          msg: 'evicted session not released',
          version: model.version,
          error: String(err),
        }),
      );
    }
  }
}

/** A registry object that is missing or does not match what the index and manifest say: the version is refused. */
export class RegistryArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryArtifactError';
  }
}
