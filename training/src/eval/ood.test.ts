import { describe, expect, it } from 'vitest';
import { calibrateOod, escalationStats, type OodScores } from './ood.ts';

/** Items: [label, student spam probability, features, coverage]. */
const scores = (items: Array<[0 | 1, number, number, number]>): OodScores => ({
  labels: items.map((x) => x[0]),
  student: items.map((x) => x[1]),
  coverage: items.map((x) => ({ features: x[2], coverage: x[3] })),
});

describe('OOD escalation stats and calibration', () => {
  const view = scores([
    [0, 0.95, 10, 0.5], // confident error, low coverage: the rule can catch it
    [1, 0.6, 50, 1], // unsure: the threshold escalates it already
    [0, 0.05, 50, 0.99], // right
    [1, 0.97, 50, 0.6], // right, low coverage: a needless escalation
  ]);

  it('counts errors caught by the threshold alone and with the rule, and the edge shares', () => {
    const s = escalationStats(view, 0.9, { min_features: 0, min_coverage: 0.7 });
    expect(s).toEqual({
      n: 4,
      student_errors: 1,
      errors_caught_before: 0,
      errors_caught_after: 1,
      edge_share_before: 0.75,
      edge_share_after: 0.25,
      ood_share: 0.5,
    });
  });

  it('picks the rule that reaches the target with the fewest escalations, within the edge-share bound', () => {
    const full = scores([
      [0, 0.01, 200, 0.98],
      [1, 0.99, 200, 0.97],
      [0, 0.02, 200, 0.9],
      [1, 0.99, 200, 0.99],
    ]);
    // The error has 10 features and coverage 0.5: a feature bound catches it without escalating the right answer
    // of coverage 0.6 that a coverage bound would also take.
    const r = calibrateOod(full, [view], 0.9, { minEdgeShare: 0.75, targetCaught: 1 });
    expect(r.caught).toBe(1);
    expect(r.escalated).toBe(2);
    expect(escalationStats(view, 0.9, r.rule).edge_share_after).toBe(0.5);
    expect(escalationStats(full, 0.9, r.rule).edge_share_after).toBeGreaterThanOrEqual(0.75);
    // When nothing reaches the target within the bound, the rule that catches the most (then escalates least).
    const none = calibrateOod(full, [scores([[0, 0.99, 300, 1]])], 0.9, { minEdgeShare: 1, targetCaught: 1 });
    expect(none.caught).toBe(0);
    expect(none.rule).toEqual({ min_features: 0, min_coverage: 0 });
  });
});
