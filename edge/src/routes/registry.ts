/**
 * The model registry's admin API (keys with the `admin` scope; 403 otherwise; 503 without the MODELS binding):
 *
 *   GET  /v1/admin/registry/{model}                          the published versions (the index), the versions this
 *                                                            bundle embeds and those this isolate loaded from R2
 *   PUT  /v1/admin/registry/{model}/{version}/{file}         uploads one object of a release (the manifest or an
 *                                                            artifact), raw bytes, stored with its sha256 (R2 checks
 *                                                            it on upload)
 *   POST /v1/admin/registry/{model}/{version}/publish        checks the uploaded manifest and every artifact it
 *                                                            lists (present, size, sha256), then adds the version to
 *                                                            the index: written last, so a half-uploaded release
 *                                                            is never listed
 *
 * A published version is immutable: uploading other bytes to it, or publishing it with another manifest, is 409
 * `conflict`; the same bytes again are accepted (a retried publish is a no-op). `npm run publish` drives these
 * routes (scripts/publish.ts); against a real bucket the same layout can be written with any S3 client.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { sha256Hex } from '../../../shared/hash/index.ts';
import { readBody as readBodyCapped } from '../../../shared/http/index.ts';
import { checkArtifact, sortReleases } from '../../../shared/manifest/index.ts';
import {
  isRegistryName,
  parseIndex,
  RegistryConflictError,
  type RegistryIndex,
  registryKeys,
  verifiedManifest,
  withEntry,
} from '../../../shared/registry/index.ts';
import type { AnswerDeps } from '../cascade/types.ts';
import type { RegistryReader } from '../model/registry.ts';
import type { AppEnv } from '../types.ts';

/** Largest object one upload may carry (the whole body is held in memory to hash it). */
export const MAX_REGISTRY_OBJECT_BYTES = 64 * 1024 * 1024;

export interface RegistryRouteDeps extends Pick<AnswerDeps, 'releases' | 'now'> {
  reader: RegistryReader;
}

function requireAdmin(c: Context<AppEnv>): void {
  if (!c.get('principal').scopes.includes('admin')) {
    throw new InferenceError('forbidden', 'this API key has no admin scope');
  }
}

/** The MODELS binding, or 503 when this deployment has none. */
export function modelsBucket(c: Context<AppEnv>): R2Bucket {
  const bucket = (c.env as Partial<Env>).MODELS;
  if (bucket === undefined) {
    throw new InferenceError('unavailable', 'this edge has no model registry (R2 binding MODELS)');
  }
  return bucket;
}

function name(c: Context<AppEnv>, param: string): string {
  const value = c.req.param(param) ?? '';
  if (!isRegistryName(value)) {
    throw new InvalidInputError(
      `${param} must be letters, digits, _ . - (at most 128), got ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return value;
}

/** R2 failures are the registry's 503, never a 500. */
async function r2<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof InferenceError) throw err;
    throw new InferenceError('unavailable', `the model registry could not ${what}; retry`);
  }
}

async function readIndex(
  bucket: R2Bucket,
  model: string,
): Promise<{ index: RegistryIndex | undefined; etag?: string }> {
  // A corrupt index (not JSON, not the schema) is the registry's 503 like an R2 failure: never a 500.
  return r2('read the index', async () => {
    const object = await bucket.get(registryKeys.index(model));
    if (object === null) return { index: undefined };
    return { index: parseIndex(await object.json(), registryKeys.index(model)), etag: object.etag };
  });
}

export function registryListHandler(deps: RegistryRouteDeps) {
  return async function registryList(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const model = name(c, 'model');
    const { index } = await readIndex(modelsBucket(c), model);
    const embedded = sortReleases(deps.releases().filter((r) => r.manifest.name === model)).map(
      (r) => r.manifest.version,
    );
    return c.json({
      model,
      published: index?.versions ?? [],
      embedded,
      loaded_from_registry: deps.reader
        .loaded()
        .filter((v) => v.model === model)
        .map((v) => v.version),
    });
  };
}

export function registryPutHandler() {
  return async function registryPut(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const [model, version, file] = [name(c, 'model'), name(c, 'version'), name(c, 'file')];
    if (file === 'index.json') throw new InvalidInputError('index.json is written by publish, not uploaded');
    const bucket = modelsBucket(c);
    const bytes = await readBodyCapped(c.req.raw, {
      maxBytes: MAX_REGISTRY_OBJECT_BYTES,
      setting: 'the registry object limit',
    });
    const sha256 = await sha256Hex(bytes);
    const { index } = await readIndex(bucket, model);
    const published = index?.versions.find((v) => v.version === version);
    if (published !== undefined) {
      // Immutable once listed: the same bytes are a no-op, anything else a conflict.
      const expected =
        file === 'manifest.json'
          ? published.manifest_sha256
          : await publishedSha(bucket, model, version, file);
      if (expected !== sha256) {
        throw new InferenceError(
          'conflict',
          `${model}/${version} is published; ${file} there has sha256 ${expected ?? '(not part of it)'}, not ${sha256}`,
        );
      }
      return c.json({
        key: registryKeys.artifact(model, version, file),
        bytes: bytes.byteLength,
        sha256,
        unchanged: true,
      });
    }
    await r2('store the object', () =>
      bucket.put(registryKeys.artifact(model, version, file), bytes, {
        sha256,
        httpMetadata: {
          contentType: file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        },
      }),
    );
    return c.json({ key: registryKeys.artifact(model, version, file), bytes: bytes.byteLength, sha256 }, 201);
  };
}

async function publishedSha(
  bucket: R2Bucket,
  model: string,
  version: string,
  file: string,
): Promise<string | undefined> {
  return r2('read the published manifest', async () => {
    const object = await bucket.get(registryKeys.manifest(model, version));
    if (object === null) return undefined;
    const manifest = await verifiedManifest(new Uint8Array(await object.arrayBuffer()), model, version);
    return Object.values(manifest.artifacts).find((a) => a.file === file)?.sha256;
  });
}

export function registryPublishHandler(deps: RegistryRouteDeps) {
  return async function registryPublish(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const [model, version] = [name(c, 'model'), name(c, 'version')];
    const bucket = modelsBucket(c);
    const manifestBytes = await r2('read the manifest', async () => {
      const object = await bucket.get(registryKeys.manifest(model, version));
      if (object === null) {
        throw new InferenceError(
          'not_found',
          `${registryKeys.manifest(model, version)} has not been uploaded`,
        );
      }
      return new Uint8Array(await object.arrayBuffer());
    });
    const manifest = await verifiedManifest(manifestBytes, model, version).catch((err: unknown) => {
      throw new InvalidInputError(String(err instanceof Error ? err.message : err));
    });
    // Every artifact present and exactly what the manifest says (size and sha256), before anything is listed.
    const problems: string[] = [];
    for (const artifact of Object.values(manifest.artifacts)) {
      const bytes = await r2('read an artifact', async () => {
        const got = await bucket.get(registryKeys.artifact(model, version, artifact.file));
        return got === null ? undefined : new Uint8Array(await got.arrayBuffer());
      });
      if (bytes === undefined) {
        problems.push(`${artifact.file} is missing`);
        continue;
      }
      const problem = await checkArtifact(artifact, bytes);
      if (problem !== undefined) problems.push(problem);
    }
    if (problems.length > 0) {
      throw new InvalidInputError(`${model}/${version} is not published: ${problems.join('; ')}`);
    }
    const entry = {
      version,
      created: manifest.created,
      manifest_sha256: await sha256Hex(manifestBytes),
      published: new Date(deps.now()).toISOString(),
    };
    // Read-modify-write of the index under R2's conditional put: a concurrent publish is retried, never lost.
    for (let attempt = 0; attempt < 5; attempt++) {
      const { index, etag } = await readIndex(bucket, model);
      let next: RegistryIndex;
      try {
        next = withEntry(index, model, entry);
      } catch (err) {
        if (err instanceof RegistryConflictError) throw new InferenceError('conflict', err.message);
        throw err;
      }
      if (next === index) return c.json({ model, version, published: false, already: true, index: next });
      const written = await r2('write the index', () =>
        bucket.put(registryKeys.index(model), JSON.stringify(next, null, 2), {
          httpMetadata: { contentType: 'application/json' },
          ...(etag === undefined ? {} : { onlyIf: { etagMatches: etag } }),
        }),
      );
      if (written !== null) {
        c.get('log').registry_publish = `${model}/${version}`;
        return c.json({ model, version, published: true, index: next }, 201);
      }
    }
    throw new InferenceError('conflict', `the index of '${model}' kept changing; publish again`);
  };
}
