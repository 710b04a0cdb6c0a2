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
    expected_edge_share: Number(ev.validation.cascade.edge_share.toFixed(6)),
    artifacts: { ...manifest.artifacts, ...written },
  });
}

/** The one-line summary both `npm run train` and `npm run eval` print last. */
export function summaryLine(
  manifest: Manifest,
  ev: ReleaseEval,
  extra: Record<string, unknown> = {},
): string {
  const r = (v: number) => Number(v.toFixed(6));
  return JSON.stringify({
    model: manifest.name,
    version: manifest.version,
    n_test: ev.test.n,
    teacher_acc: r(ev.test.teacher.accuracy),
    student_acc: r(ev.test.student.accuracy),
    threshold: ev.threshold,
    edge_share: r(ev.test.cascade.edge_share),
    cascade_acc: r(ev.test.cascade.cascade_acc),
    student_bytes: manifest.artifacts.student?.bytes,
    teacher_bytes: manifest.artifacts.teacher?.bytes,
    teacher_f1: r(ev.test.teacher.f1),
    student_f1: r(ev.test.student.f1),
    teacher_auc: r(ev.test.teacher.roc_auc),
    student_auc: r(ev.test.student.roc_auc),
    teacher_ece: r(ev.test.teacher.ece),
    student_ece: r(ev.test.student.ece),
    teacher_ham_fpr: r(ev.views.full.teacher.ham_fpr),
    cascade_ham_fpr: r(ev.views.full.cascade.ham_fpr),
    ...(ev.ood === undefined ? {} : { ood_rule: ev.ood }),
    views: Object.fromEntries(
      Object.entries(ev.views)
        .filter(([v]) => v !== 'full')
        .map(([v, e]) => [
          v,
          {
            teacher_acc: r(e.teacher.accuracy),
            cascade_acc: r(e.cascade.accuracy),
            cascade_ham_fpr: r(e.cascade.ham_fpr),
            edge_share: r(e.cascade.edge_share),
            student_errors: e.escalation.student_errors,
            errors_caught_before: r(e.escalation.errors_caught_before),
            errors_caught_after: r(e.escalation.errors_caught_after),
          },
        ]),
    ),
    everyday: {
      n: ev.everyday.n,
      cascade_acc: r(ev.everyday.cascade.accuracy),
      edge_share: r(ev.everyday.cascade.edge_share),
      confident_spam_on_ham: ev.everyday.confident_spam_on_ham,
      ood_answers: ev.everyday.ood_answers,
      errors_caught_before: r(ev.everyday.escalation.errors_caught_before),
      errors_caught_after: r(ev.everyday.escalation.errors_caught_after),
    },
    val_edge_share: r(ev.validation.cascade.edge_share),
    val_cascade_acc: r(ev.validation.cascade.cascade_acc),
    goals_met:
      ev.test.cascade.edge_share >= 0.85 && ev.test.cascade.cascade_acc >= ev.test.teacher.accuracy - 0.002,
    ...extra,
  });
}
