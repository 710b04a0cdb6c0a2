/**
 * The rules every tier applies to a release on disk or in a bundle, written once: which release is "the latest"
 * (origin's version policy, the edge bundle, training's release list) and whether an artifact's bytes are the ones
 * its manifest lists. Two tiers that disagreed on "latest" would serve different versions and split cache keys.
 *
 * Runs in workerd and Node (WebCrypto through shared/hash; no Node built-ins).
 */
import { sha256Hex } from '../hash/index.ts';
import type { Artifact, Manifest } from './schema.ts';

/**
 * One collator for every comparison: `localeCompare` with options builds a collator per call, which made sorting
 * the embedded releases ~10% of an edge prediction's CPU (workerd profile, #15).
 */
const NATURAL = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Natural order of version names: '2' < '10', 'v2' < 'v10', '1.2.0' < '1.10.0'; ties broken by code units. */
export function compareVersions(a: string, b: string): number {
  return NATURAL.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

function instant(created: string): number {
  const t = Date.parse(created);
  return Number.isNaN(t) ? Number.NaN : t;
}

/**
 * Release order, oldest first: by `created` (as an instant when both parse as dates, else as text), then by
 * version name in natural order. The last release in this order is "the latest" on every tier.
 */
export function compareReleases(
  a: Pick<Manifest, 'created' | 'version'>,
  b: Pick<Manifest, 'created' | 'version'>,
): number {
  if (a.created !== b.created) {
    const ta = instant(a.created);
    const tb = instant(b.created);
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb;
    if (Number.isNaN(ta) || Number.isNaN(tb)) return a.created < b.created ? -1 : 1;
  }
  return compareVersions(a.version, b.version);
}

/** The releases sorted oldest first by compareReleases (a new array). */
export function sortReleases<T extends { manifest: Pick<Manifest, 'created' | 'version'> }>(
  releases: readonly T[],
): T[] {
  return [...releases].sort((a, b) => compareReleases(a.manifest, b.manifest));
}

/**
 * Checks an artifact's bytes against its manifest entry (size, then sha256). Resolves undefined when they match,
 * else a sentence naming the file, the expected and the found hash and size; the caller decides what a mismatch
 * means (the edge refuses the student for the isolate's life, the origin refuses to start, training reports it).
 */
export async function checkArtifact(artifact: Artifact, bytes: Uint8Array): Promise<string | undefined> {
  const found = await sha256Hex(bytes);
  if (found === artifact.sha256 && bytes.byteLength === artifact.bytes) return undefined;
  return `${artifact.file}: sha256 ${found} (${bytes.byteLength} bytes) does not match the manifest's ${artifact.sha256} (${artifact.bytes} bytes)`;
}
