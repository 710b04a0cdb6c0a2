/**
 * `npm run train:shuffled`: builds a deliberately bad spam release into test/fixtures/models/spam/<version>/: the
 * release recipe's split and featurizer, tiny models (a linear embedding bag at each tier) trained on the train
 * split with its labels shuffled. It serves the real signature, passes every check an embedded release must pass,
 * and learned nothing true: the rollout tests and `npm run bench:rollout` embed it as the candidate the guardrails
 * must roll back. Same recipe, same bytes; the folder is committed, so tests never train.
 */
import { fileURLToPath } from 'node:url';
import { buildRelease } from './build.ts';
import { RELEASE_RECIPE, type ReleaseRecipe } from './config.ts';
import { summaryLine } from './eval/report.ts';

/** Where the fixture releases live (a registry root of its own: never one of the served models/). */
export const FIXTURE_MODELS_ROOT = fileURLToPath(new URL('../../test/fixtures/models/', import.meta.url));

const TINY_TRAIN = {
  epochs: 2,
  batchSize: 64,
  learningRate: 0.01,
  lrDecay: 1,
  weightDecay: 0,
  tokenDropout: 0,
} as const;

export const SHUFFLED_RECIPE: ReleaseRecipe = {
  name: RELEASE_RECIPE.name,
  // Older than every real release: never "the latest" where it sits beside them (an origin serving both, a bundle).
  releaseDate: '2026-11-01',
  split: RELEASE_RECIPE.split,
  shuffleLabels: { seed: 404 },
  ood: RELEASE_RECIPE.ood,
  featurizer: RELEASE_RECIPE.featurizer,
  teacher: {
    shape: { rows: 4096, dim: 8, hidden: [] },
    initSeed: 1,
    embScale: 0.1,
    train: { ...TINY_TRAIN, seed: 11 },
  },
  student: {
    shape: { rows: 1024, dim: 8, hidden: [] },
    initSeed: 2,
    embScale: 0.1,
    train: { ...TINY_TRAIN, seed: 12 },
    distill: { temperature: 2, alpha: 0.5 },
  },
  thresholdTolerance: RELEASE_RECIPE.thresholdTolerance,
  maxStudentBytes: 100_000,
};

if (import.meta.main) {
  try {
    const { dir, manifest, evaluation, seconds } = await buildRelease(SHUFFLED_RECIPE, {
      root: FIXTURE_MODELS_ROOT,
    });
    console.log(`release written: ${dir}`);
    console.log(summaryLine(manifest, evaluation, { seconds }));
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  }
}
