/**
 * Mini-batch training of a BagMlp: seeded shuffling and token dropout, Adam (row-sparse "lazy" updates for the
 * embedding table: only rows a batch touched move, as in LazyAdam), an optional distillation target, and one log
 * line per epoch. Single-threaded plain arithmetic: the same seed gives the same weights, bit for bit.
 */
import {
  type BagMlp,
  backward,
  createGrads,
  type FloatArray,
  forward,
  lossAndGrad,
  Rng,
  softmax,
  zeroGrads,
} from './bag-mlp.ts';

export interface TrainOptions {
  /** @default 4 */
  epochs?: number;
  /** @default 32 */
  batchSize?: number;
  /** Adam learning rate. @default 0.002 */
  learningRate?: number;
  /** Multiplies the learning rate after each epoch. @default 1 */
  lrDecay?: number;
  /** Decoupled weight decay on the dense layers (AdamW), per step, times the learning rate. @default 0 */
  weightDecay?: number;
  /** Probability of dropping each id of a training example (augmentation). @default 0 */
  tokenDropout?: number;
  /** Seed of shuffling and dropout. @default 1 */
  seed?: number;
  /** Distillation: the teacher's logits [n, classes] on the same examples. */
  teacherLogits?: Float64Array;
  /** @default 1 */
  temperature?: number;
  /** Weight of the distillation term. @default 0 (hard labels only) */
  alpha?: number;
  /** Called after each epoch with its number (1-based) and mean training loss; returns extra text for the log. */
  onEpoch?: (epoch: number, loss: number) => string | undefined;
  /** Where the per-epoch line goes. @default console.log */
  log?: (line: string) => void;
  /** Name shown in the log lines. @default 'model' */
  name?: string;
}

export interface TrainData {
  ids: Int32Array;
  labels: Uint8Array;
  n: number;
  /** Label smoothing per example (see LossTargets.smoothing). @default none */
  smoothing?: Float32Array;
  /** Class distribution smoothing moves toward (see LossTargets.smoothingTarget). @default uniform */
  smoothingTarget?: readonly number[];
}

class AdamState {
  readonly m: Float64Array;
  readonly v: Float64Array;
  constructor(size: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }
}

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

function adamDense(
  p: FloatArray,
  g: Float64Array,
  s: AdamState,
  lr: number,
  c1: number,
  c2: number,
  decay: number,
): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] as number;
    const m = B1 * (s.m[i] as number) + (1 - B1) * gi;
    const v = B2 * (s.v[i] as number) + (1 - B2) * gi * gi;
    s.m[i] = m;
    s.v[i] = v;
    p[i] = (p[i] as number) * (1 - lr * decay) - (lr * (m / c1)) / (Math.sqrt(v / c2) + EPS);
  }
}

function validate(o: TrainOptions): void {
  const check = (field: string, v: number | undefined, min: number, max: number, int = false) => {
    if (v === undefined) return;
    if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (int && !Number.isInteger(v))) {
      throw new TypeError(
        `train options.${field} must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`,
      );
    }
  };
  check('epochs', o.epochs, 1, 1000, true);
  check('batchSize', o.batchSize, 1, 1 << 16, true);
  check('learningRate', o.learningRate, 1e-7, 10);
  check('lrDecay', o.lrDecay, 0.01, 1);
  check('weightDecay', o.weightDecay, 0, 1);
  check('tokenDropout', o.tokenDropout, 0, 0.95);
  check('temperature', o.temperature, 0.1, 100);
  check('alpha', o.alpha, 0, 1);
}

/** Trains `model` in place; returns the mean training loss of each epoch. */
export function trainBagMlp(model: BagMlp, data: TrainData, options: TrainOptions = {}): number[] {
  validate(options);
  const epochs = options.epochs ?? 4;
  const batchSize = options.batchSize ?? 32;
  let lr = options.learningRate ?? 0.002;
  const decay = options.weightDecay ?? 0;
  const dropout = options.tokenDropout ?? 0;
  const log = options.log ?? ((line: string) => console.log(line));
  const name = options.name ?? 'model';
  const { dim, maxLength: L, classes } = model.shape;
  if (data.ids.length !== data.n * L || data.labels.length !== data.n) {
    throw new TypeError(`train data must hold n*maxLength ids and n labels (n=${data.n}, maxLength=${L})`);
  }
  if (options.teacherLogits !== undefined && options.teacherLogits.length !== data.n * classes) {
    throw new TypeError(
      `train options.teacherLogits must hold n*classes values, got ${options.teacherLogits.length}`,
    );
  }
  const rng = new Rng(options.seed ?? 1);
  const grads = createGrads(model);
  const embState = new AdamState(model.emb.length);
  const layerState = model.layers.map((l) => ({
    w: new AdamState(l.w.length),
    b: new AdamState(l.b.length),
  }));
  const order = new Int32Array(data.n).map((_, i) => i);
  const batchIds = new Int32Array(batchSize * L);
  const batchLabels = new Uint8Array(batchSize);
  const batchSmoothing = new Float32Array(batchSize);
  const batchTeacher = new Float64Array(batchSize * classes);
  let step = 0;
  const losses: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const started = performance.now();
    rng.shuffle(order);
    let lossSum = 0;
    for (let start = 0; start < data.n; start += batchSize) {
      const n = Math.min(batchSize, data.n - start);
      for (let i = 0; i < n; i++) {
        const ex = order[start + i] as number;
        batchLabels[i] = data.labels[ex] as number;
        batchSmoothing[i] = data.smoothing?.[ex] ?? 0;
        const src = ex * L;
        const dst = i * L;
        if (dropout > 0) {
          for (let j = 0; j < L; j++)
            batchIds[dst + j] = rng.next() < dropout ? 0 : (data.ids[src + j] as number);
        } else {
          batchIds.set(data.ids.subarray(src, src + L), dst);
        }
        if (options.teacherLogits !== undefined) {
          for (let c = 0; c < classes; c++)
            batchTeacher[i * classes + c] = options.teacherLogits[ex * classes + c] as number;
        }
      }
      const ids = batchIds.subarray(0, n * L);
      const acts = forward(model, ids, n);
      const soft = options.teacherLogits !== undefined ? batchTeacher.subarray(0, n * classes) : undefined;
      const { loss, dlogits } = lossAndGrad(acts, classes, {
        labels: batchLabels.subarray(0, n),
        ...(data.smoothing !== undefined ? { smoothing: batchSmoothing.subarray(0, n) } : {}),
        ...(data.smoothingTarget !== undefined ? { smoothingTarget: data.smoothingTarget } : {}),
        ...(soft !== undefined ? { teacherLogits: soft } : {}),
        temperature: options.temperature ?? 1,
        alpha: options.alpha ?? 0,
      });
      lossSum += loss * n;
      zeroGrads(model, grads);
      backward(model, ids, acts, dlogits, grads);
      step++;
      const c1 = 1 - B1 ** step;
      const c2 = 1 - B2 ** step;
      model.layers.forEach((layer, l) => {
        const s = layerState[l] as { w: AdamState; b: AdamState };
        const g = grads.layers[l] as { w: Float64Array; b: Float64Array };
        adamDense(layer.w, g.w, s.w, lr, c1, c2, decay);
        adamDense(layer.b, g.b, s.b, lr, c1, c2, 0);
      });
      const emb = model.emb;
      for (let t = 0; t < grads.nTouched; t++) {
        const base = (grads.touched[t] as number) * dim;
        for (let d = base; d < base + dim; d++) {
          const gi = grads.emb[d] as number;
          const m = B1 * (embState.m[d] as number) + (1 - B1) * gi;
          const v = B2 * (embState.v[d] as number) + (1 - B2) * gi * gi;
          embState.m[d] = m;
          embState.v[d] = v;
          emb[d] = (emb[d] as number) - (lr * (m / c1)) / (Math.sqrt(v / c2) + EPS);
        }
      }
    }
    const mean = lossSum / data.n;
    losses.push(mean);
    const extra = options.onEpoch?.(epoch, mean);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    log(`[${name}] epoch ${epoch}/${epochs} loss ${mean.toFixed(4)}${extra ? ` ${extra}` : ''} (${secs}s)`);
    lr *= options.lrDecay ?? 1;
  }
  return losses;
}

/** Logits [n, classes] of a model over many examples, in chunks. */
export function predictLogits(model: BagMlp, ids: Int32Array, n: number, chunk = 256): Float64Array {
  const { maxLength: L, classes } = model.shape;
  const out = new Float64Array(n * classes);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    out.set(forward(model, ids.subarray(s * L, (s + m) * L), m).logits, s * classes);
  }
  return out;
}

/** Probabilities [n, classes] of a model over many examples. */
export function predictProbs(model: BagMlp, ids: Int32Array, n: number): Float64Array {
  return softmax(predictLogits(model, ids, n), model.shape.classes);
}
