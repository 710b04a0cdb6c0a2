/**
 * Temperature scaling (Guo et al., 2017): one scalar T fitted on held-out data by minimising the negative
 * log-likelihood of softmax(logits / T). It changes how sure the probabilities say the model is, never which class
 * is most probable. Folded into the model's last layer (weights and bias divided by T), so the ONNX files serve the
 * calibrated probabilities with no extra operator and the same signature.
 */
import type { BagMlp } from './bag-mlp.ts';

export interface TemperatureFit {
  temperature: number;
  /** Mean negative log-likelihood on the fitting data at T = 1 and at the fitted T. */
  nll_before: number;
  nll_after: number;
  n: number;
}

/** Mean NLL of the labels under softmax(logits / T) (logits row-major [n, classes]). */
export function meanNll(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
  T: number,
): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) max = Math.max(max, (logits[i * classes + c] as number) / T);
    let z = 0;
    for (let c = 0; c < classes; c++) z += Math.exp((logits[i * classes + c] as number) / T - max);
    sum -= (logits[i * classes + (labels[i] as number)] as number) / T - max - Math.log(z);
  }
  return sum / Math.max(1, n);
}

/**
 * The temperature in [1/20, 20] minimising the mean NLL, by golden-section search over log T (the NLL is unimodal
 * in T for fixed logits). Deterministic; 60 iterations narrow log T to ~1e-12.
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): TemperatureFit {
  if (logits.length !== labels.length * classes) {
    throw new TypeError(
      `fitTemperature: ${logits.length} logits for ${labels.length} labels of ${classes} classes`,
    );
  }
  if (labels.length === 0) throw new TypeError('fitTemperature: no examples to fit on');
  const f = (logT: number) => meanNll(logits, labels, classes, Math.exp(logT));
  const g = (Math.sqrt(5) - 1) / 2;
  let a = Math.log(1 / 20);
  let b = Math.log(20);
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 60; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const temperature = Math.exp((a + b) / 2);
  return {
    temperature,
    nll_before: meanNll(logits, labels, classes, 1),
    nll_after: meanNll(logits, labels, classes, temperature),
    n: labels.length,
  };
}

/** Divides the last layer's weights and bias by T in place: the model's logits become logits / T. */
export function foldTemperature(model: BagMlp, temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new TypeError(`foldTemperature: temperature must be a positive number, got ${temperature}`);
  }
  const last = model.layers.at(-1);
  if (last === undefined) throw new TypeError('foldTemperature: the model has no layers');
  for (let i = 0; i < last.w.length; i++) last.w[i] = (last.w[i] as number) / temperature;
  for (let i = 0; i < last.b.length; i++) last.b[i] = (last.b[i] as number) / temperature;
}

/** A binary model's uncalibrated spam probability from its calibrated one: sigmoid(T * logit(p)). */
export function uncalibrate(p: number, temperature: number): number {
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  return 1 / (1 + Math.exp(-temperature * Math.log(q / (1 - q))));
}
