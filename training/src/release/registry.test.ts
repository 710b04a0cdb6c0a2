import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ortWeb from 'onnxruntime-web/wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEATURIZER_FIXTURES } from '../../../shared/featurizer/fixtures.ts';
import {
  FEATURIZER_NAME,
  FEATURIZER_VERSION,
  featurizerFromManifest,
} from '../../../shared/featurizer/index.ts';
import { canonicalJson } from '../../../shared/hash/index.ts';
import type { Manifest } from '../../../shared/manifest/index.ts';
import { RELEASE_RECIPE } from '../config.ts';
import { loadCorpus } from '../data/corpus.ts';
import { splitStratified } from '../data/split.ts';
import { openModel } from '../onnx/run.ts';
import { checkRelease, listReleases, releaseVersion, sha256Hex } from './registry.ts';

const releases = await listReleases(RELEASE_RECIPE.name);

describe('committed releases (models/spam/<version>/)', () => {
  it('at least one release exists (npm run train builds one)', () => {
    expect(releases.length).toBeGreaterThan(0);
  });

  for (const { dir, manifest } of releases) {
    describe(manifest.version, () => {
      it("every artifact's size and sha256 match the manifest", async () => {
        expect(await checkRelease(dir)).toEqual([]);
      });

      it('serves teacher at the origin and student at the edge, ids int32 [-1, L] -> probabilities FP32 [-1, 2]', () => {
        expect(manifest.serving).toEqual({ origin: 'teacher', edge: 'student' });
        expect(manifest.labels).toEqual(['ham', 'spam']);
        const L = manifest.featurizer?.config?.maxLength;
        for (const role of ['teacher', 'student']) {
          const a = manifest.artifacts[role];
          expect(a?.inputs).toEqual([{ name: 'ids', datatype: 'INT32', shape: [-1, L] }]);
          expect(a?.outputs).toEqual([{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }]);
        }
        expect(manifest.threshold).toBeGreaterThanOrEqual(0.5);
        expect(manifest.threshold).toBeLessThanOrEqual(1.01);
        expect(manifest.training_data?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      });

      it('fits the size budgets: student <= 1 MB, whole release < 20 MB', () => {
        expect(manifest.artifacts.student?.bytes).toBeLessThanOrEqual(1_000_000);
        const total = Object.values(manifest.artifacts).reduce((a, x) => a + x.bytes, 0);
        expect(total).toBeLessThan(20_000_000);
      });

      it('was built with this featurizer (name, version), so serving ids equal training ids', () => {
        expect(manifest.featurizer?.name).toBe(FEATURIZER_NAME);
        expect(manifest.featurizer?.version).toBe(FEATURIZER_VERSION);
        expect(() => featurizerFromManifest(manifest.featurizer)).not.toThrow();
      });

      it('the student runs on onnxruntime-web (wasm) over the featurizer fixtures', async () => {
        ortWeb.env.wasm.numThreads = 1;
        const f = featurizerFromManifest(manifest.featurizer);
        const ids = f.featurizeBatch(FEATURIZER_FIXTURES.map((x) => x.raw));
        const bytes = new Uint8Array(await readFile(join(dir, manifest.artifacts.student?.file ?? '')));
        const session = await ortWeb.InferenceSession.create(bytes);
        const n = FEATURIZER_FIXTURES.length;
        const out = await session.run({ ids: new ortWeb.Tensor('int32', ids, [n, f.config.maxLength]) });
        const p = out.probabilities as ortWeb.Tensor;
        expect(p.dims).toEqual([n, 2]);
        const data = p.data as Float32Array;
        for (let i = 0; i < n; i++)
          expect((data[2 * i] as number) + (data[2 * i + 1] as number)).toBeCloseTo(1, 5);
        await session.release();
      });

      it('reproduces its eval.json on the validation split (same featurizer, same files, same numbers)', async () => {
        const evalDoc = JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8')) as {
          validation: { teacher: { accuracy: number }; student: { accuracy: number } };
        };
        const validation = splitStratified(loadCorpus(), RELEASE_RECIPE.split).validation;
        const f = featurizerFromManifest(manifest.featurizer);
        const ids = f.featurizeBatch(validation.map((m) => m.text));
        for (const role of ['teacher', 'student'] as const) {
          const bytes = new Uint8Array(await readFile(join(dir, manifest.artifacts[role]?.file ?? '')));
          const runner = await openModel(bytes, 'onnxruntime-node', f.config.maxLength);
          const p = await runner.run(ids, validation.length);
          await runner.release();
          const correct = validation.filter(
            (m, i) => ((p[2 * i + 1] as number) >= 0.5 ? 1 : 0) === m.label,
          ).length;
          expect(correct / validation.length).toBeCloseTo(evalDoc.validation[role].accuracy, 6);
        }
      });
    });
  }
});

describe('checkRelease catches tampering', () => {
  let tmp = '';
  let src: { dir: string; manifest: Manifest } | undefined;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'release-'));
    src = releases.at(-1);
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('a flipped byte, a missing file and a broken manifest are each reported', async () => {
    if (src === undefined) throw new Error('no release to copy');
    const dir = join(tmp, 'copy');
    await cp(src.dir, dir, { recursive: true });
    expect(await checkRelease(dir)).toEqual([]);
    const student = join(dir, 'student.onnx');
    const bytes = await readFile(student);
    bytes[100] = (bytes[100] as number) ^ 0xff;
    await writeFile(student, bytes);
    expect((await checkRelease(dir)).join()).toMatch(/student: student\.onnx: sha256 .* does not match/);
    await rm(join(dir, 'teacher.onnx'));
    expect((await checkRelease(dir)).join()).toMatch(/teacher: teacher\.onnx is missing/);
    await writeFile(join(dir, 'manifest.json'), '{"schema_version": 2}');
    expect((await checkRelease(dir)).join()).toMatch(/manifest: .*not a valid manifest/);
  });
});

describe('version ids and hashing', () => {
  it('the version is a stable function of its inputs, independent of key order', () => {
    const a = releaseVersion('2026-11-23', { b: 1, a: [1, { y: 2, x: 3 }] });
    expect(a).toMatch(/^2026-11-23\.[0-9a-f]{10}$/);
    expect(releaseVersion('2026-11-23', { a: [1, { x: 3, y: 2 }], b: 1 })).toBe(a);
    expect(releaseVersion('2026-11-23', { a: [1, { x: 3, y: 2 }], b: 2 })).not.toBe(a);
    expect(() => releaseVersion('23.11.2026', {})).toThrow(/YYYY-MM-DD/);
    // The same canonical JSON as cache keys (shared/hash), so a version id never depends on key order.
    expect(releaseVersion('2026-11-23', { b: 1, a: 2 })).toBe(
      `2026-11-23.${sha256Hex(canonicalJson({ a: 2, b: 1 })).slice(0, 10)}`,
    );
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
