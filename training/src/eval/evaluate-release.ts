/**
 * Evaluates a release as it will be served: its featurizer (from the manifest), its ONNX files on
 * onnxruntime-node. Metrics for teacher and student on validation and test; the cascade curve on both; the
 * threshold chosen on validation only (the rule), then reported on test.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decideRow, type LabelRule, labelRule } from '../../../shared/decision/index.ts';
import { histogram, shares } from '../../../shared/drift/index.ts';
import { featurizerFromManifest } from '../../../shared/featurizer/index.ts';
import type { BaselineSide, Manifest } from '../../../shared/manifest/index.ts';
import { type Coverage, isOutOfDistribution, type OodRule, SeenIds } from '../../../shared/ood/index.ts';
import type { DecisionRecipe } from '../config.ts';
import type { Message } from '../data/corpus.ts';
import { EVERYDAY_TEXTS } from '../data/everyday.ts';
import { messageView, VIEWS, type ViewName } from '../data/views.ts';
import { uncalibrate } from '../model/calibrate.ts';
import { openModel } from '../onnx/run.ts';
import {
  type BinaryMetrics,
  binaryMetrics,
  type CascadePoint,
  cascadeCurve,
  chooseThreshold,
  expectedCalibrationError,
} from './metrics.ts';
import { calibrateOod, type EscalationStats, escalationStats } from './ood.ts';

export interface SplitEval {
  n: number;
  teacher: BinaryMetrics;
  student: BinaryMetrics;
  /** The cascade at the chosen threshold. */
  cascade: CascadePoint;
  curve: CascadePoint[];
  /** Errors by corpus group (teacher, student, cascade). */
  errors_by_group: Record<string, { teacher: number; student: number; cascade: number }>;
  /** The teacher's label per message, in order (for paired comparisons; not written to eval.json). */
  teacher_predictions: number[];
}

/** Teacher, student and cascade on one set of labelled texts (a view of the test split, or a fixture). */
export interface ViewEval {
  n: number;
  teacher: ViewMetrics;
  student: ViewMetrics;
  cascade: ViewMetrics & { edge_share: number };
  /** Answers marked `ood: true` (escalated as out of distribution, and so answered by the teacher, flagged). */
  ood_answers: number;
  /** Ham the cascade answered spam, sure (not `unsure`) and without an OOD flag (the everyday sanity check: 0). */
  confident_spam_on_ham: number;
  /** How the threshold and the OOD rule escalate the student's errors. */
  escalation: EscalationStats;
}

/** Of the labels answered (the release's decision rule applied; without one, the argmax). */
export interface ViewMetrics {
  accuracy: number;
  /** Ham answered spam / ham. */
  ham_fpr: number;
  /** Spam answered spam / spam. */
  spam_recall: number;
  errors: number;
  /** Answers marked `unsure: true` (the default label answered under a cutoff) / all. */
  unsure_share: number;
  /** Expected calibration error of the served probabilities (10 bins over the top-class probability). */
  ece: number;
  /** The same before temperature scaling (absent for releases without calibration). */
  ece_uncalibrated?: number;
}

export interface ReleaseEval {
  threshold: number;
  /** The decision rule chosen on validation (manifest.decision), for releases that have one. */
  decision?: NonNullable<Manifest['decision']>;
  tolerance: number;
  validation: SplitEval;
  test: SplitEval;
  /** The test split seen as clients send it: full messages and header-less views (data/views.ts). */
  views: Record<ViewName, ViewEval>;
  /** Short everyday texts from outside the corpus (data/everyday.ts), never trained on. */
  everyday: ViewEval;
  /** The OOD rule chosen on validation (releases with a seen-ids bitmap). */
  ood?: OodRule;
  /** Drift baselines from validation (manifest.baseline). */
  baseline: NonNullable<Manifest['baseline']>;
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

/** A release's seen-ids bitmap (its OOD rule's artifact), or undefined when it has none. */
export async function loadSeenIds(dir: string, manifest: Manifest): Promise<SeenIds | undefined> {
  const artifact = manifest.ood === undefined ? undefined : manifest.artifacts[manifest.ood.artifact];
  if (artifact === undefined) return undefined;
  return new SeenIds(new Uint8Array(await readFile(join(dir, artifact.file))));
}

async function splitScores(
  dir: string,
  manifest: Manifest,
  messages: ReadonlyArray<Pick<Message, 'text' | 'label'>>,
  seen?: SeenIds,
) {
  const featurizer = featurizerFromManifest(manifest.featurizer);
  const L = featurizer.config.maxLength;
  const ids = featurizer.featurizeBatch(messages.map((m) => m.text));
  const labels = Uint8Array.from(messages.map((m) => m.label));
  const teacher = await spamProbs(dir, manifest, manifest.serving.origin, ids, messages.length, L);
  const student = await spamProbs(dir, manifest, manifest.serving.edge ?? 'student', ids, messages.length, L);
  // Without a bitmap every input counts as in distribution (coverage 1).
  const coverage =
    seen?.coverageRows(ids, messages.length) ??
    Array.from({ length: messages.length }, (_, r) => ({
      features: ids.subarray(r * L, (r + 1) * L).filter((x) => x !== 0).length,
      coverage: 1,
    }));
  return { labels, teacher, student, coverage };
}

type Scores = Awaited<ReturnType<typeof splitScores>>;

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
    teacher_predictions: Array.from(s.teacher, (p) => (p >= 0.5 ? 1 : 0)),
  };
}

/**
 * The decision rule for one model from its validation scores (calibrated spam probabilities): the spam cutoff is
 * the cost-aware one, costRatio / (1 + costRatio), raised until at most `hamFprTarget` of the ham of every set
 * (the validation messages and each header-less view) is answered spam; ham is sure from `hamCutoff`. Rounded up
 * to 6 decimals, so the rounded cutoff still meets the target.
 */
export function chooseCutoffs(
  sets: ReadonlyArray<{ spam: ArrayLike<number>; labels: ArrayLike<number> }>,
  recipe: DecisionRecipe,
): { spam: number; ham: number } {
  let cutoff = recipe.costRatio / (1 + recipe.costRatio);
  for (const s of sets) {
    const ham: number[] = [];
    for (let i = 0; i < s.labels.length; i++) if (s.labels[i] === 0) ham.push(s.spam[i] as number);
    ham.sort((a, b) => b - a);
    // At most `allowed` ham at or above the cutoff: it must sit above the (allowed+1)-th highest ham score.
    const allowed = Math.floor(recipe.hamFprTarget * ham.length);
    const above = ham[allowed];
    if (above !== undefined && above >= cutoff) cutoff = Math.floor(above * 1e6 + 1) / 1e6;
  }
  return { spam: Math.min(1, Number(cutoff.toFixed(6))), ham: recipe.hamCutoff };
}

export async function evaluateRelease(
  dir: string,
  manifest: Manifest,
  splits: { validation: readonly Message[]; test: readonly Message[] },
  tolerance = 0.002,
  decisionRecipe?: DecisionRecipe,
): Promise<ReleaseEval> {
  const seen = await loadSeenIds(dir, manifest);
  const val = await splitScores(dir, manifest, splits.validation, seen);
  const valCurve = cascadeCurve(val.student, val.teacher, val.labels);
  const teacherValAcc = binaryMetrics(val.teacher, val.labels).accuracy;
  const threshold = chooseThreshold(valCurve, teacherValAcc, tolerance).threshold;
  // The validation split's header-less views: the OOD rule is for them, the decision rule must hold on them.
  const valViews: Scores[] = [];
  if (seen !== undefined || decisionRecipe !== undefined) {
    for (const view of VIEWS.filter((v) => v !== 'full')) {
      const texts = splits.validation.map((m) => ({ text: messageView(m.text, view), label: m.label }));
      valViews.push(await splitScores(dir, manifest, texts, seen));
    }
  }
  // The OOD rule, on validation too: the full split bounds the edge share, its header-less views are what it is for.
  const rule = seen === undefined ? undefined : calibrateOod(val, valViews, threshold).rule;
  const decision =
    decisionRecipe === undefined ? undefined : chooseDecision(manifest, [val, ...valViews], decisionRecipe);
  const judge = judgeOf({ ...manifest, ...(decision === undefined ? {} : { decision }) });
  const noRule: OodRule = { min_features: 0, min_coverage: 0 };
  const baseline = driftBaseline(manifest.labels, val, valViews, threshold, rule ?? noRule, judge);
  // The test split is scored only after the threshold and the rules are fixed.
  const test = await splitScores(dir, manifest, splits.test, seen);
  const testCurve = cascadeCurve(test.student, test.teacher, test.labels);
  const views = {} as Record<ViewName, ViewEval>;
  for (const view of VIEWS) {
    const texts = splits.test.map((m) => ({ text: messageView(m.text, view), label: m.label }));
    views[view] = viewEval(await splitScores(dir, manifest, texts, seen), threshold, rule ?? noRule, judge);
  }
  const everydayScores = await splitScores(dir, manifest, EVERYDAY_TEXTS, seen);
  return {
    threshold,
    tolerance,
    ...(decision === undefined ? {} : { decision }),
    ...(rule === undefined ? {} : { ood: rule }),
    validation: splitEval(splits.validation, val, threshold, valCurve),
    test: splitEval(splits.test, test, threshold, testCurve),
    views,
    everyday: viewEval(everydayScores, threshold, rule ?? noRule, judge),
    baseline,
  };
}

function chooseDecision(
  manifest: Manifest,
  sets: readonly Scores[],
  recipe: DecisionRecipe,
): NonNullable<Manifest['decision']> {
  const spamLabel = manifest.labels.find((l) => l !== recipe.defaultLabel) as string;
  const cutoffsOf = (side: 'teacher' | 'student') => {
    const c = chooseCutoffs(
      sets.map((s) => ({ spam: s[side], labels: s.labels })),
      recipe,
    );
    return { [spamLabel]: c.spam, [recipe.defaultLabel]: c.ham };
  };
  return {
    default_label: recipe.defaultLabel,
    cutoffs: {
      [manifest.serving.origin]: cutoffsOf('teacher'),
      ...(manifest.serving.edge === undefined ? {} : { [manifest.serving.edge]: cutoffsOf('student') }),
    },
    basis:
      `cost ratio ${recipe.costRatio} (a ham answered ${spamLabel} costs ${recipe.costRatio} missed ${spamLabel}): ` +
      `${spamLabel} from ${(recipe.costRatio / (1 + recipe.costRatio)).toFixed(4)}, raised until ham FPR <= ` +
      `${recipe.hamFprTarget} on the validation messages and each header-less view; ${recipe.defaultLabel} sure from ` +
      `${recipe.hamCutoff}; calibrated probabilities`,
  };
}

/** How a release labels one item per model: the shared decision rule over [ham, spam] probabilities. */
interface Judge {
  /** 1 = spam answered, 0 = ham answered; `unsure` when the rule answered its default. */
  teacher(pSpam: number): { label: 0 | 1; unsure: boolean };
  student(pSpam: number): { label: 0 | 1; unsure: boolean };
  /** Temperatures folded into the artifacts (1 when none), to report the uncalibrated ECE. */
  temperature: { teacher: number | undefined; student: number | undefined };
}

function judgeOf(manifest: Manifest): Judge {
  const spam = manifest.labels.indexOf('spam') >= 0 ? manifest.labels.indexOf('spam') : 1;
  const make = (rule: LabelRule | undefined) => (pSpam: number) => {
    const row = manifest.labels.map((_, j) => (j === spam ? pSpam : 1 - pSpam));
    const d = decideRow(row, manifest.labels, rule);
    return { label: (d.label === manifest.labels[spam] ? 1 : 0) as 0 | 1, unsure: d.unsure };
  };
  const edge = manifest.serving.edge ?? 'student';
  return {
    teacher: make(labelRule(manifest, manifest.serving.origin)),
    student: make(labelRule(manifest, edge)),
    temperature: {
      teacher: manifest.calibration?.[manifest.serving.origin]?.temperature,
      student: manifest.calibration?.[edge]?.temperature,
    },
  };
}

/** One tier's baseline from spam probabilities and coverages (labels as the tier's decision rule answers them). */
function baselineSide(
  labels: readonly string[],
  spam: readonly number[],
  coverage: readonly Coverage[],
  judge: Judge['teacher'],
): BaselineSide {
  const spamLabel = labels.includes('spam') ? 'spam' : (labels[1] as string);
  const hamLabel = labels.find((l) => l !== spamLabel) as string;
  const spamShare = spam.filter((p) => judge(p).label === 1).length / Math.max(1, spam.length);
  const round = (xs: number[]) => xs.map((x) => Number(x.toFixed(6)));
  return {
    n: spam.length,
    score: round(shares(histogram(spam.map((p) => Math.max(p, 1 - p))))),
    coverage: round(shares(histogram(coverage.map((c) => c.coverage)))),
    labels: { [hamLabel]: Number((1 - spamShare).toFixed(6)), [spamLabel]: Number(spamShare.toFixed(6)) },
  };
}

/**
 * The drift baselines: the edge sees every message (the student on the validation split); the origin sees what the
 * edge escalates (the teacher on the validation messages and header-less views below the threshold or the rule).
 */
function driftBaseline(
  labels: readonly string[],
  val: Scores,
  views: readonly Scores[],
  threshold: number,
  rule: OodRule,
  judge: Judge,
): NonNullable<Manifest['baseline']> {
  const escalatedTeacher: number[] = [];
  const escalatedCoverage: Coverage[] = [];
  for (const s of [val, ...views]) {
    for (let i = 0; i < s.labels.length; i++) {
      const p = s.student[i] as number;
      const c = s.coverage[i] as Coverage;
      if (Math.max(p, 1 - p) >= threshold && !judge.student(p).unsure && !isOutOfDistribution(c, rule))
        continue;
      escalatedTeacher.push(s.teacher[i] as number);
      escalatedCoverage.push(c);
    }
  }
  return {
    source:
      'validation split (edge: every message; origin: messages and header-less views the edge escalates)',
    edge: baselineSide(labels, Array.from(val.student), val.coverage, judge.student),
    origin: baselineSide(labels, escalatedTeacher, escalatedCoverage, judge.teacher),
  };
}

/**
 * The labels a release answers for `texts` (its decision rule applied), per item: the teacher's (the origin's
 * answer) and the cascade's (the edge's answer where it is confident and in distribution, else the teacher's),
 * for paired comparisons between releases.
 */
export async function releaseAnswers(
  dir: string,
  manifest: Manifest,
  texts: ReadonlyArray<{ text: string; label: 0 | 1 }>,
): Promise<{ teacher: number[]; cascade: number[]; eval: ViewEval }> {
  const seen = await loadSeenIds(dir, manifest);
  const s = await splitScores(dir, manifest, texts, seen);
  const judge = judgeOf(manifest);
  const rule = manifest.ood ?? { min_features: 0, min_coverage: 0 };
  const threshold = manifest.threshold ?? 0.5;
  const teacher: number[] = [];
  const cascade: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    const st = s.student[i] as number;
    const t = judge.teacher(s.teacher[i] as number);
    const sd = judge.student(st);
    const atEdge =
      Math.max(st, 1 - st) >= threshold &&
      !sd.unsure &&
      !isOutOfDistribution(s.coverage[i] as Coverage, rule);
    teacher.push(t.label);
    cascade.push(atEdge ? sd.label : t.label);
  }
  return { teacher, cascade, eval: viewEval(s, threshold, rule, judge) };
}

/** Labelled texts (a fixture) scored by the release at its threshold and OOD rule. */
export async function evaluateTexts(
  dir: string,
  manifest: Manifest,
  texts: ReadonlyArray<{ text: string; label: 0 | 1 }>,
  threshold: number,
): Promise<ViewEval> {
  const seen = await loadSeenIds(dir, manifest);
  const rule = manifest.ood ?? { min_features: 0, min_coverage: 0 };
  return viewEval(await splitScores(dir, manifest, texts, seen), threshold, rule, judgeOf(manifest));
}

function viewMetrics(
  answered: ArrayLike<number>,
  unsure: ArrayLike<number>,
  labels: ArrayLike<number>,
  spam: ArrayLike<number>,
  temperature: number | undefined,
): ViewMetrics {
  let errors = 0;
  let ham = 0;
  let hamFp = 0;
  let spamN = 0;
  let spamTp = 0;
  let unsureN = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number;
    const p = answered[i] as number;
    if (p !== y) errors++;
    if (unsure[i] === 1) unsureN++;
    if (y === 0) {
      ham++;
      if (p === 1) hamFp++;
    } else {
      spamN++;
      if (p === 1) spamTp++;
    }
  }
  const n = Math.max(1, labels.length);
  return {
    accuracy: 1 - errors / n,
    ham_fpr: hamFp / Math.max(1, ham),
    spam_recall: spamTp / Math.max(1, spamN),
    errors,
    unsure_share: unsureN / n,
    ece: expectedCalibrationError(spam, labels),
    ...(temperature === undefined
      ? {}
      : {
          ece_uncalibrated: expectedCalibrationError(
            Array.from(spam, (p) => uncalibrate(p, temperature)),
            labels,
          ),
        }),
  };
}

function viewEval(s: Scores, threshold: number, rule: OodRule, judge: Judge): ViewEval {
  const n = s.labels.length;
  const teacher = new Uint8Array(n);
  const student = new Uint8Array(n);
  const cascade = new Uint8Array(n);
  const teacherUnsure = new Uint8Array(n);
  const studentUnsure = new Uint8Array(n);
  const cascadeUnsure = new Uint8Array(n);
  const cascadeSpam = new Float64Array(n);
  let edge = 0;
  let confidentSpamOnHam = 0;
  let oodAnswers = 0;
  for (let i = 0; i < n; i++) {
    const st = s.student[i] as number;
    const tp = s.teacher[i] as number;
    const t = judge.teacher(tp);
    const sd = judge.student(st);
    teacher[i] = t.label;
    teacherUnsure[i] = t.unsure ? 1 : 0;
    student[i] = sd.label;
    studentUnsure[i] = sd.unsure ? 1 : 0;
    const ood = isOutOfDistribution(s.coverage[i] as Coverage, rule);
    // As the edge decides (cascade/policy.ts decide): confident, in distribution and not unsure.
    const atEdge = Math.max(st, 1 - st) >= threshold && !ood && !sd.unsure;
    if (atEdge) edge++;
    // The teacher's answer to an out-of-distribution input says so (`ood: true`): a client can send it to a human.
    if (!atEdge && ood) oodAnswers++;
    const answer = atEdge ? sd : t;
    cascade[i] = answer.label;
    cascadeUnsure[i] = answer.unsure ? 1 : 0;
    cascadeSpam[i] = atEdge ? st : tp;
    if (s.labels[i] === 0 && answer.label === 1 && !answer.unsure && !(ood && !atEdge)) confidentSpamOnHam++;
  }
  return {
    n,
    teacher: viewMetrics(teacher, teacherUnsure, s.labels, s.teacher, judge.temperature.teacher),
    student: viewMetrics(student, studentUnsure, s.labels, s.student, judge.temperature.student),
    cascade: {
      ...viewMetrics(cascade, cascadeUnsure, s.labels, cascadeSpam, undefined),
      edge_share: edge / Math.max(1, n),
    },
    ood_answers: oodAnswers,
    confident_spam_on_ham: confidentSpamOnHam,
    escalation: escalationStats(s, threshold, rule),
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
