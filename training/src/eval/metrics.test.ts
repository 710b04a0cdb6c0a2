import { describe, expect, it } from 'vitest';
import {
  binaryMetrics,
  cascadeCurve,
  chooseThreshold,
  expectedCalibrationError,
  rocAuc,
  thresholdGrid,
} from './metrics.ts';
import { cascadeSvg } from './svg.ts';

describe('binary metrics', () => {
  it('counts the confusion matrix and derives precision, recall, F1', () => {
    const m = binaryMetrics([0.9, 0.8, 0.3, 0.1, 0.6, 0.4], [1, 1, 1, 0, 0, 0]);
    expect(m.confusion).toEqual({ tp: 2, fp: 1, tn: 2, fn: 1 });
    expect(m.accuracy).toBeCloseTo(4 / 6);
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.f1).toBeCloseTo(2 / 3);
  });

  it('ROC AUC: perfect, reversed, ties and the Mann-Whitney count', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    // pairs (pos, neg): (0.6,0.4) ok, (0.6,0.7) no, (0.9,0.4) ok, (0.9,0.7) ok -> 3/4
    expect(rocAuc([0.6, 0.9, 0.4, 0.7], [1, 1, 0, 0])).toBe(0.75);
    expect(rocAuc([0.6], [1])).toBeNaN();
  });

  it('ECE: zero when confidence matches accuracy, the gap otherwise', () => {
    // 4 predictions at confidence 0.75 (bin 7), 3 correct -> calibrated
    expect(expectedCalibrationError([0.75, 0.75, 0.75, 0.75], [1, 1, 1, 0])).toBeCloseTo(0);
    // confidence 0.95, all wrong -> 0.95
    expect(expectedCalibrationError([0.95, 0.05], [0, 1])).toBeCloseTo(0.95);
  });

  it('rejects mismatched lengths', () => {
    expect(() => binaryMetrics([0.5], [1, 0])).toThrow(/1 probabilities for 2 labels/);
  });
});

describe('cascade', () => {
  // student confident and right on 0-3, unsure and wrong on 4; teacher right everywhere except 0
  const student = [0.99, 0.02, 0.97, 0.01, 0.55];
  const teacher = [0.2, 0.1, 0.9, 0.1, 0.1];
  const labels = [1, 0, 1, 0, 0];

  it('edge share and combined accuracy per threshold', () => {
    const [low, mid, all] = cascadeCurve(student, teacher, labels, [0.5, 0.9, 1.01]);
    expect(low).toEqual({ threshold: 0.5, edge_share: 1, cascade_acc: 0.8 });
    expect(mid).toEqual({ threshold: 0.9, edge_share: 0.8, cascade_acc: 1 });
    expect(all).toEqual({ threshold: 1.01, edge_share: 0, cascade_acc: 0.8 });
  });

  it('chooses the most edge answers within the tolerance of the teacher, else escalates everything', () => {
    const curve = cascadeCurve(student, teacher, labels);
    expect(chooseThreshold(curve, 0.8, 0.002).edge_share).toBe(1);
    const strict = chooseThreshold(curve, 1, 0.002);
    expect(strict.edge_share).toBe(0.8);
    expect(strict.cascade_acc).toBe(1);
    expect(chooseThreshold(cascadeCurve([0.6], [0.9], [0], [0.5, 0.7]), 1, 0).threshold).toBe(0.7);
  });

  it('the grid spans 0.5 to beyond 1 and draws as an SVG with the chosen threshold', () => {
    const grid = thresholdGrid();
    expect(grid[0]).toBe(0.5);
    expect(grid.at(-1)).toBeGreaterThan(1);
    const curve = cascadeCurve(student, teacher, labels);
    const input = {
      title: 'a <b>',
      test: curve,
      validation: curve,
      threshold: 0.9,
      teacherAcc: { test: 0.8, validation: 0.8 },
      studentAcc: { test: 0.8, validation: 0.8 },
    };
    const svg = cascadeSvg(input);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('>0.9</text>');
    expect(svg).toContain('a &lt;b&gt;');
    expect(svg.match(/<polyline/g)?.length).toBeGreaterThanOrEqual(7);
    expect(cascadeSvg({ ...input })).toBe(svg);
  });
});
