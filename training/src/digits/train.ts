/**
 * Seeded training loops for the digits models (tfjs, Adam, mini-batches):
 *
 *  - `trainTeacher`: cross-entropy on the hard labels.
 *  - `distillStudent`: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(label, student), where _T is a
 *    softmax at temperature T (Hinton et al. 2015); the teacher labels each batch as the student sees it.
 *
 * Both draw batches from a seeded shuffle per epoch and may shift each image by up to `shift` pixels (seeded,
 * zero fill): the transfer set of the student is then larger than the 7,000 training images. The learning rate
 * decays by `lrDecay` per epoch. One progress line per epoch (training loss, validation accuracy, seconds).
 */
import { mulberry32 } from '../../../shared/random/index.ts';
import { CLASSES, type DigitsSet, PIXELS, SIDE, shuffleInPlace } from './data.ts';
import { accuracy, predictProbs } from './models.ts';
import { tf } from './tf-wasm.ts';

export interface FitOptions {
  epochs: number;
  batchSize: number;
  /** Adam's learning rate in the first epoch. */
  learningRate: number;
  /** Learning-rate factor per epoch (1 = constant). */
  lrDecay: number;
  /** Largest random shift in pixels along each axis (0 = none). */
  shift: number;
  /** Seed of the batch order and the shifts. */
  seed: number;
}

export interface DistillOptions extends FitOptions {
  /** Softmax temperature of the soft labels. */
  temperature: number;
  /** Weight of the soft-label term (1 - alpha on the hard labels). */
  alpha: number;
}

export interface EpochStats {
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  validationAccuracy: number;
  seconds: number;
}

/** Adam whose learning rate can change between steps (the moments are kept). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

function checkFit(o: FitOptions): void {
  for (const field of ['epochs', 'batchSize'] as const) {
    if (!Number.isInteger(o[field]) || o[field] < 1)
      throw new TypeError(`${field} must be a positive integer, got ${o[field]}`);
  }
  if (!(o.learningRate > 0)) throw new TypeError(`learningRate must be > 0, got ${o.learningRate}`);
  if (!(o.lrDecay > 0 && o.lrDecay <= 1)) throw new TypeError(`lrDecay must be in (0, 1], got ${o.lrDecay}`);
  if (!Number.isInteger(o.shift) || o.shift < 0 || o.shift > 4)
    throw new TypeError(`shift must be an integer in [0, 4], got ${o.shift}`);
}

/** Copies image `src` shifted by (dx, dy) pixels into `dst` (zero fill). */
export function shiftImage(dst: Float32Array, src: Float32Array, dx: number, dy: number): void {
  dst.fill(0);
  for (let r = Math.max(0, dy); r < Math.min(SIDE, SIDE + dy); r++) {
    const from = (r - dy) * SIDE;
    const x0 = Math.max(0, dx);
    const x1 = Math.min(SIDE, SIDE + dx);
    dst.set(src.subarray(from + x0 - dx, from + x1 - dx), r * SIDE + x0);
  }
}

/** Yields the seeded mini-batches of one epoch: images (shifted when `shift` > 0) and labels. */
export function* epochBatches(
  data: DigitsSet,
  batchSize: number,
  shift: number,
  rand: () => number,
): Generator<{ x: Float32Array; y: Uint8Array; rows: number }> {
  const order = shuffleInPlace(
    Uint32Array.from({ length: data.n }, (_, i) => i),
    rand,
  );
  for (let start = 0; start < data.n; start += batchSize) {
    const rows = Math.min(batchSize, data.n - start);
    const x = new Float32Array(rows * PIXELS);
    const y = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) {
      const row = order[start + i] as number;
      const src = data.x.subarray(row * PIXELS, (row + 1) * PIXELS);
      const dst = x.subarray(i * PIXELS, (i + 1) * PIXELS);
      if (shift > 0) {
        const dx = Math.floor(rand() * (2 * shift + 1)) - shift;
        const dy = Math.floor(rand() * (2 * shift + 1)) - shift;
        shiftImage(dst, src, dx, dy);
      } else dst.set(src);
      y[i] = data.y[row] as number;
    }
    yield { x, y, rows };
  }
}

/** Given a batch (images, one-hot labels), the loss closure to minimize. */
type BatchLoss = (xb: tf.Tensor2D, yb: tf.Tensor2D) => () => tf.Scalar;

/** The shared loop: per batch `makeLoss` returns the loss closure Adam minimizes over `model`'s weights. */
async function runEpochs(
  name: string,
  model: tf.LayersModel,
  train: DigitsSet,
  validation: DigitsSet,
  o: FitOptions,
  makeLoss: BatchLoss,
  log: (line: string) => void,
): Promise<EpochStats[]> {
  checkFit(o);
  const rand = mulberry32(o.seed);
  const optimizer = new ScheduledAdam(o.learningRate, 0.9, 0.999, 1e-7);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const stats: EpochStats[] = [];
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    optimizer.setLearningRate(o.learningRate * o.lrDecay ** (epoch - 1));
    let lossSum = 0;
    for (const batch of epochBatches(train, o.batchSize, o.shift, rand)) {
      const cost = tf.tidy(() => {
        const xb = tf.tensor2d(batch.x, [batch.rows, PIXELS]);
        const yb = tf.oneHot(tf.tensor1d(batch.y, 'int32'), CLASSES).toFloat() as tf.Tensor2D;
        return optimizer.minimize(makeLoss(xb, yb), true, vars) as tf.Scalar;
      });
      lossSum += (cost.dataSync()[0] as number) * batch.rows;
      cost.dispose();
      // Yield to the event loop after each batch so logs and timers elsewhere get through.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const validationAccuracy = accuracy(predictProbs(model, validation.x, validation.n), validation.y);
    const s: EpochStats = {
      epoch,
      loss: lossSum / train.n,
      validationAccuracy,
      seconds: (performance.now() - t0) / 1000,
    };
    stats.push(s);
    log(
      `${name} epoch ${epoch}/${o.epochs}: loss ${s.loss.toFixed(4)}, validation ${(100 * validationAccuracy).toFixed(2)}%, ${s.seconds.toFixed(1)} s`,
    );
  }
  optimizer.dispose();
  return stats;
}

export async function trainTeacher(
  model: tf.LayersModel,
  train: DigitsSet,
  validation: DigitsSet,
  o: FitOptions,
  log: (line: string) => void = () => {},
): Promise<EpochStats[]> {
  const loss: BatchLoss = (xb, yb) => () =>
    tf.losses.softmaxCrossEntropy(yb, model.apply(xb) as tf.Tensor2D) as tf.Scalar;
  return runEpochs('teacher', model, train, validation, o, loss, log);
}

export async function distillStudent(
  student: tf.LayersModel,
  teacher: tf.LayersModel,
  train: DigitsSet,
  validation: DigitsSet,
  o: DistillOptions,
  log: (line: string) => void = () => {},
): Promise<EpochStats[]> {
  if (!(o.temperature > 0)) throw new TypeError(`temperature must be > 0, got ${o.temperature}`);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new TypeError(`alpha must be in [0, 1], got ${o.alpha}`);
  const T = o.temperature;
  return runEpochs(
    'student',
    student,
    train,
    validation,
    o,
    (xb, yb) => {
      // Soft labels of this very batch (same shifts), outside the gradient.
      const soft = tf.softmax(tf.div(teacher.apply(xb) as tf.Tensor2D, T));
      const logSoft = tf.log(tf.add(soft, 1e-12));
      return () => {
        const logits = student.apply(xb) as tf.Tensor2D;
        const logStudentT = tf.logSoftmax(tf.div(logits, T));
        // KL(soft || student_T) per row, mean over the batch, times T^2 (keeps gradient scale independent of T).
        const kl = tf.mean(tf.sum(tf.mul(soft, tf.sub(logSoft, logStudentT)), 1));
        const hard = tf.losses.softmaxCrossEntropy(yb, logits);
        return tf.add(tf.mul(kl, o.alpha * T * T), tf.mul(hard, 1 - o.alpha)) as tf.Scalar;
      };
    },
    log,
  );
}
