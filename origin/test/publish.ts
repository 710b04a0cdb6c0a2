/**
 * Test-only publisher for the S3 model registry (shared/registry's layout): uploads a release folder's artifacts
 * and manifest, then adds it to `{model}/index.json` last, as `npm run publish` does. `corrupt` uploads one
 * artifact with a byte flipped (same size, another sha256) to make a bad release.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../shared/hash/index.ts';
import { parseManifest } from '../../shared/manifest/index.ts';
import { type IndexEntry, parseIndex, registryKeys, withEntry } from '../../shared/registry/index.ts';
import type { ObjectStore } from '../src/registry-s3/client.ts';

export interface PublishOptions {
  /** An artifact file name to upload with its first byte flipped. */
  corrupt?: string;
  /** Artifact files not to upload at all. */
  omit?: string[];
}

/** Publishes the release in `dir` ({name}/{version} folder with manifest.json); resolves with its index entry. */
export async function publishRelease(
  store: Pick<ObjectStore, 'get' | 'put'>,
  dir: string,
  options: PublishOptions = {},
): Promise<IndexEntry> {
  const manifestBytes = new Uint8Array(await readFile(join(dir, 'manifest.json')));
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(manifestBytes)), dir);
  const { name, version } = manifest;
  for (const artifact of Object.values(manifest.artifacts)) {
    if (options.omit?.includes(artifact.file)) continue;
    const bytes = new Uint8Array(await readFile(join(dir, artifact.file)));
    if (options.corrupt === artifact.file) bytes[0] = (bytes[0] as number) ^ 0xff;
    await store.put(registryKeys.artifact(name, version, artifact.file), bytes);
  }
  await store.put(registryKeys.manifest(name, version), manifestBytes, 'application/json');
  const entry: IndexEntry = {
    version,
    created: manifest.created,
    manifest_sha256: await sha256Hex(manifestBytes),
    published: new Date().toISOString(),
  };
  const current = await store.get(registryKeys.index(name));
  const index = withEntry(
    current === undefined ? undefined : parseIndex(JSON.parse(new TextDecoder().decode(current))),
    name,
    entry,
  );
  await store.put(
    registryKeys.index(name),
    new TextEncoder().encode(`${JSON.stringify(index, null, 2)}\n`),
    'application/json',
  );
  return entry;
}
