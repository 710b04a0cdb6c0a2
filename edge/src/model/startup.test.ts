/**
 * The isolate's start-up (model/startup.ts) on the real embedded releases in workerd: the default release of every
 * model is loaded (session + warm-up run) and later lookups get the same model without loading again; a release
 * that cannot load is reported, never thrown, so the Worker still starts.
 */
import { describe, expect, it } from 'vitest';
import { type EdgeRelease, loadEdgeModel } from './edge-model.ts';
import { edgeReleases } from './release.ts';
import { defaultReleases, warmDefaultReleases } from './startup.ts';

describe('start-up in the global scope (real students in onnxruntime-web)', () => {
  it('picks the latest embedded release of each model', () => {
    const picked = defaultReleases(edgeReleases());
    const models = new Set(edgeReleases().map((r) => r.manifest.name));
    expect(picked.map((r) => r.manifest.name).sort()).toEqual([...models].sort());
    for (const r of picked) {
      const newest = edgeReleases()
        .filter((x) => x.manifest.name === r.manifest.name)
        .map((x) => x.manifest.version)
        .sort()
        .at(-1);
      expect(r.manifest.version).toBe(newest);
    }
  });

  it('loads the defaults once: a later lookup answers the same model at once', async () => {
    const report = await warmDefaultReleases(edgeReleases());
    expect(report.failed).toEqual([]);
    expect(report.loaded).toHaveLength(defaultReleases(edgeReleases()).length);
    for (const r of defaultReleases(edgeReleases())) {
      expect(report.loaded).toContain(`${r.manifest.name}@${r.manifest.version}`);
      const a = await loadEdgeModel(r);
      expect(await loadEdgeModel(r)).toBe(a);
    }
  });

  it('reports a release that cannot load (bad bytes) and does not throw', async () => {
    const good = defaultReleases(edgeReleases())[0] as EdgeRelease;
    const broken: EdgeRelease = { ...good, student: new Uint8Array([1, 2, 3]) };
    const report = await warmDefaultReleases([broken]);
    expect(report).toMatchObject({ loaded: [], failed: [`${good.manifest.name}@${good.manifest.version}`] });
  });
});
