/**
 * Chooses the release(s) the edge Worker embeds and writes edge/src/model/release.ts, which imports their
 * manifest (JSON) and student (.onnx, wrangler's Data rule) so `wrangler deploy` bundles them.
 *
 *   node scripts/edge-release.ts                      # the 2 latest releases of every model with an edge student
 *                                                     # (a stable and a candidate, side by side, for rollouts)
 *   node scripts/edge-release.ts --latest 1           # only the latest of each
 *   node scripts/edge-release.ts --model spam --version 2026-12-07.563707c0e1
 *   node scripts/edge-release.ts --check              # exit 1 if release.ts is not what this would write (CI)
 *
 * "Latest" = the last release in shared/manifest's release order (created, then version), the rule the origin's
 * version policy uses too. The student's sha256 and size are checked against the manifest here, at build time,
 * and again by the Worker at run time (shared/manifest `checkArtifact` both times).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { featurizerFromManifest } from '../shared/featurizer/index.ts';
import { checkArtifact, type Manifest, parseManifest, sortReleases } from '../shared/manifest/index.ts';
import { tensorSignature } from '../shared/protocol/tensor.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODELS = join(ROOT, 'models');
const OUT = join(ROOT, 'edge', 'src', 'model', 'release.ts');

interface Chosen {
  dir: string;
  manifest: Manifest;
  studentFile: string;
  /** The OOD rule's seen-ids bitmap, when the release has one. */
  seenIdsFile?: string | undefined;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function readRelease(dir: string): Manifest | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  return parseManifest(JSON.parse(readFileSync(path, 'utf8')), relative(ROOT, path));
}

/**
 * Checks the student's bytes (and the seen-ids bitmap's, when the release has an OOD rule) and the featurizer
 * against the manifest; throws naming the mismatch. Returns the files the bundle embeds.
 */
export async function verifyEdgeRelease(
  dir: string,
  manifest: Manifest,
): Promise<{ studentFile: string; seenIdsFile: string | undefined }> {
  const role = manifest.serving.edge;
  const artifact = role === undefined ? undefined : manifest.artifacts[role];
  if (artifact === undefined) throw new Error(`${relative(ROOT, dir)}: manifest names no edge artifact`);
  const problem = await checkArtifact(artifact, readFileSync(join(dir, artifact.file)));
  if (problem !== undefined) throw new Error(`${relative(ROOT, dir)}/${problem}`);
  // A text release's featurizer must be this code's; a tensor release's signature must fit its labels.
  if (manifest.featurizer !== undefined) featurizerFromManifest(manifest.featurizer);
  else if (tensorSignature(manifest) === undefined) {
    throw new Error(
      `${relative(ROOT, dir)}: neither a featurizer nor tensor inputs and outputs in its manifest`,
    );
  }
  const seen = manifest.ood === undefined ? undefined : manifest.artifacts[manifest.ood.artifact];
  if (seen !== undefined) {
    const bad = await checkArtifact(seen, readFileSync(join(dir, seen.file)));
    if (bad !== undefined) throw new Error(`${relative(ROOT, dir)}/${bad}`);
  }
  return { studentFile: artifact.file, seenIdsFile: seen?.file };
}

/**
 * The `latest` newest releases with an edge student of each model (or of `model`, or exactly `model@version`).
 */
export async function chooseReleases(
  model: string | undefined,
  version: string | undefined,
  root: string = MODELS,
  latest = 1,
): Promise<Chosen[]> {
  if (!Number.isInteger(latest) || latest < 1)
    throw new Error(`--latest must be a positive integer, got ${latest}`);
  if (!existsSync(root)) return [];
  const names =
    model === undefined
      ? readdirSync(root)
          .filter((n) => !n.startsWith('.'))
          .sort()
      : [model];
  const chosen: Chosen[] = [];
  for (const name of names) {
    const base = join(root, name);
    if (!existsSync(base)) throw new Error(`no such model folder: ${relative(ROOT, base)}`);
    const candidates = sortReleases(
      readdirSync(base)
        .filter((v) => version === undefined || v === version)
        .map((v) => ({ dir: join(base, v), manifest: readRelease(join(base, v)) }))
        .filter(
          (c): c is { dir: string; manifest: Manifest } =>
            c.manifest !== undefined && c.manifest.serving.edge !== undefined,
        ),
    );
    const newest = candidates.slice(-latest);
    if (newest.length === 0) {
      if (model !== undefined)
        throw new Error(
          `no release of ${name}${version === undefined ? '' : `@${version}`} with an edge student`,
        );
      continue;
    }
    for (const c of newest) chosen.push({ ...c, ...(await verifyEdgeRelease(c.dir, c.manifest)) });
  }
  return chosen;
}

/** An import specifier for `target` from a module written at `out`. */
function specifier(out: string, target: string): string {
  const rel = relative(dirname(out), target).split('\\').join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/**
 * The module text, in the shape biome formats it to (so `--check` and `biome check` agree). `out` is where it will
 * be written (imports are relative to it). @default edge/src/model/release.ts
 */
export function renderReleaseModule(chosen: readonly Chosen[], out: string = OUT): string {
  const edgeModel = specifier(out, join(ROOT, 'edge', 'src', 'model', 'edge-model.ts'));
  const head =
    '// Generated by `npm run edge:release` (scripts/edge-release.ts): the releases whose students this bundle\n// embeds. Do not edit by hand; rerun the script after a new release.\n\n';
  if (chosen.length === 0) {
    return `${head}import type { EdgeRelease } from '${edgeModel}';\n\n/** The embedded releases: none was found, so every request escalates to the origin. */\nexport function edgeReleases(): EdgeRelease[] {\n  return [];\n}\n`;
  }
  const sorted = [...chosen].sort((a, b) => relative(ROOT, a.dir).localeCompare(relative(ROOT, b.dir)));
  const imports: string[] = [];
  const entries: string[] = [];
  sorted.forEach((c, i) => {
    const dir = relative(ROOT, c.dir).split('\\').join('/');
    const from = (file: string) => specifier(out, join(c.dir, file));
    imports.push(`import manifest${i} from '${from('manifest.json')}' with { type: 'json' };`);
    imports.push(`import student${i} from '${from(c.studentFile)}';`);
    if (c.seenIdsFile !== undefined) imports.push(`import seenIds${i} from '${from(c.seenIdsFile)}';`);
    const seen = c.seenIdsFile === undefined ? '' : `\n      seenIds: seenIds${i},`;
    entries.push(
      `    {\n      manifest: parseManifest(manifest${i}, '${dir}/manifest.json'),\n      student: student${i},${seen}\n    },`,
    );
  });
  const names = sorted.map((c) => `${c.manifest.name}@${c.manifest.version}`).join(', ');
  // In the order biome's organizeImports keeps them (by module path), so the file passes `biome check` as written.
  const path = (line: string) => line.slice(line.indexOf("'"));
  imports.sort((a, b) => (path(a) < path(b) ? -1 : path(a) > path(b) ? 1 : 0));
  return `${head}${imports.join('\n')}
import { parseManifest } from '${specifier(out, join(ROOT, 'shared', 'manifest', 'index.ts'))}';
import type { EdgeRelease } from '${edgeModel}';

let releases: EdgeRelease[] | undefined;

/** The embedded releases (${names}), parsed on first use. */
export function edgeReleases(): EdgeRelease[] {
  releases ??= [
${entries.join('\n')}
  ];
  return releases;
}
`;
}

/**
 * A Worker entry over other releases (`releaseModule`, written by renderReleaseModule) for a build of its own
 * (bench/rollout.ts): its default export is `createWorker({ releases, ...appOptions })` and it re-exports
 * edge/src/exports.ts (the Durable Object classes wrangler.toml binds, as the deployed entry does), so a binding
 * added later can never be missing from it. `appOptions` is the source text of extra createApp options (an object
 * literal's body, e.g. `rollout: { ttlMs: 1000 }`). `startup`: `eager` (as edge/src/index.ts) loads the default
 * releases in the global scope (model/startup.ts); `lazy` leaves them to the first request (what bench:edge measures
 * beside the deployed entry).
 */
export function renderEdgeEntry(
  out: string,
  releaseModule: string,
  appOptions = '',
  startup: 'eager' | 'lazy' = 'eager',
): string {
  const from = (target: string) => specifier(out, target);
  const options =
    appOptions.trim() === '' ? 'releases: edgeReleases' : `releases: edgeReleases, ${appOptions.trim()}`;
  const warm =
    startup === 'eager'
      ? `import { warmDefaultReleases } from '${from(join(ROOT, 'edge', 'src', 'model', 'startup.ts'))}';\n`
      : '';
  const run = startup === 'eager' ? 'await warmDefaultReleases(edgeReleases());\n\n' : '';
  return `// Generated by scripts/edge-release.ts (renderEdgeEntry): the edge Worker over other embedded releases${
    startup === 'lazy' ? ', without the start-up (sessions load on first use)' : ''
  }.
import { createWorker } from '${from(join(ROOT, 'edge', 'src', 'worker.ts'))}';
import { edgeReleases } from '${from(releaseModule)}';
${warm}
export * from '${from(join(ROOT, 'edge', 'src', 'exports.ts'))}';

${run}export default createWorker({ ${options} });
`;
}

async function main(): Promise<void> {
  const chosen = await chooseReleases(arg('model'), arg('version'), MODELS, Number(arg('latest') ?? 2));
  const text = renderReleaseModule(chosen);
  const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
  if (process.argv.includes('--check')) {
    if (current !== text) {
      console.error(`${relative(ROOT, OUT)} is stale: run npm run edge:release`);
      process.exit(1);
    }
    console.log(`${relative(ROOT, OUT)} is up to date`);
    return;
  }
  writeFileSync(OUT, text);
  const names = chosen.map((c) => `${c.manifest.name}@${c.manifest.version}`).join(', ') || 'none';
  console.log(`wrote ${relative(ROOT, OUT)}: ${names}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
