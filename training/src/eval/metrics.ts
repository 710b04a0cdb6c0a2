/**
 * Binary classification metrics (spam = positive class 1) and the edge/origin cascade analysis. Inputs are the
 * models' spam probabilities (column 1 of `probabilities`) and the true labels.
 */

export interface BinaryMetrics {
  n: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  roc_auc: number;
  /** Expected calibration error: 10 equal-width bins over the top-class confidence. */
  ece: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
}

function check(pSpam: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (pSpam.length !== labels.length) {
    throw new TypeError(`metrics: ${pSpam.length} probabilities for ${labels.length} labels`);
  }
}

/** ROC AUC by the Mann-Whitney statistic, ties counted half. */
export function rocAuc(pSpam: ArrayLike<number>, labels: ArrayLike<number>): number {
  check(pSpam, labels);
  const idx = Array.from({ length: pSpam.length }, (_, i) => i).sort(
    (a, b) => (pSpam[a] as number) - (pSpam[b] as number),
  );
  let rankSumPos = 0;
  let pos = 0;
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && pSpam[idx[j + 1] as number] === pSpam[idx[i] as number]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[idx[k] as number] === 1) {
        rankSumPos += avgRank;
        pos++;
      }
    }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Expected calibration error over `bins` equal-width bins of the predicted class's probability. */
export function expectedCalibrationError(
  pSpam: ArrayLike<number>,
  labels: ArrayLike<number>,
  bins = 10,
): number {
  check(pSpam, labels);
  const count = new Float64Array(bins);
  const conf = new Float64Array(bins);
  const correct = new Float64Array(bins);
  for (let i = 0; i < pSpam.length; i++) {
    const p = pSpam[i] as number;
    const pred = p >= 0.5 ? 1 : 0;
    const c = pred === 1 ? p : 1 - p;
    const b = Math.min(bins - 1, Math.floor(c * bins));
    count[b] = (count[b] as number) + 1;
    conf[b] = (conf[b] as number) + c;
    if (pred === labels[i]) correct[b] = (correct[b] as number) + 1;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const n = count[b] as number;
    if (n > 0) ece += (n / pSpam.length) * Math.abs((correct[b] as number) / n - (conf[b] as number) / n);
  }
  return ece;
}

export function binaryMetrics(pSpam: ArrayLike<number>, labels: ArrayLike<number>): BinaryMetrics {
  check(pSpam, labels);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < pSpam.length; i++) {
    const pred = (pSpam[i] as number) >= 0.5 ? 1 : 0;
    if (pred === 1) labels[i] === 1 ? tp++ : fp++;
    else labels[i] === 1 ? fn++ : tn++;
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  return {
    n: pSpam.length,
    accuracy: (tp + tn) / Math.max(1, pSpam.length),
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    roc_auc: rocAuc(pSpam, labels),
    ece: expectedCalibrationError(pSpam, labels),
    confusion: { tp, fp, tn, fn },
  };
}

/** One point of the cascade curve. */
export interface CascadePoint {
  /** The edge answers when the student's top-class probability >= threshold. */
  threshold: number;
  /** Share of messages answered at the edge. */
  edge_share: number;
  /** Accuracy of the student where it answers and the teacher elsewhere. */
  cascade_acc: number;
}

/** Candidate thresholds: 0.50, 0.51, ... 0.99, then 0.995, 0.999, 0.9995, 0.9999, and 1.01 (all escalate). */
export function thresholdGrid(): number[] {
  const grid: number[] = [];
  for (let k = 50; k <= 99; k++) grid.push(k / 100);
  grid.push(0.995, 0.999, 0.9995, 0.9999, 1.01);
  return grid;
}

export function cascadeCurve(
  studentSpam: ArrayLike<number>,
  teacherSpam: ArrayLike<number>,
  labels: ArrayLike<number>,
  thresholds: readonly number[] = thresholdGrid(),
): CascadePoint[] {
  check(studentSpam, labels);
  check(teacherSpam, labels);
  const n = labels.length;
  return thresholds.map((t) => {
    let edge = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const s = studentSpam[i] as number;
      const conf = s >= 0.5 ? s : 1 - s;
      const p = conf >= t ? s : (teacherSpam[i] as number);
      if (conf >= t) edge++;
      if ((p >= 0.5 ? 1 : 0) === labels[i]) correct++;
    }
    return { threshold: t, edge_share: edge / Math.max(1, n), cascade_acc: correct / Math.max(1, n) };
  });
}

/**
 * The rule, applied to a validation curve: the threshold with the most edge answers whose cascade accuracy
 * stays within `tolerance` (0.2 pt) of the teacher's accuracy. Ties go to the higher threshold (safer).
 */
export function chooseThreshold(
  curve: readonly CascadePoint[],
  teacherAcc: number,
  tolerance = 0.002,
): CascadePoint {
  let best: CascadePoint | undefined;
  for (const p of curve) {
    if (p.cascade_acc + 1e-12 < teacherAcc - tolerance) continue;
    if (
      best === undefined ||
      p.edge_share > best.edge_share ||
      (p.edge_share === best.edge_share && p.threshold > best.threshold)
    ) {
      best = p;
    }
  }
  if (best === undefined) {
    const last = curve[curve.length - 1];
    if (last === undefined) throw new TypeError('chooseThreshold: empty curve');
    return last;
  }
  return best;
}
