/**
 * The model registry on disk: models/<name>/<version>/{teacher.onnx, student.onnx, manifest.json, eval.json,
 * cascade.svg}. Writes artifacts with their sha256 and size into a validated manifest, and checks a release
 * against its manifest (missing files, sizes, hashes).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson } from '../../../shared/hash/index.ts';
import {
  type Artifact,
  checkArtifact,
  type Manifest,
  parseManifest,
  sortReleases,
  type TensorSpec,
} from '../../../shared/manifest/index.ts';

/** models/ at the repository root. */
export const MODELS_ROOT = fileURLToPath(new URL('../../../models/', import.meta.url));

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `<date>.<10 hex of sha256(recipe, data fingerprint, code versions)>`: same inputs, same id. */
export function releaseVersion(date: string, inputs: unknown): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new TypeError(`release date must be YYYY-MM-DD, got ${date}`);
  return `${date}.${sha256Hex(canonicalJson(inputs)).slice(0, 10)}`;
}

export interface ArtifactFile {
  role: string;
  file: string;
  data: Uint8Array | string;
  format: string;
  inputs?: TensorSpec[];
  outputs?: TensorSpec[];
}

/** Writes the files into `dir` and returns their manifest entries (by role). */
export async function writeArtifacts(
  dir: string,
  files: readonly ArtifactFile[],
): Promise<Record<string, Artifact>> {
  await mkdir(dir, { recursive: true });
  const out: Record<string, Artifact> = {};
  for (const a of files) {
    const bytes = typeof a.data === 'string' ? new TextEncoder().encode(a.data) : a.data;
    await writeFile(join(dir, a.file), bytes);
    out[a.role] = {
      file: a.file,
      sha256: sha256Hex(bytes),
      bytes: bytes.byteLength,
      format: a.format,
      inputs: a.inputs ?? [],
      outputs: a.outputs ?? [],
    };
  }
  return out;
}

/** Validates and writes manifest.json (2-space JSON, trailing newline). */
export async function writeManifest(dir: string, manifest: Manifest): Promise<Manifest> {
  const valid = parseManifest(manifest, join(dir, 'manifest.json'));
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(valid, null, 2)}\n`);
  return valid;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, 'manifest.json');
  return parseManifest(JSON.parse(await readFile(file, 'utf8')), file);
}

/** Problems of a release against its manifest; empty when every artifact exists with its size and sha256. */
export async function checkRelease(dir: string): Promise<string[]> {
  const problems: string[] = [];
  let manifest: Manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    return [`manifest: ${(err as Error).message}`];
  }
  for (const [role, a] of Object.entries(manifest.artifacts)) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, a.file));
    } catch {
      problems.push(`${role}: ${a.file} is missing`);
      continue;
    }
    const problem = await checkArtifact(a, bytes);
    if (problem !== undefined) problems.push(`${role}: ${problem}`);
  }
  return problems;
}

/** Release folders of a model, oldest first (shared/manifest's release order, as the edge and origin use). */
export async function listReleases(
  name: string,
  root = MODELS_ROOT,
): Promise<{ dir: string; manifest: Manifest }[]> {
  const base = join(root, name);
  let entries: string[];
  try {
    entries = await readdir(base);
  } catch {
    return [];
  }
  const out: { dir: string; manifest: Manifest }[] = [];
  for (const e of entries.sort()) {
    const dir = join(base, e);
    if (!(await stat(dir)).isDirectory()) continue;
    try {
      out.push({ dir, manifest: await readManifest(dir) });
    } catch {
      // a folder without a valid manifest is not a release
    }
  }
  return sortReleases(out);
}
