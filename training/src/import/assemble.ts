/**
 * Assembles a release folder from an ONNX teacher, an ONNX student and a labelled validation set: the path of every
 * tensor-model release, brought (`npm run import-model`) or trained here (the digits family).
 *
 *   1. read both signatures (signature.ts) and refuse, listing every problem, when they do not serve one signature
 *      (inputs, the cascade output, the batch dimension) or the output does not fit the labels;
 *   2. run both in onnxruntime-node on the validation rows; refuse outputs that are not probabilities;
 *   3. choose the edge threshold on validation (training's rule: the most edge answers whose cascade accuracy stays
 *      within `tolerance` of the teacher's) and the drift baselines;
 *   4. optionally measure a held-out test split at that threshold (never used to choose anything);
 *   5. write teacher.onnx, student.onnx, manifest.json (sha256 of every artifact), eval.json and cascade.svg into
 *      models/<name>/<version>/, the version a hash of the inputs (same inputs, same folder, same bytes).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { histogram, shares } from '../../../shared/drift/index.ts';
import type { BaselineSide, Manifest, TensorSpec } from '../../../shared/manifest/index.ts';
import {
  type NumericArray,
  type NumericDatatype,
  OIP_TO_ORT,
  predictionsFromOutput,
  tensorSignature,
} from '../../../shared/protocol/index.ts';
import { type CascadePoint, chooseThreshold, thresholdGrid } from '../eval/metrics.ts';
import { cascadeSvg } from '../eval/svg.ts';
import {
  MODELS_ROOT,
  releaseVersion,
  sha256Hex,
  writeArtifacts,
  writeManifest,
} from '../release/registry.ts';
import type { LabelledRows } from './labelled-set.ts';
import { onnxSignature, signatureProblems } from './signature.ts';

/** A release that cannot be assembled; `problems` lists every reason. */
export class ImportRefusedError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`refusing the import:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ImportRefusedError';
    this.problems = problems;
  }
}

export interface AssembleOptions {
  /** Model name (models/<name>/). */
  name: string;
  labels: string[];
  teacher: Uint8Array;
  student: Uint8Array;
  /** Labelled rows the threshold is chosen on. */
  validation: LabelledRows;
  /** Held-out rows measured at the chosen threshold (trained families). @default none */
  test?: LabelledRows;
  /** The output both models share that holds the class probabilities. @default the teacher's first output */
  output?: string;
  /** `score`: the output is P(labels[1]) for two labels, [-1] or [-1, 1]. @default 'probabilities' */
  kind?: 'probabilities' | 'score';
  /** Release date (YYYY-MM-DD), the version id's date and the manifest's `created`. */
  date: string;
  description?: string;
  /** Where the models came from (manifest.training_data.source). */
  source: string;
  /** Cascade accuracy may fall this far below the teacher's on validation. @default 0.002 */
  tolerance?: number;
  /** Extra sections for eval.json (e.g. training figures). */
  extra?: Record<string, unknown>;
  /** @default models/ */
  root?: string;
  log?: (line: string) => void;
}

export interface SplitFigures {
  n: number;
  teacher_acc: number;
  student_acc: number;
  cascade_acc: number;
  edge_share: number;
  /** Teacher and student errors, for paired comparisons. */
  teacher_errors: number;
  student_errors: number;
  cascade_errors: number;
}

export interface AssembleResult {
  dir: string;
  manifest: Manifest;
  threshold: number;
  validation: SplitFigures;
  test?: SplitFigures;
}

/** Runs a model's cascade output over labelled rows in chunks; returns probabilities [rows, labels]. */
async function probabilitiesOf(
  bytes: Uint8Array,
  inputs: readonly TensorSpec[],
  rows: LabelledRows,
  output: string,
  kind: 'probabilities' | 'score',
  labels: readonly string[],
  chunk = 256,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const k = labels.length;
  const out = new Float32Array(rows.rows * k);
  try {
    const sizes = rows.dims.map((d) => d.reduce((a, b) => a * b, 1));
    for (let from = 0; from < rows.rows; from += chunk) {
      const to = Math.min(rows.rows, from + chunk);
      const feeds: Record<string, ort.Tensor> = {};
      inputs.forEach((s, i) => {
        const size = sizes[i] as number;
        const data = (rows.data[i] as NumericArray).slice(from * size, to * size);
        feeds[s.name] = new ort.Tensor(OIP_TO_ORT[s.datatype as NumericDatatype], data as never, [
          to - from,
          ...(rows.dims[i] as number[]),
        ]);
      });
      const result = await session.run(feeds, [output]);
      const values = (result[output] as ort.Tensor).data as Float32Array;
      predictionsFromOutput(values, kind, labels).forEach((p, r) => {
        labels.forEach((l, j) => {
          out[(from + r) * k + j] = p.scores[l] as number;
        });
      });
    }
  } finally {
    await session.release();
  }
  return out;
}

/** Refuses outputs that are not probability rows (NaN, outside [0, 1], or rows not summing to 1). */
function probabilityProblems(what: string, probs: Float32Array, k: number): string[] {
  for (let r = 0; r < probs.length / k; r++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const p = probs[r * k + j] as number;
      if (!(p >= -1e-6 && p <= 1 + 1e-6))
        return [`the ${what}'s output is not a probability (row ${r}: ${p}); end the model with a Softmax`];
      sum += p;
    }
    if (Math.abs(sum - 1) > 1e-3)
      return [
        `the ${what}'s output rows do not sum to 1 (row ${r}: ${sum.toFixed(4)}); end the model with a Softmax`,
      ];
  }
  return [];
}

const argmax = (p: Float32Array, r: number, k: number) => {
  let best = 0;
  for (let j = 1; j < k; j++) if ((p[r * k + j] as number) > (p[r * k + best] as number)) best = j;
  return best;
};

/** The cascade curve over thresholds on the student's top-class probability (any number of classes). */
export function multiclassCascadeCurve(
  student: Float32Array,
  teacher: Float32Array,
  labels: Int32Array,
  k: number,
  thresholds: readonly number[] = thresholdGrid(),
): CascadePoint[] {
  const n = labels.length;
  return thresholds.map((t) => {
    let edge = 0;
    let correct = 0;
    for (let r = 0; r < n; r++) {
      const s = argmax(student, r, k);
      const atEdge = (student[r * k + s] as number) >= t;
      const answer = atEdge ? s : argmax(teacher, r, k);
      if (atEdge) edge++;
      if (answer === labels[r]) correct++;
    }
    return { threshold: t, edge_share: edge / Math.max(1, n), cascade_acc: correct / Math.max(1, n) };
  });
}

function figures(
  student: Float32Array,
  teacher: Float32Array,
  labels: Int32Array,
  k: number,
  threshold: number,
): SplitFigures {
  const n = labels.length;
  let te = 0;
  let se = 0;
  let ce = 0;
  let edge = 0;
  for (let r = 0; r < n; r++) {
    const s = argmax(student, r, k);
    const t = argmax(teacher, r, k);
    const atEdge = (student[r * k + s] as number) >= threshold;
    if (atEdge) edge++;
    if (t !== labels[r]) te++;
    if (s !== labels[r]) se++;
    if ((atEdge ? s : t) !== labels[r]) ce++;
  }
  const r6 = (x: number) => Number(x.toFixed(6));
  return {
    n,
    teacher_acc: r6(1 - te / n),
    student_acc: r6(1 - se / n),
    cascade_acc: r6(1 - ce / n),
    edge_share: r6(edge / n),
    teacher_errors: te,
    student_errors: se,
    cascade_errors: ce,
  };
}

/** One tier's drift baseline: top-class scores and the label mix of `probs` over the rows `which` selects. */
function baselineSide(
  probs: Float32Array,
  k: number,
  labels: readonly string[],
  which: (r: number) => boolean,
): BaselineSide {
  const scores: number[] = [];
  const counts = new Array<number>(k).fill(0);
  for (let r = 0; r < probs.length / k; r++) {
    if (!which(r)) continue;
    const best = argmax(probs, r, k);
    scores.push(probs[r * k + best] as number);
    counts[best] = (counts[best] as number) + 1;
  }
  const round = (xs: number[]) => xs.map((x) => Number(x.toFixed(6)));
  return {
    n: scores.length,
    score: round(shares(histogram(scores))),
    // No OOD rule for tensor releases: every answer counts as fully covered (the last bin).
    coverage: round(shares(histogram(scores.map(() => 1)))),
    labels: Object.fromEntries(
      labels.map((l, j) => [l, Number(((counts[j] as number) / Math.max(1, scores.length)).toFixed(6))]),
    ),
  };
}

/** Bytes of a labelled set (its fingerprint). */
function rowsFingerprint(rows: LabelledRows): string {
  const parts = [
    ...rows.data.map((d) => new Uint8Array(d.buffer, d.byteOffset, d.byteLength)),
    new Uint8Array(rows.labels.buffer),
  ];
  return sha256Hex(Buffer.concat(parts));
}

/**
 * Re-measures a tensor release from its folder (its own ONNX files, threshold and cascade output) on labelled
 * splits: what `npm run eval` prints for a tensor family.
 */
export async function measureTensorRelease(
  dir: string,
  manifest: Manifest,
  splits: Record<string, LabelledRows>,
): Promise<{ threshold: number } & Record<string, SplitFigures | number>> {
  const signature = tensorSignature(manifest);
  if (signature === undefined)
    throw new TypeError(`${manifest.name}@${manifest.version} is not a tensor release`);
  const bytesOf = (role: string) => readFile(join(dir, (manifest.artifacts[role] as { file: string }).file));
  const teacher = new Uint8Array(await bytesOf(manifest.serving.origin));
  const student = new Uint8Array(await bytesOf(manifest.serving.edge as string));
  const threshold = manifest.threshold ?? 0.5;
  const { spec, kind } = signature.cascade;
  const k = manifest.labels.length;
  const out: { threshold: number } & Record<string, SplitFigures | number> = { threshold };
  for (const [name, rows] of Object.entries(splits)) {
    const t = await probabilitiesOf(teacher, signature.inputs, rows, spec.name, kind, manifest.labels);
    const st = await probabilitiesOf(student, signature.inputs, rows, spec.name, kind, manifest.labels);
    out[name] = figures(st, t, rows.labels, k, threshold);
  }
  return out;
}

export async function assembleRelease(options: AssembleOptions): Promise<AssembleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { labels, teacher, student, validation } = options;
  const kind = options.kind ?? 'probabilities';
  const k = labels.length;
  const problems: string[] = [];
  if (k < 2) problems.push(`a classifier needs at least two labels, got ${JSON.stringify(labels)}`);
  if (new Set(labels).size !== k) problems.push(`labels repeat: ${labels.join(', ')}`);
  let ts: ReturnType<typeof onnxSignature> | undefined;
  let ss: ReturnType<typeof onnxSignature> | undefined;
  try {
    ts = onnxSignature(teacher, 'the teacher');
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    ss = onnxSignature(student, 'the student');
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0 || ts === undefined || ss === undefined) throw new ImportRefusedError(problems);
  const output = options.output ?? (ts.outputs[0] as TensorSpec).name;
  problems.push(...signatureProblems(ts, ss, output));
  if (problems.length > 0) throw new ImportRefusedError(problems);

  const date = options.date;
  const tolerance = options.tolerance ?? 0.002;
  const fingerprint = rowsFingerprint(validation);
  const version = releaseVersion(date, {
    teacher: sha256Hex(teacher),
    student: sha256Hex(student),
    validation: fingerprint,
    test: options.test === undefined ? null : rowsFingerprint(options.test),
    labels,
    output,
    kind,
    tolerance,
  });
  // The manifest's own check of the signature against the labels (shared/protocol tensorSignature, as both tiers).
  const artifacts = {
    teacher: {
      file: 'teacher.onnx',
      sha256: sha256Hex(teacher),
      bytes: teacher.byteLength,
      format: 'onnx',
      inputs: ts.inputs,
      outputs: ts.outputs,
    },
    student: {
      file: 'student.onnx',
      sha256: sha256Hex(student),
      bytes: student.byteLength,
      format: 'onnx',
      inputs: ss.inputs,
      outputs: ss.outputs,
    },
  };
  const draft: Manifest = {
    schema_version: 1,
    name: options.name,
    version,
    created: `${date}T00:00:00Z`,
    labels,
    artifacts,
    serving: { origin: 'teacher', edge: 'student' },
    cascade: { output, kind },
  };
  try {
    tensorSignature(draft);
  } catch (err) {
    throw new ImportRefusedError([(err as Error).message]);
  }
  if (validation.rows < 10)
    throw new ImportRefusedError([
      `the validation set has ${validation.rows} rows; the threshold needs at least 10`,
    ]);

  log(
    `import ${options.name}/${version}: ${validation.rows} validation rows, ${k} labels, output '${output}' (${kind})`,
  );
  const inputs = ts.inputs;
  const tv = await probabilitiesOf(teacher, inputs, validation, output, kind, labels);
  const sv = await probabilitiesOf(student, inputs, validation, output, kind, labels);
  const notProbabilities = [
    ...probabilityProblems('teacher', tv, k),
    ...probabilityProblems('student', sv, k),
  ];
  if (notProbabilities.length > 0) throw new ImportRefusedError(notProbabilities);

  const valFigures = figures(sv, tv, validation.labels, k, 0);
  const curve = multiclassCascadeCurve(sv, tv, validation.labels, k);
  const chosen = chooseThreshold(curve, valFigures.teacher_acc, tolerance);
  const threshold = chosen.threshold;
  const valAt = figures(sv, tv, validation.labels, k, threshold);
  log(
    `validation: teacher ${(100 * valAt.teacher_acc).toFixed(2)}%, student ${(100 * valAt.student_acc).toFixed(2)}%, cascade ${(100 * valAt.cascade_acc).toFixed(2)}% at threshold ${threshold} (edge share ${(100 * valAt.edge_share).toFixed(1)}%)`,
  );
  let testAt: SplitFigures | undefined;
  let testCurve: CascadePoint[] | undefined;
  if (options.test !== undefined) {
    const tt = await probabilitiesOf(teacher, inputs, options.test, output, kind, labels);
    const st = await probabilitiesOf(student, inputs, options.test, output, kind, labels);
    testAt = figures(st, tt, options.test.labels, k, threshold);
    testCurve = multiclassCascadeCurve(st, tt, options.test.labels, k);
    log(
      `test: teacher ${(100 * testAt.teacher_acc).toFixed(2)}%, student ${(100 * testAt.student_acc).toFixed(2)}%, cascade ${(100 * testAt.cascade_acc).toFixed(2)}% (edge share ${(100 * testAt.edge_share).toFixed(1)}%)`,
    );
  }

  const escalated = (r: number) => (sv[r * k + argmax(sv, r, k)] as number) < threshold;
  const manifest: Manifest = {
    ...draft,
    ...(options.description === undefined ? {} : { description: options.description }),
    threshold,
    expected_edge_share: valAt.edge_share,
    baseline: {
      source:
        'validation set (edge: the student on every row; origin: the teacher on the rows the edge escalates)',
      edge: baselineSide(sv, k, labels, () => true),
      origin: baselineSide(tv, k, labels, escalated),
    },
    training_data: {
      source: options.source,
      fingerprint,
      counts: {
        validation: validation.rows,
        ...(options.test === undefined ? {} : { test: options.test.rows }),
      },
    },
  };
  const dir = join(options.root ?? MODELS_ROOT, options.name, version);
  await mkdir(dir, { recursive: true });
  await writeArtifacts(dir, [
    {
      role: 'teacher',
      file: 'teacher.onnx',
      data: teacher,
      format: 'onnx',
      inputs: ts.inputs,
      outputs: ts.outputs,
    },
    {
      role: 'student',
      file: 'student.onnx',
      data: student,
      format: 'onnx',
      inputs: ss.inputs,
      outputs: ss.outputs,
    },
  ]);
  const written = await writeManifest(dir, manifest);
  const evaluation = {
    model: options.name,
    version,
    labels,
    cascade_output: { output, kind },
    threshold_rule: { tolerance, chosen },
    validation: { ...valAt, curve },
    ...(testAt === undefined ? {} : { test: { ...testAt, curve: testCurve } }),
    ...options.extra,
  };
  await writeFile(join(dir, 'eval.json'), `${JSON.stringify(evaluation, null, 2)}\n`);
  await writeFile(
    join(dir, 'cascade.svg'),
    cascadeSvg({
      title: `${options.name} ${version}: cascade on ${testAt === undefined ? 'validation' : 'test (solid) and validation (dashed)'}`,
      test: testCurve ?? curve,
      validation: curve,
      threshold,
      teacherAcc: { test: testAt?.teacher_acc ?? valAt.teacher_acc, validation: valAt.teacher_acc },
      studentAcc: { test: testAt?.student_acc ?? valAt.student_acc, validation: valAt.student_acc },
    }),
  );
  log(`release written: ${dir}`);
  return {
    dir,
    manifest: written,
    threshold,
    validation: valAt,
    ...(testAt === undefined ? {} : { test: testAt }),
  };
}
