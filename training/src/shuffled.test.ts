import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../shared/manifest/index.ts';
import { buildRelease } from './build.ts';
import { FIXTURE_MODELS_ROOT, SHUFFLED_RECIPE } from './shuffled.ts';

describe('the shuffled-labels fixture release (npm run train:shuffled, real training, real ORT)', () => {
  it('is what the script makes, byte for byte, and learned nothing true', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shuffled-'));
    try {
      const { dir, manifest } = await buildRelease(SHUFFLED_RECIPE, { root, log: () => {} });
      const committed = join(FIXTURE_MODELS_ROOT, manifest.name, manifest.version);
      const files = (await readdir(dir)).sort();
      expect((await readdir(committed)).sort()).toEqual(files);
      for (const file of files) {
        expect((await readFile(join(committed, file))).equals(await readFile(join(dir, file))), file).toBe(
          true,
        );
      }
      // The real signature (a valid candidate for the spam releases), a fixture's description, chance-level skill.
      const parsed = parseManifest(
        JSON.parse(await readFile(join(committed, 'manifest.json'), 'utf8')),
        'fixture',
      );
      expect(parsed.featurizer).toBeDefined();
      expect(parsed.description).toMatch(/^Deliberately bad release: trained on shuffled labels/);
      const evaluation = JSON.parse(await readFile(join(committed, 'eval.json'), 'utf8')) as {
        test: { teacher: { roc_auc: number }; student: { roc_auc: number } };
      };
      expect(evaluation.test.teacher.roc_auc).toBeLessThan(0.7);
      expect(evaluation.test.student.roc_auc).toBeLessThan(0.7);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
