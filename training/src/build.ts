/**
 * corpus -> split -> featurize -> teacher -> distilled student -> int8 -> ONNX -> verify -> evaluate -> release.
 * Everything is seeded; the same recipe on the same corpus writes the same version id and byte-identical files.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  createFeaturizer,
  FEATURIZER_NAME,
  FEATURIZER_VERSION,
  featurizerRef,
} from '../../shared/featurizer/index.ts';
import type { Manifest, TensorSpec } from '../../shared/manifest/index.ts';
import { seenIdsBitmap } from '../../shared/ood/index.ts';
import { mulberry32 } from '../../shared/random/index.ts';
import type { ReleaseRecipe } from './config.ts';
import { CORPUS_SOURCE, corpusFingerprint, LABELS, loadCorpus, type Message } from './data/corpus.ts';
import { splitWithExtra } from './data/extra.ts';
import { messageView, trainingViews, VIEWS } from './data/views.ts';
import { evaluateRelease, type ReleaseEval } from './eval/evaluate-release.ts';
import { writeEvaluation } from './eval/report.ts';
import { type BagMlp, initBagMlp, Rng } from './model/bag-mlp.ts';
import { fitTemperature, foldTemperature, type TemperatureFit } from './model/calibrate.ts';
import { quantizeRows } from './model/quantize.ts';
import { predictLogits, predictProbs, trainBagMlp } from './model/train.ts';
import { exportBagMlp, INPUT_NAME, OUTPUT_NAME } from './onnx/bag-model.ts';
import {
  checkRelease,
  MODELS_ROOT,
  releaseVersion,
  writeArtifacts,
  writeManifest,
} from './release/registry.ts';
import { verifyExports } from './verify.ts';

/** Bump when the trainer or export changes what a recipe produces. */
export const TRAINER_VERSION = '1.2.0';

export interface BuildOptions {
  /** Registry root. @default models/ at the repository root */
  root?: string;
  /**
   * Extra labelled messages (the review queue's export: data/extra.ts), placed by their own keys; the corpus splits
   * stay as they are. They change the release version. @default none
   */
  extra?: readonly Message[];
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
  /**
   * How many times each extra item in the train split is repeated in training (reviewed items are a new domain's
   * few examples among thousands of corpus messages; repeating them is importance weighting). Part of the version.
   * @default 1
   */
  extraRepeat?: number;
  /**
   * The manifest's `created` (release order at both tiers). @default the recipe's releaseDate at midnight UTC (fixed,
   * so rebuilds are byte-identical); the learning loop passes the build's time.
   */
  created?: string;
}

export interface BuildResult {
  dir: string;
  manifest: Manifest;
  evaluation: ReleaseEval;
  seconds: Record<string, number>;
}

export interface Encoded {
  ids: Int32Array;
  labels: Uint8Array;
  n: number;
  smoothing?: Float32Array;
  smoothingTarget?: number[];
}

function accuracy(model: BagMlp, d: Encoded): number {
  const p = predictProbs(model, d.ids, d.n);
  let ok = 0;
  for (let i = 0; i < d.n; i++) if (((p[2 * i + 1] as number) >= 0.5 ? 1 : 0) === d.labels[i]) ok++;
  return ok / d.n;
}

/** The training messages plus their header-less views (same label), when the recipe asks for them. */
export function withViews(messages: readonly Message[], views: ReleaseRecipe['views']): Message[] {
  if (views === undefined) return [...messages];
  const random = mulberry32(views.seed);
  const out: Message[] = [];
  for (const m of messages) {
    out.push(m);
    for (const text of trainingViews(m.text, random, views.snippets)) out.push({ ...m, text });
  }
  return out;
}

/** Adds the recipe's evidence-based label smoothing (by the count of non-zero ids per example). */
export function withEvidence(d: Encoded, L: number, evidence: ReleaseRecipe['evidence']): Encoded {
  if (evidence === undefined) return d;
  const smoothing = new Float32Array(d.n);
  for (let i = 0; i < d.n; i++) {
    let n = 0;
    for (let j = i * L; j < (i + 1) * L; j++) if (d.ids[j] !== 0) n++;
    smoothing[i] = evidence.max * Math.max(0, 1 - n / evidence.fullAt);
  }
  if (evidence.target === 'uniform') return { ...d, smoothing };
  const counts = [0, 0];
  for (const y of d.labels) counts[y] = (counts[y] ?? 0) + 1;
  return { ...d, smoothing, smoothingTarget: counts.map((c) => c / Math.max(1, d.n)) };
}

/** The smallest power of ten at or above `v` (1e-9 at least). */
function decadeAbove(v: number): number {
  return Number(`1e${Math.ceil(Math.log10(Math.max(v, 1e-9)))}`);
}

export async function buildRelease(recipe: ReleaseRecipe, options: BuildOptions = {}): Promise<BuildResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seconds: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Number(((now - mark) / 1000).toFixed(2));
    mark = now;
  };

  const corpus = loadCorpus();
  const fingerprint = corpusFingerprint(corpus);
  const extra = options.extra ?? [];
  const extraRepeat = options.extraRepeat ?? 1;
  if (!Number.isInteger(extraRepeat) || extraRepeat < 1 || extraRepeat > 100) {
    throw new TypeError(`buildRelease: extraRepeat must be an integer in [1, 100], got ${extraRepeat}`);
  }
  const splits = splitWithExtra(corpus, extra, recipe.split);
  if (extra.length > 0) log(`extra labelled data: ${JSON.stringify(splits.extra)}`);
  const count = (ms: readonly Message[]) => ({
    total: ms.length,
    ham: ms.filter((m) => m.label === 0).length,
    spam: ms.filter((m) => m.label === 1).length,
  });
  const counts = {
    train: count(splits.train),
    validation: count(splits.validation),
    test: count(splits.test),
  };
  log(
    `corpus: ${corpus.length} messages, fingerprint ${fingerprint.slice(0, 12)}; split ${JSON.stringify(counts)}`,
  );
  const version = releaseVersion(recipe.releaseDate, {
    recipe,
    fingerprint,
    ...(extra.length === 0
      ? {}
      : {
          extra: createHash('sha256')
            .update(extra.map((m) => `${m.key}\t${m.label}\t${m.checksum}`).join('\n'))
            .digest('hex'),
          ...(extraRepeat === 1 ? {} : { extra_repeat: extraRepeat }),
          // Reviewed items train on their label as is (no evidence smoothing): part of what they produce.
          extra_smoothing: 'none',
        }),
    featurizer: `${FEATURIZER_NAME}@${FEATURIZER_VERSION}`,
    trainer: TRAINER_VERSION,
  });
  const dir = join(options.root ?? MODELS_ROOT, recipe.name, version);
  log(`release ${recipe.name}/${version} -> ${dir}`);
  lap('load');

  const featurizer = createFeaturizer(recipe.featurizer);
  const L = featurizer.config.maxLength;
  const encode = (ms: readonly Message[]): Encoded => ({
    ids: featurizer.featurizeBatch(ms.map((m) => m.text)),
    labels: Uint8Array.from(ms.map((m) => m.label)),
    n: ms.length,
  });
  const extraKeys = new Set(extra.map((m) => m.key));
  const weighted =
    extraRepeat === 1
      ? splits.train
      : splits.train.flatMap((m) => (extraKeys.has(m.key) ? Array<Message>(extraRepeat).fill(m) : [m]));
  const rows = withViews(weighted, recipe.views);
  const train = withEvidence(encode(rows), L, recipe.evidence);
  // A reviewed item's label is a person's answer for that very text, however short: no evidence smoothing for it
  // (or its views); smoothing is for corpus texts whose short views say less than their label claims.
  if (train.smoothing !== undefined && extraKeys.size > 0) {
    rows.forEach((m, i) => {
      if (extraKeys.has(m.key)) (train.smoothing as Float32Array)[i] = 0;
    });
  }
  if (recipe.shuffleLabels !== undefined) new Rng(recipe.shuffleLabels.seed).shuffle(train.labels);
  const validation = encode(splits.validation);
  // What calibration is fitted on: the validation messages and their header-less views (how clients send text).
  const calibrationSet = encode(
    VIEWS.flatMap((view) =>
      splits.validation.map((m) => ({ ...m, text: view === 'full' ? m.text : messageView(m.text, view) })),
    ),
  );
  lap('featurize');
  log(`featurized train+validation (${train.n + validation.n} messages) in ${seconds.featurize}s`);

  const init = (spec: typeof recipe.teacher | typeof recipe.student) =>
    initBagMlp(
      { ...spec.shape, classes: LABELS.length, maxLength: L },
      spec.initSeed,
      Float32Array,
      spec.embScale,
    );
  const teacher = init(recipe.teacher);
  const teacherLosses = trainBagMlp(teacher, train, {
    ...recipe.teacher.train,
    name: 'teacher',
    log,
    onEpoch: () => `val_acc ${(100 * accuracy(teacher, validation)).toFixed(2)}%`,
  });
  lap('teacher');

  const teacherLogits = predictLogits(teacher, train.ids, train.n);
  const student = init(recipe.student);
  const studentLosses = trainBagMlp(student, train, {
    ...recipe.student.train,
    teacherLogits,
    temperature: recipe.student.distill.temperature,
    alpha: recipe.student.distill.alpha,
    name: 'student',
    log,
    onEpoch: () => `val_acc ${(100 * accuracy(student, validation)).toFixed(2)}% (fp32)`,
  });
  lap('student');

  // Temperature scaling, fitted after distillation (the student learned from the teacher's raw logits) and folded
  // into each model's last layer, so the exported files serve calibrated probabilities.
  const calibration: Record<string, TemperatureFit> = {};
  if (recipe.calibration !== undefined) {
    for (const [role, model] of [
      ['teacher', teacher],
      ['student', student],
    ] as const) {
      const fit = fitTemperature(
        predictLogits(model, calibrationSet.ids, calibrationSet.n),
        calibrationSet.labels,
        LABELS.length,
      );
      foldTemperature(model, fit.temperature);
      calibration[role] = fit;
      log(
        `[${role}] temperature ${fit.temperature.toFixed(4)}: validation NLL ${fit.nll_before.toFixed(4)} -> ${fit.nll_after.toFixed(4)}`,
      );
    }
  }

  const table = quantizeRows(student);
  const doc = `${recipe.name} ${version}`;
  const teacherOnnx = exportBagMlp(teacher, { name: 'teacher', docString: `${doc} teacher` });
  const studentOnnx = exportBagMlp(student, {
    name: 'student',
    docString: `${doc} student (int8 embeddings)`,
    quantized: table,
  });
  if (studentOnnx.byteLength > recipe.maxStudentBytes) {
    throw new Error(
      `student.onnx is ${studentOnnx.byteLength} bytes, over the ${recipe.maxStudentBytes} limit`,
    );
  }
  const verification = await verifyExports({
    ids: validation.ids,
    n: validation.n,
    teacher: { model: teacher, onnx: teacherOnnx },
    student: { model: student, table, onnx: studentOnnx },
  });
  lap('export_verify');
  log(`verify: ${JSON.stringify(verification)}`);

  const io = (): { inputs: TensorSpec[]; outputs: TensorSpec[] } => ({
    inputs: [{ name: INPUT_NAME, datatype: 'INT32', shape: [-1, L] }],
    outputs: [{ name: OUTPUT_NAME, datatype: 'FP32', shape: [-1, LABELS.length] }],
  });
  // What training saw: ids present in at least `minCount` training rows (views included), for the OOD rule.
  const seenIds = seenIdsBitmap(train.ids, train.n, featurizer.config.buckets, recipe.ood.minCount);
  const artifacts = await writeArtifacts(dir, [
    { role: 'teacher', file: 'teacher.onnx', data: teacherOnnx, format: 'onnx', ...io() },
    { role: 'student', file: 'student.onnx', data: studentOnnx, format: 'onnx', ...io() },
    { role: 'seen_ids', file: 'seen-ids.bin', data: seenIds, format: 'bitmap' },
  ]);
  let manifest = await writeManifest(dir, {
    schema_version: 1,
    name: recipe.name,
    version,
    created: options.created ?? `${recipe.releaseDate}T00:00:00Z`,
    description:
      recipe.shuffleLabels === undefined
        ? 'Spam classifier release: teacher (origin, FP32 embedding-bag MLP) and student (edge, int8 embedding-bag, distilled) over the shared email-hash featurizer.'
        : `Deliberately bad release: trained on shuffled labels (seed ${recipe.shuffleLabels.seed}), a rollout test fixture. Never promote it.`,
    labels: [...LABELS],
    artifacts,
    serving: { origin: 'teacher', edge: 'student' },
    featurizer: featurizerRef(recipe.featurizer),
    ...(recipe.calibration === undefined
      ? {}
      : {
          calibration: Object.fromEntries(
            Object.entries(calibration).map(([role, fit]) => [
              role,
              { method: 'temperature' as const, temperature: Number(fit.temperature.toPrecision(6)) },
            ]),
          ),
        }),
    // Calibrated by the evaluation below (written with the threshold).
    ood: { artifact: 'seen_ids', min_count: recipe.ood.minCount, min_features: 0, min_coverage: 0 },
    training_data: {
      source: CORPUS_SOURCE,
      fingerprint,
      counts: {
        train: counts.train.total,
        validation: counts.validation.total,
        test: counts.test.total,
        ham: counts.train.ham + counts.validation.ham + counts.test.ham,
        spam: counts.train.spam + counts.validation.spam + counts.test.spam,
      },
    },
  });

  const evaluation = await evaluateRelease(dir, manifest, splits, recipe.thresholdTolerance, recipe.decision);
  const describe = (m: BagMlp, r: ReleaseRecipe['teacher']) => ({
    architecture: `embedding-bag(mean) ${m.shape.rows}x${m.shape.dim} -> ${[...m.shape.hidden, m.shape.classes].join(' -> ')} softmax`,
    parameters: m.emb.length + m.layers.reduce((a, l) => a + l.w.length + l.b.length, 0),
    init_seed: r.initSeed,
    train: r.train,
  });
  manifest = await writeEvaluation(dir, manifest, evaluation, {
    models: {
      teacher: { ...describe(teacher, recipe.teacher), embedding: 'float32' },
      student: {
        ...describe(student, recipe.student),
        embedding: 'int8, one float32 scale per row, dequantized after Gather',
        distillation: { ...recipe.student.distill, from: 'teacher logits on the train split' },
      },
    },
    training: {
      trainer: `hand-written bag-mlp trainer ${TRAINER_VERSION}`,
      ...(recipe.calibration === undefined
        ? {}
        : {
            calibration: {
              fitted_on: `validation messages and their header-less views (${calibrationSet.n})`,
              ...calibration,
            },
          }),
      teacher_loss: teacherLosses,
      student_loss: studentLosses,
    },
    verification: {
      split: 'validation',
      n: verification.n,
      tolerance: verification.tolerance,
      backends: ['onnxruntime-node', 'onnxruntime-web'],
      // Exact ORT differences vary by CPU: the file keeps the decade they fall under (the log prints them in full).
      parity_max_abs_diff_below: decadeAbove(
        Math.max(...Object.values(verification.parity).flatMap((r) => Object.values(r))),
      ),
      quantization: verification.quantization,
    },
  });
  const problems = await checkRelease(dir);
  if (problems.length > 0) throw new Error(`release check failed: ${problems.join('; ')}`);
  lap('evaluate');
  return { dir, manifest, evaluation, seconds };
}
