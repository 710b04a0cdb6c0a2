/**
 * The model registry's layout in object storage (an R2 bucket, `models`): the same layout as the repository's
 * models/ folder, plus an index per model.
 *
 *   {model}/{version}/manifest.json      the release's manifest (shared/manifest)
 *   {model}/{version}/{artifact file}    every artifact the manifest lists, with the sha256 it names
 *   {model}/index.json                   the published versions (RegistryIndex), written last
 *
 * A release is published when its index entry exists: the publisher uploads and checks every artifact first and
 * writes the index last, so a reader that lists the index never sees a half-uploaded release. Readers still verify
 * every artifact's sha256 against the manifest, and the manifest's own sha256 against the index entry. The edge
 * reads the bucket through its R2 binding, the origin through R2's S3-compatible API; `npm run publish` writes it.
 *
 * Runs in workerd and Node (zod and WebCrypto only).
 */
import { z } from 'zod';
import { sha256Hex } from '../hash/index.ts';
import { type Manifest, parseManifest } from '../manifest/index.ts';

/** Names the registry accepts for a model or a version (no path tricks: letters, digits, _ . -). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const IndexEntry = z.object({
  version: z.string().regex(NAME),
  /** The manifest's `created` (release order: shared/manifest sortReleases). */
  created: z.string().min(1),
  /** sha256 of the manifest.json bytes as published. */
  manifest_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** When it was published (ISO 8601). */
  published: z.string().min(1),
});
export type IndexEntry = z.infer<typeof IndexEntry>;

export const RegistryIndex = z.object({
  schema_version: z.literal(1),
  model: z.string().regex(NAME),
  /** Oldest release first. */
  versions: z.array(IndexEntry),
});
export type RegistryIndex = z.infer<typeof RegistryIndex>;

/** True for a model or version name the registry accepts as a key segment. */
export function isRegistryName(name: string): boolean {
  return NAME.test(name) && name !== '.' && name !== '..' && !name.includes('..');
}

function segment(name: string, what: string): string {
  if (!isRegistryName(name))
    throw new TypeError(`registry: ${what} ${JSON.stringify(name)} is not a valid name`);
  return name;
}

/** Object keys of the layout (throws TypeError on a name that is not a plain segment). */
export const registryKeys = {
  index: (model: string) => `${segment(model, 'model')}/index.json`,
  manifest: (model: string, version: string) =>
    `${segment(model, 'model')}/${segment(version, 'version')}/manifest.json`,
  artifact: (model: string, version: string, file: string) =>
    `${segment(model, 'model')}/${segment(version, 'version')}/${segment(file, 'file')}`,
} as const;

/** Parses an index document; the error names the field. */
export function parseIndex(json: unknown, source = 'index.json'): RegistryIndex {
  const r = RegistryIndex.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TypeError(`${source} is not a valid registry index: ${issues}`);
  }
  return r.data;
}

/** The index with `entry` added (or the same index when that version is already listed with the same manifest). */
export function withEntry(index: RegistryIndex | undefined, model: string, entry: IndexEntry): RegistryIndex {
  const base = index ?? { schema_version: 1 as const, model, versions: [] };
  const existing = base.versions.find((v) => v.version === entry.version);
  if (existing !== undefined) {
    if (existing.manifest_sha256 !== entry.manifest_sha256) {
      throw new RegistryConflictError(
        `${model}/${entry.version} is already published with another manifest (sha256 ${existing.manifest_sha256})`,
      );
    }
    return base;
  }
  const versions = [...base.versions, entry].sort((a, b) => {
    const t = Date.parse(a.created) - Date.parse(b.created);
    return t !== 0 && !Number.isNaN(t) ? t : a.version < b.version ? -1 : a.version > b.version ? 1 : 0;
  });
  return { ...base, versions };
}

/** A version that exists in the registry with other bytes: publishing it again is refused. */
export class RegistryConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryConflictError';
  }
}

/**
 * Parses manifest bytes fetched from the registry and checks them against the index entry (sha256) and the key they
 * came from (name and version). The error says which check failed.
 */
export async function verifiedManifest(
  bytes: Uint8Array,
  model: string,
  version: string,
  expectedSha256?: string,
): Promise<Manifest> {
  if (expectedSha256 !== undefined) {
    const actual = await sha256Hex(bytes);
    if (actual !== expectedSha256) {
      throw new TypeError(
        `registry ${model}/${version}/manifest.json has sha256 ${actual}, the index says ${expectedSha256}`,
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new TypeError(`registry ${model}/${version}/manifest.json is not JSON: ${(err as Error).message}`);
  }
  const manifest = parseManifest(json, `registry ${model}/${version}/manifest.json`);
  if (manifest.name !== model || manifest.version !== version) {
    throw new TypeError(
      `registry ${model}/${version}/manifest.json names ${manifest.name}/${manifest.version} instead`,
    );
  }
  return manifest;
}
