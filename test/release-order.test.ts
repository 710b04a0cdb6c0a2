/**
 * One release rule for every tier: for the same models/ folder the edge bundle (scripts/edge-release.ts) and the
 * origin (its repository reader and registry, over real HTTP) pick the same "latest" release, also when two
 * releases share a day and their folder names sort the other way round. A split here would put the edge and the
 * origin on different versions and split the cache keys.
 */
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverModels } from '../origin/src/repository.ts';
import { startOriginServer } from '../origin/src/server.ts';
import { chooseReleases } from '../scripts/edge-release.ts';
import { featurizerFromManifest } from '../shared/featurizer/index.ts';

const MODELS = fileURLToPath(new URL('../models/spam/', import.meta.url));

let root: string;

/** A copy of the committed spam release under another version name and creation time. */
async function release(version: string, created: string): Promise<void> {
  const [committed] = await readdir(MODELS);
  const dir = join(root, 'spam', version);
  await cp(join(MODELS, committed as string), dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, version, created }, null, 2));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'release-order-'));
  // Same day; by name '.b' sorts last, by creation '.a' (an hour later) is the newer release.
  await release('2026-11-24.b', '2026-11-24T10:00:00Z');
  await release('2026-11-24.a', '2026-11-24T11:00:00Z');
  await release('2026-11-23.z', '2026-11-23T23:59:59Z');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the latest release', () => {
  it('is the same at the edge bundle and the origin: the newest created, not the last folder name', async () => {
    const [edge] = await chooseReleases(undefined, undefined, root);
    const origin = await discoverModels(root, { kind: 'latest', count: 1 });
    expect(edge?.manifest.version).toBe('2026-11-24.a');
    expect(origin.map((f) => f.version)).toEqual(['2026-11-24.a']);
  });

  it('edge:release --latest 2 embeds the two newest side by side (a stable and a candidate), oldest first', async () => {
    const chosen = await chooseReleases(undefined, undefined, root, 2);
    expect(chosen.map((c) => c.manifest.version)).toEqual(['2026-11-24.b', '2026-11-24.a']);
  });

  it('is what a running origin serves for an unpinned request, with every version listed oldest first', async () => {
    const { server, url } = await startOriginServer(
      { modelRepository: root, versionPolicy: { kind: 'all' } },
      { featurizerFactory: featurizerFromManifest },
    );
    try {
      const meta = (await (await fetch(`${url}/v2/models/spam`)).json()) as {
        versions: string[];
        parameters: { version: string };
      };
      expect(meta.parameters.version).toBe('2026-11-24.a');
      expect(meta.versions).toEqual(['2026-11-23.z', '2026-11-24.b', '2026-11-24.a']);
    } finally {
      await server.stop();
    }
  });
});
