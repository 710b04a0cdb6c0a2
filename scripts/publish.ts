/**
 * `npm run publish -- models/<model>/<version> [--url <edge> --key <admin key>] [--s3] [--no-edge]`: publishes a
 * release to the model registry (shared/registry layout). Every artifact's sha256 and size are checked here first
 * (a release that does not match its manifest is never uploaded); the index entry is written last, so a
 * half-uploaded release is never listed; a version already published with other bytes is refused.
 *
 * Targets:
 * - the edge's admin API (default): PUT each object, then POST .../publish (the edge checks every object in R2
 *   again before listing it). Against the local stack this is Miniflare's R2; against a deployed Worker, its bucket.
 * - `--s3`: an S3-compatible endpoint (R2's S3 API in production, the local stand-in `npm start` runs), from
 *   MODEL_REGISTRY_S3_ENDPOINT, MODEL_REGISTRY_BUCKET (default models), MODEL_REGISTRY_REGION (default auto),
 *   MODEL_REGISTRY_ACCESS_KEY_ID / MODEL_REGISTRY_SECRET_ACCESS_KEY, else the local stack's. The origin polls it.
 * Against a real R2 bucket one target is enough: the edge's binding and the S3 API are the same bucket.
 * Locally the edge (Miniflare) and the origin (the S3 stand-in) have a store each, so `npm start` stacks get both.
 *
 * Prints one JSON line last: what was published where.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { unwrap } from '../client/src/index.ts';
import { createS3Client, type ObjectStore } from '../origin/src/registry-s3/client.ts';
import { sha256Hex } from '../shared/hash/index.ts';
import type { Manifest } from '../shared/manifest/index.ts';
import {
  parseIndex,
  type RegistryIndex,
  registryKeys,
  verifiedManifest,
  withEntry,
} from '../shared/registry/index.ts';
import { checkRelease, readManifest } from '../training/src/release/registry.ts';
import { type AdminTarget, adminClient, adminTarget } from './admin-client.ts';
import { LOCAL_STACK_FILE } from './local-stack-file.ts';

/** A release read from disk and checked: its manifest, the manifest's bytes and every object to upload. */
export interface LocalRelease {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  /** file name -> bytes, artifacts only (the manifest goes last). */
  artifacts: Map<string, Uint8Array>;
}

/** Reads a release folder; throws naming every artifact that does not match the manifest. */
export async function readRelease(dir: string): Promise<LocalRelease> {
  const problems = await checkRelease(dir);
  if (problems.length > 0) throw new Error(`${dir} does not match its manifest: ${problems.join('; ')}`);
  const manifest = await readManifest(dir);
  const manifestBytes = new Uint8Array(await readFile(join(dir, 'manifest.json')));
  const artifacts = new Map<string, Uint8Array>();
  for (const a of Object.values(manifest.artifacts)) {
    artifacts.set(a.file, new Uint8Array(await readFile(join(dir, a.file))));
  }
  return { manifest, manifestBytes, artifacts };
}

/** Publishes through the edge's admin API (which stores into its R2 binding and writes the index). */
export async function publishToEdge(
  release: LocalRelease,
  target: AdminTarget,
): Promise<{ published: boolean; already: boolean }> {
  const { name: model, version } = release.manifest;
  const edge = adminClient(target);
  const put = async (file: string, bytes: Uint8Array) =>
    unwrap(
      await edge.PUT('/v1/admin/registry/{model}/{version}/{file}', {
        params: { path: { model, version, file } },
        // The document types the raw body (`*/*`) as a string: the bytes go as they are.
        body: bytes as unknown as string,
        bodySerializer: (b) => b,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    );
  for (const [file, bytes] of release.artifacts) await put(file, bytes);
  await put('manifest.json', release.manifestBytes);
  const r = unwrap(
    await edge.POST('/v1/admin/registry/{model}/{version}/publish', { params: { path: { model, version } } }),
  );
  return { published: r.published, already: r.already === true };
}

/**
 * Publishes into an object store directly (S3 API): objects first, each read back and compared when the version
 * is already listed (immutable: other bytes are refused), the index last.
 */
export async function publishToStore(
  release: LocalRelease,
  store: ObjectStore,
  now: () => number = Date.now,
): Promise<{ published: boolean; already: boolean; index: RegistryIndex }> {
  const { name, version, created } = release.manifest;
  const indexBytes = await store.get(registryKeys.index(name));
  const index =
    indexBytes === undefined ? undefined : parseIndex(JSON.parse(new TextDecoder().decode(indexBytes)));
  const entry = {
    version,
    created,
    manifest_sha256: await sha256Hex(release.manifestBytes),
    published: new Date(now()).toISOString(),
  };
  // Refuses a version listed with another manifest before anything is written (RegistryConflictError).
  const next = withEntry(index, name, entry);
  if (next === index) return { published: false, already: true, index: next };
  for (const [file, bytes] of release.artifacts) {
    await store.put(registryKeys.artifact(name, version, file), bytes, 'application/octet-stream');
  }
  await store.put(registryKeys.manifest(name, version), release.manifestBytes, 'application/json');
  // Read back what a reader will read before listing it.
  const stored = await store.get(registryKeys.manifest(name, version));
  if (stored === undefined)
    throw new Error(`${registryKeys.manifest(name, version)} did not land in the store`);
  await verifiedManifest(stored, name, version, entry.manifest_sha256);
  await store.put(
    registryKeys.index(name),
    new TextEncoder().encode(JSON.stringify(next, null, 2)),
    'application/json',
  );
  return { published: true, already: false, index: next };
}

/** The S3 target from the environment, else the local stack's stand-in (npm start). */
export async function s3Target(env: NodeJS.ProcessEnv = process.env): Promise<ObjectStore> {
  let endpoint = env.MODEL_REGISTRY_S3_ENDPOINT;
  let accessKeyId = env.MODEL_REGISTRY_ACCESS_KEY_ID ?? env.AWS_ACCESS_KEY_ID;
  let secretAccessKey = env.MODEL_REGISTRY_SECRET_ACCESS_KEY ?? env.AWS_SECRET_ACCESS_KEY;
  let bucket = env.MODEL_REGISTRY_BUCKET;
  if (endpoint === undefined) {
    const local = JSON.parse(await readFile(LOCAL_STACK_FILE, 'utf8').catch(() => '{}')) as {
      s3?: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
    };
    if (local.s3 === undefined) {
      throw new Error(
        '--s3 needs MODEL_REGISTRY_S3_ENDPOINT (and credentials), or a running npm start stack',
      );
    }
    ({ endpoint, bucket, accessKeyId, secretAccessKey } = local.s3);
  }
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new Error('--s3 needs MODEL_REGISTRY_ACCESS_KEY_ID and MODEL_REGISTRY_SECRET_ACCESS_KEY');
  }
  return createS3Client({
    endpoint,
    bucket: bucket ?? 'models',
    region: env.MODEL_REGISTRY_REGION ?? 'auto',
    accessKeyId,
    secretAccessKey,
  });
}

async function main(): Promise<void> {
  const dir = process.argv
    .slice(2)
    .find((a, i, all) => !a.startsWith('--') && !['--url', '--key'].includes(all[i - 1] ?? ''));
  if (dir === undefined)
    throw new Error('usage: npm run publish -- models/<model>/<version> [--s3] [--no-edge]');
  const release = await readRelease(resolve(dir));
  const out: Record<string, unknown> = { model: release.manifest.name, version: release.manifest.version };
  if (!process.argv.includes('--no-edge')) out.edge = await publishToEdge(release, adminTarget());
  if (process.argv.includes('--s3')) {
    const r = await publishToStore(release, await s3Target());
    out.s3 = { published: r.published, already: r.already, versions: r.index.versions.map((v) => v.version) };
  }
  console.log(JSON.stringify(out));
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
