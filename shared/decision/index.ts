/**
 * The release's decision rule (manifest `decision`): which label a model answers, kept apart from its scores.
 *
 * The scores are the model's (calibrated) class probabilities and are never changed. The label is the most
 * probable class only where that probability clears the class's cutoff for the model that answered (cutoffs are
 * per served artifact: the teacher's and the student's scores differ). Below it the answer is the release's safe
 * default label (for spam: ham), marked `unsure: true`; `score` is then the default label's probability, so
 * `score === scores[label]` always holds. A label with no cutoff is answered whenever it is the most probable.
 * Releases without a rule (multi-class digits, imported models) answer the argmax and never say `unsure`.
 *
 * One function for both tiers: the edge applies it to the student's probabilities and the origin to the teacher's,
 * so the same probabilities under the same rule give the same answer wherever they were computed.
 *
 * Runs in workerd and Node.
 */
import type { Manifest } from '../manifest/index.ts';

/** The rule as one model (artifact role) applies it. */
export interface LabelRule {
  /** Answered when the most probable label is under its cutoff. */
  defaultLabel: string;
  /** Per label: the smallest probability at which it is answered as sure. */
  cutoffs: Readonly<Record<string, number>>;
}

export interface Decided {
  label: string;
  /** Probability of `label`. */
  score: number;
  /** True when the most probable label was under its cutoff and the default label was answered instead. */
  unsure: boolean;
}

/** The rule the artifact `role` (the manifest's serving.edge or serving.origin) answers by, if the release has one. */
export function labelRule(
  manifest: Pick<Manifest, 'decision'>,
  role: string | undefined,
): LabelRule | undefined {
  const decision = manifest.decision;
  if (decision === undefined || role === undefined) return undefined;
  return { defaultLabel: decision.default_label, cutoffs: decision.cutoffs[role] ?? {} };
}

/**
 * The label for one row of class probabilities (`row[j]` is the probability of `labels[j]`): the argmax, or under
 * a rule the default label when the argmax is under its cutoff. Ties go to the first label (column order).
 */
export function decideRow(
  row: ArrayLike<number>,
  labels: readonly string[],
  rule?: LabelRule,
  offset = 0,
): Decided {
  let best = 0;
  for (let j = 1; j < labels.length; j++) {
    if ((row[offset + j] as number) > (row[offset + best] as number)) best = j;
  }
  const top = labels[best] as string;
  const p = row[offset + best] as number;
  if (rule === undefined) return { label: top, score: p, unsure: false };
  const cutoff = rule.cutoffs[top];
  // NaN probabilities are never sure.
  if (cutoff === undefined ? !Number.isNaN(p) : p >= cutoff) return { label: top, score: p, unsure: false };
  const d = labels.indexOf(rule.defaultLabel);
  return { label: rule.defaultLabel, score: d < 0 ? 0 : (row[offset + d] as number), unsure: true };
}

/**
 * How sure the model is of an answer: its top class probability (whatever label the rule answered). Escalation,
 * review and the drift histograms read this, not `score`, so an unsure answer still counts as low confidence.
 */
export function confidenceOf(prediction: {
  score: number;
  scores?: Readonly<Record<string, number>> | undefined;
}): number {
  let top = Number.NEGATIVE_INFINITY;
  for (const v of Object.values(prediction.scores ?? {})) if (v > top) top = v;
  return top === Number.NEGATIVE_INFINITY ? prediction.score : top;
}
