/**
 * Calibration and reporting of the release's out-of-distribution rule (shared/ood) on labelled scores: which items
 * the edge escalates (below the threshold, or out of distribution) and how many of the student's errors that
 * catches. The rule is chosen on validation only, like the threshold.
 */
import { type Coverage, isOutOfDistribution, type OodRule } from '../../../shared/ood/index.ts';

/** What calibration and reporting need of scored items. */
export interface OodScores {
  labels: ArrayLike<number>;
  /** The student's spam probabilities. */
  student: ArrayLike<number>;
  coverage: readonly Coverage[];
}

/** Escalation by the threshold alone and by the threshold or the rule, on one set of items. */
export interface EscalationStats {
  n: number;
  student_errors: number;
  /** Share of the student's errors escalated by the threshold alone, and by the threshold or the rule. */
  errors_caught_before: number;
  errors_caught_after: number;
  /** Share answered at the edge before (threshold) and after (threshold and rule). */
  edge_share_before: number;
  edge_share_after: number;
  /** Share the rule calls out of distribution. */
  ood_share: number;
}

const confident = (p: number, threshold: number) => Math.max(p, 1 - p) >= threshold;

export function escalationStats(s: OodScores, threshold: number, rule: OodRule): EscalationStats {
  const n = s.labels.length;
  let errors = 0;
  let caughtBefore = 0;
  let caughtAfter = 0;
  let edgeBefore = 0;
  let edgeAfter = 0;
  let ood = 0;
  for (let i = 0; i < n; i++) {
    const p = s.student[i] as number;
    const wrong = (p >= 0.5 ? 1 : 0) !== s.labels[i];
    const sure = confident(p, threshold);
    const out = isOutOfDistribution(s.coverage[i] as Coverage, rule);
    if (out) ood++;
    if (sure) edgeBefore++;
    if (sure && !out) edgeAfter++;
    if (wrong) {
      errors++;
      if (!sure) caughtBefore++;
      if (!sure || out) caughtAfter++;
    }
  }
  const share = (k: number, of: number) => (of === 0 ? 0 : k / of);
  return {
    n,
    student_errors: errors,
    errors_caught_before: share(caughtBefore, errors),
    errors_caught_after: share(caughtAfter, errors),
    edge_share_before: share(edgeBefore, n),
    edge_share_after: share(edgeAfter, n),
    ood_share: share(ood, n),
  };
}

export interface CalibrationOptions {
  /** Smallest edge share the rule may leave on in-distribution traffic (the full validation split). @default 0.9 */
  minEdgeShare?: number;
  /** Share of the student's errors on the header-less views to escalate (threshold and rule together). @default 0.6 */
  targetCaught?: number;
}

/** Candidate bounds: feature counts and coverages. */
const MIN_FEATURES = [0, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48];
const MIN_COVERAGE = [0, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98];

/**
 * Chooses the rule on validation. Candidates must keep the edge answering at least `minEdgeShare` of the full
 * messages. Among those that escalate at least `targetCaught` of the student's errors on the header-less views
 * (pooled; the threshold's escalations count), the one that escalates the fewest items; when none reaches the
 * target, the one that catches the most errors (then the fewest escalations).
 */
export function calibrateOod(
  full: OodScores,
  views: readonly OodScores[],
  threshold: number,
  options: CalibrationOptions = {},
): { rule: OodRule; caught: number; escalated: number } {
  const minEdge = options.minEdgeShare ?? 0.9;
  const target = options.targetCaught ?? 0.6;
  let best: { rule: OodRule; caught: number; escalated: number; reaches: boolean } | undefined;
  for (const min_features of MIN_FEATURES) {
    for (const min_coverage of MIN_COVERAGE) {
      const rule = { min_features, min_coverage };
      if (escalationStats(full, threshold, rule).edge_share_after < minEdge) continue;
      let errors = 0;
      let caught = 0;
      let escalated = 0;
      for (const v of views) {
        for (let i = 0; i < v.labels.length; i++) {
          const p = v.student[i] as number;
          const out = !confident(p, threshold) || isOutOfDistribution(v.coverage[i] as Coverage, rule);
          if (out) escalated++;
          if ((p >= 0.5 ? 1 : 0) !== v.labels[i]) {
            errors++;
            if (out) caught++;
          }
        }
      }
      const share = errors === 0 ? 1 : caught / errors;
      const c = { rule, caught: share, escalated, reaches: share >= target };
      const better =
        best === undefined ||
        (c.reaches && !best.reaches) ||
        (c.reaches && best.reaches && c.escalated < best.escalated) ||
        (!c.reaches &&
          !best.reaches &&
          (c.caught > best.caught || (c.caught === best.caught && c.escalated < best.escalated)));
      if (better) best = c;
    }
  }
  if (best === undefined) return { rule: { min_features: 0, min_coverage: 0 }, caught: 0, escalated: 0 };
  return { rule: best.rule, caught: best.caught, escalated: best.escalated };
}
