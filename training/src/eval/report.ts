/**
 * Writes an evaluation into its release: eval.json, cascade.svg, and the manifest's threshold, expected edge share
 * and artifact entries for both files. Deterministic for a given release and corpus (no timings in the files).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../../shared/manifest/index.ts';
import { writeArtifacts, writeManifest } from '../release/registry.ts';
import { type ReleaseEval, roundDeep } from './evaluate-release.ts';
import { cascadeSvg } from './svg.ts';

/** Sections of eval.json that only the training pipeline can compute; `npm run eval` carries them over. */
export interface PipelineSections {
  models?: unknown;
  training?: unknown;
  verification?: unknown;
}

export function evalDocument(
  manifest: Manifest,
  ev: ReleaseEval,
  sections: PipelineSections,
): Record<string, unknown> {
  const curve = (c: ReleaseEval['test']['curve']) => ({
    edge_share: c.map((p) => p.edge_share),
    cascade_acc: c.map((p) => p.cascade_acc),
  });
  const split = (s: ReleaseEval['test']) => ({
    n: s.n,
    teacher: s.teacher,
    student: s.student,
    cascade: s.cascade,
    errors_by_group: s.errors_by_group,
  });
  return roundDeep({
    release: { name: manifest.name, version: manifest.version },
    labels: manifest.labels,
    threshold: {
      value: ev.threshold,
      chosen_on: 'validation',
      rule: `most edge answers with cascade accuracy >= teacher accuracy - ${ev.tolerance} (validation split)`,
    },
    ...(ev.decision === undefined
      ? {}
      : { decision: { ...ev.decision, chosen_on: 'validation (messages and header-less views)' } }),
    ...(manifest.calibration === undefined ? {} : { calibration: manifest.calibration }),
    test: split(ev.test),
    validation: split(ev.validation),
    ...(ev.ood === undefined
      ? {}
      : {
          ood: {
            rule: ev.ood,
            chosen_on: 'validation (full split bounds the edge share, header-less views)',
          },
        }),
    views: ev.views,
    everyday: ev.everyday,
    cascade_curve: {
      thresholds: ev.test.curve.map((p) => p.threshold),
      test: curve(ev.test.curve),
      validation: curve(ev.validation.curve),
    },
    ...sections,
  });
}

export async function readPipelineSections(dir: string): Promise<PipelineSections> {
  try {
    const prev = JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8')) as Record<string, unknown>;
    return { models: prev.models, training: prev.training, verification: prev.verification };
  } catch {
    return {};
  }
}

/** Writes eval.json and cascade.svg and updates the manifest; returns the manifest written. */
export async function writeEvaluation(
  dir: string,
  manifest: Manifest,
  ev: ReleaseEval,
  sections: PipelineSections,
): Promise<Manifest> {
  const doc = evalDocument(manifest, ev, sections);
  const svg = cascadeSvg({
    title: `spam ${manifest.version}: edge (student) + origin (teacher) cascade`,
    test: ev.test.curve,
    validation: ev.validation.curve,
    threshold: ev.threshold,
    teacherAcc: { test: ev.test.teacher.accuracy, validation: ev.validation.teacher.accuracy },
    studentAcc: { test: ev.test.student.accuracy, validation: ev.validation.student.accuracy },
  });
  const written = await writeArtifacts(dir, [
    { role: 'eval', file: 'eval.json', data: `${JSON.stringify(doc, null, 2)}\n`, format: 'json' },
    { role: 'cascade_curve', file: 'cascade.svg', data: svg, format: 'svg' },
  ]);
  return writeManifest(dir, {
    ...manifest,
    threshold: ev.threshold,
    ...(manifest.ood !== undefined && ev.ood !== undefined ? { ood: { ...manifest.ood, ...ev.ood } } : {}),
    baseline: ev.baseline,
    ...(ev.decision === undefined ? {} : { decision: ev.decision }),
    expected_edge_share: Number(ev.validation.cascade.edge_share.toFixed(6)),
    artifacts: { ...manifest.artifacts, ...written },
  });
}

/**
 * The one-line summary both `npm run train` and `npm run eval` print last. Accuracy, FPR and recall are of the labels
 * answered (the release's decision rule applied; the argmax for releases without one); `*_argmax_acc` is the argmax's
 * accuracy (what the peer comparison uses). ECE is of the served (calibrated) probabilities, `*_ece_uncalibrated`
 * the same before temperature scaling.
 */
export function summaryLine(
  manifest: Manifest,
  ev: ReleaseEval,
  extra: Record<string, unknown> = {},
): string {
  const r = (v: number) => Number(v.toFixed(6));
  const ru = (v: number | undefined) => (v === undefined ? undefined : r(v));
  const full = ev.views.full;
  const everyday = ev.everyday;
  const teacherAcc = full.teacher.accuracy;
  const cascadeAcc = full.cascade.accuracy;
  return JSON.stringify({
    model: manifest.name,
    version: manifest.version,
    n_test: ev.test.n,
    teacher_acc: r(teacherAcc),
    student_acc: r(full.student.accuracy),
    threshold: ev.threshold,
    edge_share: r(full.cascade.edge_share),
    cascade_acc: r(cascadeAcc),
    teacher_argmax_acc: r(ev.test.teacher.accuracy),
    student_argmax_acc: r(ev.test.student.accuracy),
    cascade_argmax_acc: r(ev.test.cascade.cascade_acc),
    student_bytes: manifest.artifacts.student?.bytes,
    teacher_bytes: manifest.artifacts.teacher?.bytes,
    teacher_f1: r(ev.test.teacher.f1),
    student_f1: r(ev.test.student.f1),
    teacher_auc: r(ev.test.teacher.roc_auc),
    student_auc: r(ev.test.student.roc_auc),
    teacher_ece: r(full.teacher.ece),
    student_ece: r(full.student.ece),
    teacher_ece_uncalibrated: ru(full.teacher.ece_uncalibrated),
    student_ece_uncalibrated: ru(full.student.ece_uncalibrated),
    teacher_ham_fpr: r(full.teacher.ham_fpr),
    cascade_ham_fpr: r(full.cascade.ham_fpr),
    teacher_spam_recall: r(full.teacher.spam_recall),
    cascade_spam_recall: r(full.cascade.spam_recall),
    teacher_unsure_share: r(full.teacher.unsure_share),
    student_unsure_share: r(full.student.unsure_share),
    cascade_unsure_share: r(full.cascade.unsure_share),
    ...(ev.decision === undefined ? {} : { decision: ev.decision.cutoffs }),
    ...(manifest.calibration === undefined
      ? {}
      : {
          temperature: Object.fromEntries(
            Object.entries(manifest.calibration).map(([role, c]) => [role, c.temperature]),
          ),
        }),
    ...(ev.ood === undefined ? {} : { ood_rule: ev.ood }),
    views: Object.fromEntries(
      Object.entries(ev.views)
        .filter(([v]) => v !== 'full')
        .map(([v, e]) => [
          v,
          {
            teacher_acc: r(e.teacher.accuracy),
            teacher_ham_fpr: r(e.teacher.ham_fpr),
            cascade_acc: r(e.cascade.accuracy),
            cascade_ham_fpr: r(e.cascade.ham_fpr),
            spam_recall: r(e.cascade.spam_recall),
            edge_share: r(e.cascade.edge_share),
            teacher_unsure_share: r(e.teacher.unsure_share),
            cascade_unsure_share: r(e.cascade.unsure_share),
            teacher_ece: r(e.teacher.ece),
            teacher_ece_uncalibrated: ru(e.teacher.ece_uncalibrated),
            student_ece: r(e.student.ece),
            student_ece_uncalibrated: ru(e.student.ece_uncalibrated),
            student_errors: e.escalation.student_errors,
            errors_caught_before: r(e.escalation.errors_caught_before),
            errors_caught_after: r(e.escalation.errors_caught_after),
          },
        ]),
    ),
    everyday: {
      n: everyday.n,
      teacher_acc: r(everyday.teacher.accuracy),
      teacher_ham_fpr: r(everyday.teacher.ham_fpr),
      cascade_acc: r(everyday.cascade.accuracy),
      cascade_ham_fpr: r(everyday.cascade.ham_fpr),
      spam_recall: r(everyday.cascade.spam_recall),
      edge_share: r(everyday.cascade.edge_share),
      teacher_unsure_share: r(everyday.teacher.unsure_share),
      student_unsure_share: r(everyday.student.unsure_share),
      cascade_unsure_share: r(everyday.cascade.unsure_share),
      teacher_ece: r(everyday.teacher.ece),
      teacher_ece_uncalibrated: ru(everyday.teacher.ece_uncalibrated),
      student_ece: r(everyday.student.ece),
      student_ece_uncalibrated: ru(everyday.student.ece_uncalibrated),
      confident_spam_on_ham: everyday.confident_spam_on_ham,
      ood_answers: everyday.ood_answers,
      errors_caught_before: r(everyday.escalation.errors_caught_before),
      errors_caught_after: r(everyday.escalation.errors_caught_after),
    },
    val_edge_share: r(ev.validation.cascade.edge_share),
    val_cascade_acc: r(ev.validation.cascade.cascade_acc),
    goals_met: full.cascade.edge_share >= 0.85 && cascadeAcc >= teacherAcc - 0.002,
    // The answers-a-spam-filter-can-trust goals, one by one.
    goals: {
      teacher_acc_993: teacherAcc >= 0.993,
      teacher_ham_fpr_005: full.teacher.ham_fpr <= 0.005,
      cascade_within_02pt_at_90_edge: full.cascade.edge_share >= 0.9 && cascadeAcc >= teacherAcc - 0.002,
      everyday_cascade_ham_fpr_02: everyday.cascade.ham_fpr <= 0.02,
      everyday_no_confident_spam_on_ham: everyday.confident_spam_on_ham === 0,
    },
    ...extra,
  });
}
