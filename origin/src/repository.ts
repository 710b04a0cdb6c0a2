/**
 * The model repository on disk: models/<name>/<version>/manifest.json. Reads every version's manifest, orders a
 * model's releases by shared/manifest's release order (created, then version: the rule the edge bundle and
 * training use too), picks what the version policy selects, and reads every artifact of those, checking its size
 * and sha256 (shared/manifest `checkArtifact`). Any problem is an Error naming the file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkArtifact, type Manifest, parseManifest, sortReleases } from '../../shared/manifest/index.ts';
import { policyFor, type SingleVersionPolicy, type VersionPolicy } from './config.ts';

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

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function readVersion(root: string, name: string, version: string): Promise<FoundVersion> {
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
  return { name, version, dir, manifest };
}

/**
 * The releases a single-model policy selects among `releases` (any order), oldest release first: the `count` latest
 * by shared/manifest's release order, all of them, or the listed versions present.
 */
export function selectReleases<T extends { manifest: Pick<Manifest, 'created' | 'version'> }>(
  policy: SingleVersionPolicy,
  releases: readonly T[],
): T[] {
  const ordered = sortReleases(releases);
  if (policy.kind === 'all') return ordered;
  if (policy.kind === 'latest') return ordered.slice(-policy.count);
  const wanted = new Set(policy.versions);
  return ordered.filter((r) => wanted.has(r.manifest.version));
}

export interface DiscoverOptions {
  /**
   * Another source (the S3 registry) may provide releases too: an absent or empty repository is an empty list,
   * and a model or version the policy asks for that is not on disk is no error. @default false
   */
  partial?: boolean;
}

/** Lists the versions the policy selects, oldest release first, with their parsed manifests. */
export async function discoverModels(
  repository: string,
  policy: VersionPolicy,
  options: DiscoverOptions = {},
): Promise<FoundVersion[]> {
  const partial = options.partial ?? false;
  const root = resolve(repository);
  let names: string[];
  try {
    names = await subdirs(root);
  } catch (err) {
    if (partial && (err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`MODEL_REPOSITORY ${root} cannot be read: ${(err as Error).message}`);
  }
  const found: FoundVersion[] = [];
  const matched = new Set<string>();
  const wantedAll = new Set<string>();
  for (const name of names) {
    const own = policyFor(policy, name);
    const wanted = own.kind === 'specific' ? new Set(own.versions) : undefined;
    for (const v of wanted ?? []) wantedAll.add(v);
    const releases: FoundVersion[] = [];
    for (const version of await subdirs(join(root, name))) {
      // A folder without a manifest is not a version.
      if (await exists(join(root, name, version, 'manifest.json'))) {
        releases.push(await readVersion(root, name, version));
      }
    }
    if (releases.length === 0) continue;
    const picked = selectReleases(own, releases);
    if (picked.length === 0) {
      if (partial) continue;
      const ordered = sortReleases(releases);
      throw new Error(
        `model '${name}' has none of the versions MODEL_VERSION_POLICY asks for (has: ${ordered.map((r) => r.version).join(', ')})`,
      );
    }
    for (const r of picked) matched.add(r.version);
    found.push(...picked);
  }
  if (wantedAll.size > 0 && !partial) {
    const absent = [...wantedAll].filter((v) => !matched.has(v));
    if (absent.length > 0)
      throw new Error(`MODEL_VERSION_POLICY names version(s) no model has: ${absent.join(', ')}`);
  }
  if (found.length === 0 && !partial)
    throw new Error(`MODEL_REPOSITORY ${root} holds no models (expected <name>/<version>/manifest.json)`);
  return found;
}

/**
 * Reads every artifact of a version, checking size and sha256; returns the bytes of the origin artifact and of the
 * OOD rule's seen-ids bitmap (when the manifest has one).
 */
export async function verifyArtifacts(
  found: FoundVersion,
): Promise<{ origin: Uint8Array; seenIds: Uint8Array | undefined }> {
  let originBytes: Uint8Array | undefined;
  let seenIds: Uint8Array | undefined;
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
    const problem = await checkArtifact(artifact, bytes);
    if (problem !== undefined) throw new Error(`artifact ${join(found.dir, problem)}`);
    if (role === found.manifest.serving.origin) originBytes = bytes;
    if (role === found.manifest.ood?.artifact) seenIds = new Uint8Array(bytes);
  }
  if (originBytes === undefined) throw new Error(`${found.dir}: serving.origin names no artifact`);
  return { origin: originBytes, seenIds };
}
