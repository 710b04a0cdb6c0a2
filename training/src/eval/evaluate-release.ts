/**
 * Evaluates a release as it will be served: its featurizer (from the manifest), its ONNX files on
 * onnxruntime-node. Metrics for teacher and student on validation and test; the cascade curve on both; the
 * threshold chosen on validation only (the rule), then reported on test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import type { Manifest } from '../../../shared/manifest/index.ts';
import type { Message } from '../data/corpus.ts';
import { openModel } from '../onnx/run.ts';
import {
  type BinaryMetrics,
  binaryMetrics,
  type CascadePoint,
  cascadeCurve,
  chooseThreshold,
} from './metrics.ts';

export interface SplitEval {
  n: number;
  teacher: BinaryMetrics;
  student: BinaryMetrics;
  /** The cascade at the chosen threshold. */
  cascade: CascadePoint;
  curve: CascadePoint[];
  /** Errors by corpus group (teacher, student, cascade). */
  errors_by_group: Record<string, { teacher: number; student: number; cascade: number }>;
}

export interface ReleaseEval {
  threshold: number;
  tolerance: number;
  validation: SplitEval;
  test: SplitEval;
}

/** Spam probability (column 1) of each message, from a model file of the release. */
async function spamProbs(
  dir: string,
  manifest: Manifest,
  role: string,
  ids: Int32Array,
  n: number,
  L: number,
): Promise<Float32Array> {
  const artifact = manifest.artifacts[role];
  if (artifact === undefined) throw new Error(`release has no '${role}' artifact`);
  const runner = await openModel(
    new Uint8Array(await readFile(join(dir, artifact.file))),
    'onnxruntime-node',
    L,
  );
  const probs = await runner.run(ids, n);
  await runner.release();
  const spam = manifest.labels.indexOf('spam');
  const classes = manifest.labels.length;
  return Float32Array.from({ length: n }, (_, i) => probs[i * classes + spam] as number);
}

async function splitScores(dir: string, manifest: Manifest, messages: readonly Message[]) {
  const featurizer = featurizerFromManifest(manifest.featurizer);
  const L = featurizer.config.maxLength;
  const ids = featurizer.featurizeBatch(messages.map((m) => m.text));
  const labels = Uint8Array.from(messages.map((m) => m.label));
  const teacher = await spamProbs(dir, manifest, manifest.serving.origin, ids, messages.length, L);
  const student = await spamProbs(dir, manifest, manifest.serving.edge ?? 'student', ids, messages.length, L);
  return { labels, teacher, student };
}

function splitEval(
  messages: readonly Message[],
  s: Awaited<ReturnType<typeof splitScores>>,
  threshold: number,
  curve: CascadePoint[],
): SplitEval {
  const errors: Record<string, { teacher: number; student: number; cascade: number }> = {};
  messages.forEach((m, i) => {
    const y = s.labels[i];
    const t = (s.teacher[i] as number) >= 0.5 ? 1 : 0;
    const st = s.student[i] as number;
    const sp = st >= 0.5 ? 1 : 0;
    const conf = Math.max(st, 1 - st);
    const c = conf >= threshold ? sp : t;
    const e = errors[m.group] ?? { teacher: 0, student: 0, cascade: 0 };
    errors[m.group] = e;
    if (t !== y) e.teacher++;
    if (sp !== y) e.student++;
    if (c !== y) e.cascade++;
  });
  const at = cascadeCurve(s.student, s.teacher, s.labels, [threshold])[0] as CascadePoint;
  return {
    n: messages.length,
    teacher: binaryMetrics(s.teacher, s.labels),
    student: binaryMetrics(s.student, s.labels),
    cascade: at,
    curve,
    errors_by_group: Object.fromEntries(Object.entries(errors).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}

export async function evaluateRelease(
  dir: string,
  manifest: Manifest,
  splits: { validation: readonly Message[]; test: readonly Message[] },
  tolerance = 0.002,
): Promise<ReleaseEval> {
  const val = await splitScores(dir, manifest, splits.validation);
  const valCurve = cascadeCurve(val.student, val.teacher, val.labels);
  const teacherValAcc = binaryMetrics(val.teacher, val.labels).accuracy;
  const threshold = chooseThreshold(valCurve, teacherValAcc, tolerance).threshold;
  // The test split is scored only after the threshold is fixed.
  const test = await splitScores(dir, manifest, splits.test);
  const testCurve = cascadeCurve(test.student, test.teacher, test.labels);
  return {
    threshold,
    tolerance,
    validation: splitEval(splits.validation, val, threshold, valCurve),
    test: splitEval(splits.test, test, threshold, testCurve),
  };
}

/** Rounds every non-integer in a JSON-able value to `digits` significant digits (stable, readable eval.json). */
export function roundDeep<T>(value: T, digits = 6): T {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(digits)) : v,
    ),
  ) as T;
}
