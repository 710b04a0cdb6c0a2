import { describe, expect, it } from 'vitest';
import { featurizerRef } from '../../../shared/featurizer/index.ts';
import { parseManifest } from '../../../shared/manifest/index.ts';
import { tinyRelease } from '../../test/workerd/harness.ts';
import { ArtifactIntegrityError, EdgeModel, loadEdgeModel } from './edge-model.ts';

describe('EdgeModel (real onnxruntime-web in workerd, tiny student)', () => {
  it('verifies the student hash, creates the session and predicts one row per text, in order', async () => {
    const model = await EdgeModel.load(await tinyRelease({ threshold: 0.8 }));
    expect(model.name).toBe('spam');
    expect(model.version).toBe('tiny-1');
    expect(model.threshold).toBe(0.8);
    const [spam, ham, neutral] = await model.predict(['spam offer', 'ham meeting', 'hello there']);
    expect(spam?.label).toBe('spam');
    expect(spam?.score).toBeGreaterThan(0.99);
    expect(ham?.label).toBe('ham');
    expect(ham?.score).toBeGreaterThan(0.99);
    expect(neutral?.score).toBeCloseTo(0.5, 5);
    for (const p of [spam, ham, neutral])
      expect((p?.scores.ham ?? 0) + (p?.scores.spam ?? 0)).toBeCloseTo(1, 5);
    expect(await model.predict([])).toEqual([]);
  });

  it('reports where its load went (verify, wasm, session, first run) and still loads when the warm-up run cannot', async () => {
    const model = await EdgeModel.load(await tinyRelease());
    const phases = model.loadPhases;
    expect(Object.keys(phases ?? {}).sort()).toEqual([
      'first_run_ms',
      'session_ms',
      'total_ms',
      'verify_ms',
      'wasm_instantiate_ms',
    ]);
    for (const v of Object.values(phases ?? {})) expect(v).toBeGreaterThanOrEqual(0);
    // A manifest whose input shape the model refuses: the warm-up run fails quietly, predictions still work.
    const release = await tinyRelease();
    const m = release.manifest;
    const role = m.serving.edge as string;
    const artifact = m.artifacts[role];
    if (artifact === undefined) throw new Error('tiny release has no edge artifact');
    const wrong = { ...artifact, inputs: artifact.inputs.map((i) => ({ ...i, shape: [-1, 3, 3] })) };
    const loaded = await EdgeModel.load({
      ...release,
      manifest: { ...m, artifacts: { ...m.artifacts, [role]: wrong } },
    });
    expect((await loaded.predict(['spam offer']))[0]?.label).toBe('spam');
  });

  it('refuses a student whose sha256 does not match the manifest', async () => {
    const release = await tinyRelease({ wrongHash: true });
    await expect(EdgeModel.load(release)).rejects.toThrow(ArtifactIntegrityError);
    await expect(EdgeModel.load(release)).rejects.toThrow(
      /sha256 [0-9a-f]{64} .* does not match the manifest's 0707/,
    );
  });

  it('refuses a student whose size does not match the manifest', async () => {
    const release = await tinyRelease();
    const student = release.manifest.artifacts.student;
    if (student === undefined) throw new Error('no student');
    const manifest = {
      ...release.manifest,
      artifacts: { student: { ...student, bytes: student.bytes + 1 } },
    };
    await expect(EdgeModel.load({ ...release, manifest })).rejects.toThrow(/does not match the manifest/);
  });

  it('refuses a release that names no edge artifact', async () => {
    const release = await tinyRelease();
    const manifest = { ...release.manifest, serving: { origin: 'student' } };
    await expect(EdgeModel.load({ ...release, manifest })).rejects.toThrow(/names no edge artifact/);
  });

  it('loadEdgeModel creates the model once per release; a refusal stays refused', async () => {
    const release = await tinyRelease();
    const a = loadEdgeModel(release);
    expect(loadEdgeModel(release)).toBe(a);
    await a;
    const bad = await tinyRelease({ wrongHash: true });
    const r = loadEdgeModel(bad);
    await expect(r).rejects.toThrow(ArtifactIntegrityError);
    expect(loadEdgeModel(bad)).toBe(r);
  });

  it('retries a load that failed for another reason than integrity, with backoff (1 s, then 2 s, ...)', async () => {
    const release = await tinyRelease();
    let now = 1_000_000;
    let attempts = 0;
    const load = async (r: typeof release) => {
      attempts++;
      if (attempts <= 2) throw new Error('transient: could not allocate the wasm memory');
      return EdgeModel.load(r);
    };
    const options = { now: () => now, load };
    await expect(loadEdgeModel(release, options)).rejects.toThrow(/transient/);
    await expect(loadEdgeModel(release, options)).rejects.toThrow(/transient/); // within the backoff: no new try
    expect(attempts).toBe(1);
    now += 1000;
    await expect(loadEdgeModel(release, options)).rejects.toThrow(/transient/);
    expect(attempts).toBe(2);
    now += 1000; // the second backoff is 2 s
    await expect(loadEdgeModel(release, options)).rejects.toThrow(/transient/);
    expect(attempts).toBe(2);
    now += 1000;
    expect((await loadEdgeModel(release, options)).version).toBe(release.manifest.version);
    expect(attempts).toBe(3);
    expect(loadEdgeModel(release, options)).toBe(loadEdgeModel(release, options));
  });

  it('never retries an integrity refusal: the embedded bytes cannot change', async () => {
    const bad = await tinyRelease({ wrongHash: true });
    let now = 0;
    const first = loadEdgeModel(bad, { now: () => now });
    await expect(first).rejects.toThrow(ArtifactIntegrityError);
    now += 86_400_000;
    expect(loadEdgeModel(bad, { now: () => now })).toBe(first);
  });

  it('builds the featurizer from the manifest (shared/featurizer in workerd) when none is given', async () => {
    const tiny = await tinyRelease();
    const manifest = parseManifest({
      ...tiny.manifest,
      featurizer: featurizerRef({ buckets: 8, maxLength: 4 }),
    });
    const model = await EdgeModel.load({ manifest, student: tiny.student });
    const [p] = await model.predict(['Subject: hello\n\nwin money now']);
    expect(['ham', 'spam']).toContain(p?.label);
    expect((p?.scores.ham ?? 0) + (p?.scores.spam ?? 0)).toBeCloseTo(1, 5);
  });
});
