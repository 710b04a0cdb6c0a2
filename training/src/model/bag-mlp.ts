/**
 * The model family of both tiers: an embedding bag (mean of the embeddings of the non-padding ids) followed by an
 * MLP and a softmax. Teacher: big table, hidden layers. Student: small table (ids folded with `id % rows`), no or
 * a tiny hidden layer. Forward and backward by hand (see FACTS.md: tfjs's Gather gradient does not serve here);
 * gradients are checked against finite differences in bag-mlp.test.ts.
 *
 * Layout matches the ONNX export: weights [fanIn, fanOut] row-major (MatMul), ids int32 [n, maxLength], 0 = pad.
 */

export type FloatArray = Float32Array | Float64Array;
export type FloatArrayCtor = Float32ArrayConstructor | Float64ArrayConstructor;

export interface BagMlpShape {
  /** Embedding rows; ids are folded with `id % rows`. */
  rows: number;
  /** Embedding width. */
  dim: number;
  /** Hidden layer widths (ReLU), possibly none (a linear model over the pooled embedding). */
  hidden: number[];
  /** Output classes. */
  classes: number;
  /** Ids per example. */
  maxLength: number;
}

export interface Layer {
  fanIn: number;
  fanOut: number;
  /** [fanIn, fanOut] row-major. */
  w: FloatArray;
  b: FloatArray;
}

export interface BagMlp {
  shape: BagMlpShape;
  /** [rows, dim] row-major. */
  emb: FloatArray;
  layers: Layer[];
}

export function validateShape(shape: BagMlpShape): void {
  const pos = (v: number, field: string) => {
    if (!Number.isInteger(v) || v < 1) throw new TypeError(`${field} must be a positive integer, got ${v}`);
  };
  pos(shape.rows, 'shape.rows');
  pos(shape.dim, 'shape.dim');
  pos(shape.classes, 'shape.classes');
  pos(shape.maxLength, 'shape.maxLength');
  for (const [i, h] of shape.hidden.entries()) pos(h, `shape.hidden[${i}]`);
}

/** mulberry32 with a Box-Muller normal on top: seeded, deterministic. */
export class Rng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle(a: Int32Array | Uint8Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = a[i] as number;
      a[i] = a[j] as number;
      a[j] = t;
    }
  }
}

/** A fresh model: embeddings N(0, embScale^2), layers He-normal, biases 0. */
export function initBagMlp(
  shape: BagMlpShape,
  seed: number,
  ctor: FloatArrayCtor = Float32Array,
  embScale = 0.1,
): BagMlp {
  validateShape(shape);
  const rng = new Rng(seed);
  const emb = new ctor(shape.rows * shape.dim);
  for (let i = 0; i < emb.length; i++) emb[i] = rng.normal() * embScale;
  const widths = [shape.dim, ...shape.hidden, shape.classes];
  const layers: Layer[] = [];
  for (let l = 0; l < widths.length - 1; l++) {
    const fanIn = widths[l] as number;
    const fanOut = widths[l + 1] as number;
    const w = new ctor(fanIn * fanOut);
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    layers.push({ fanIn, fanOut, w, b: new ctor(fanOut) });
  }
  return { shape: { ...shape, hidden: [...shape.hidden] }, emb, layers };
}

export interface Activations {
  n: number;
  /** Non-padding ids per example. */
  counts: Float64Array;
  /** [n, dim] mean-pooled embeddings. */
  pooled: Float64Array;
  /** Post-ReLU outputs of each hidden layer, [n, width]. */
  hidden: Float64Array[];
  /** [n, classes]. */
  logits: Float64Array;
}

/** Forward pass over `n` examples of `ids` (row-major [n, maxLength]). */
export function forward(model: BagMlp, ids: Int32Array, n: number): Activations {
  const { rows, dim, maxLength: L } = model.shape;
  const emb = model.emb;
  const pooled = new Float64Array(n * dim);
  const counts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let count = 0;
    const base = i * L;
    const po = i * dim;
    for (let j = 0; j < L; j++) {
      const id = ids[base + j] as number;
      if (id <= 0) continue;
      count++;
      const r = (id % rows) * dim;
      for (let d = 0; d < dim; d++) pooled[po + d] = (pooled[po + d] as number) + (emb[r + d] as number);
    }
    counts[i] = count;
    if (count > 1) for (let d = 0; d < dim; d++) pooled[po + d] = (pooled[po + d] as number) / count;
  }
  const hidden: Float64Array[] = [];
  let x = pooled;
  const last = model.layers.length - 1;
  let logits = pooled;
  model.layers.forEach((layer, l) => {
    const { fanIn, fanOut, w, b } = layer;
    const y = new Float64Array(n * fanOut);
    for (let i = 0; i < n; i++) {
      const xo = i * fanIn;
      const yo = i * fanOut;
      for (let o = 0; o < fanOut; o++) y[yo + o] = b[o] as number;
      for (let k = 0; k < fanIn; k++) {
        const xv = x[xo + k] as number;
        if (xv === 0) continue;
        const wo = k * fanOut;
        for (let o = 0; o < fanOut; o++) y[yo + o] = (y[yo + o] as number) + xv * (w[wo + o] as number);
      }
      if (l < last) for (let o = 0; o < fanOut; o++) if ((y[yo + o] as number) < 0) y[yo + o] = 0;
    }
    if (l < last) hidden.push(y);
    else logits = y;
    x = y;
  });
  return { n, counts, pooled, hidden, logits };
}

/** Row-wise softmax of `logits / temperature`. */
export function softmax(logits: Float64Array, classes: number, temperature = 1): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length; r += classes) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) max = Math.max(max, (logits[r + c] as number) / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp((logits[r + c] as number) / temperature - max);
      out[r + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c++) out[r + c] = (out[r + c] as number) / sum;
  }
  return out;
}

/** Gradient buffers; the embedding gradient is dense storage with a list of touched rows (row-sparse updates). */
export interface Grads {
  emb: Float64Array;
  touched: Int32Array;
  nTouched: number;
  mark: Uint8Array;
  layers: { w: Float64Array; b: Float64Array }[];
}

export function createGrads(model: BagMlp): Grads {
  return {
    emb: new Float64Array(model.emb.length),
    touched: new Int32Array(model.shape.rows),
    nTouched: 0,
    mark: new Uint8Array(model.shape.rows),
    layers: model.layers.map((l) => ({ w: new Float64Array(l.w.length), b: new Float64Array(l.b.length) })),
  };
}

/** Zeroes the gradients (only the touched embedding rows). */
export function zeroGrads(model: BagMlp, g: Grads): void {
  const dim = model.shape.dim;
  for (let t = 0; t < g.nTouched; t++) {
    const r = g.touched[t] as number;
    g.emb.fill(0, r * dim, (r + 1) * dim);
    g.mark[r] = 0;
  }
  g.nTouched = 0;
  for (const l of g.layers) {
    l.w.fill(0);
    l.b.fill(0);
  }
}

/** Accumulates d(loss)/d(params) into `g`, given d(loss)/d(logits) [n, classes]. */
export function backward(
  model: BagMlp,
  ids: Int32Array,
  acts: Activations,
  dlogits: Float64Array,
  g: Grads,
): void {
  const { rows, dim, maxLength: L } = model.shape;
  const n = acts.n;
  let dout = dlogits;
  for (let l = model.layers.length - 1; l >= 0; l--) {
    const layer = model.layers[l] as Layer;
    const gl = g.layers[l] as { w: Float64Array; b: Float64Array };
    const { fanIn, fanOut, w } = layer;
    const x = l === 0 ? acts.pooled : (acts.hidden[l - 1] as Float64Array);
    const din = new Float64Array(n * fanIn);
    for (let i = 0; i < n; i++) {
      const xo = i * fanIn;
      const yo = i * fanOut;
      for (let o = 0; o < fanOut; o++) gl.b[o] = (gl.b[o] as number) + (dout[yo + o] as number);
      for (let k = 0; k < fanIn; k++) {
        const xv = x[xo + k] as number;
        const wo = k * fanOut;
        let acc = 0;
        for (let o = 0; o < fanOut; o++) {
          const d = dout[yo + o] as number;
          if (xv !== 0) gl.w[wo + o] = (gl.w[wo + o] as number) + xv * d;
          acc += d * (w[wo + o] as number);
        }
        // Through the ReLU of the previous layer: zero where its output was zero.
        din[xo + k] = l > 0 && xv <= 0 ? 0 : acc;
      }
    }
    dout = din;
  }
  const gemb = g.emb;
  for (let i = 0; i < n; i++) {
    const count = acts.counts[i] as number;
    if (count === 0) continue;
    const inv = 1 / count;
    const base = i * L;
    const po = i * dim;
    for (let j = 0; j < L; j++) {
      const id = ids[base + j] as number;
      if (id <= 0) continue;
      const row = id % rows;
      if (g.mark[row] === 0) {
        g.mark[row] = 1;
        g.touched[g.nTouched++] = row;
      }
      const r = row * dim;
      for (let d = 0; d < dim; d++) gemb[r + d] = (gemb[r + d] as number) + (dout[po + d] as number) * inv;
    }
  }
}

/** Targets for one batch: hard labels, optionally a teacher's logits for distillation. */
export interface LossTargets {
  /** Class index per example. */
  labels: Uint8Array;
  /** Teacher logits [n, classes]; with them the loss is (1-alpha)*CE(hard) + alpha*T^2*CE(soft_T). */
  teacherLogits?: Float64Array;
  /** Softening temperature of the distillation term. @default 1 */
  temperature?: number;
  /** Weight of the distillation term in [0, 1]. @default 0 */
  alpha?: number;
  /**
   * Label smoothing per example in [0, 1]: the hard target becomes (1 - e) * one-hot + e / classes (little evidence,
   * a softer target). @default none (0)
   */
  smoothing?: Float32Array;
  /**
   * Where smoothing moves the target: a class distribution (e.g. the training prior), so an example that says
   * little is pulled toward the base rate rather than toward a coin flip. @default uniform (1 / classes each)
   */
  smoothingTarget?: ArrayLike<number>;
}

/**
 * Mean loss over the batch and d(loss)/d(logits). Hard term: cross-entropy with the labels. Distillation term
 * (Hinton et al.): T^2 * cross-entropy between softmax(teacher/T) and softmax(student/T).
 */
export function lossAndGrad(
  acts: Activations,
  classes: number,
  t: LossTargets,
): { loss: number; dlogits: Float64Array } {
  const n = acts.n;
  const p = softmax(acts.logits, classes);
  const alpha = t.alpha ?? 0;
  const T = t.temperature ?? 1;
  const dl = new Float64Array(n * classes);
  let loss = 0;
  const soft = alpha > 0 && t.teacherLogits !== undefined;
  const pT = soft ? softmax(acts.logits, classes, T) : undefined;
  const qT = soft ? softmax(t.teacherLogits as Float64Array, classes, T) : undefined;
  for (let i = 0; i < n; i++) {
    const y = t.labels[i] as number;
    const e = t.smoothing?.[i] ?? 0;
    for (let c = 0; c < classes; c++) {
      const k = i * classes + c;
      const target =
        (1 - e) * (c === y ? 1 : 0) + e * ((t.smoothingTarget?.[c] as number | undefined) ?? 1 / classes);
      let g = (1 - alpha) * ((p[k] as number) - target);
      if (target > 0) loss -= (1 - alpha) * target * Math.log(Math.max(p[k] as number, 1e-300));
      if (pT !== undefined && qT !== undefined) {
        g += alpha * T * ((pT[k] as number) - (qT[k] as number));
        loss -= alpha * T * T * (qT[k] as number) * Math.log(Math.max(pT[k] as number, 1e-300));
      }
      dl[k] = g / n;
    }
  }
  return { loss: loss / n, dlogits: dl };
}
