/**
 * Two model families and their ensemble, measured against the bogofilter peer (`npm run eval:families`):
 *
 * - mlp: the release recipe's teacher (embedding-bag MLP), trained exactly as `npm run train` trains it (the
 *   training messages plus their header-less views, evidence smoothing, same hyper-parameters and seeds).
 * - nb: binarized naive-Bayes log-count ratios (model/nb.ts) over the same hashed ids, trained on the same rows as
 *   the MLP (messages + views, or messages only: options.nbData), read out by a logistic head over
 *   [sum, mean, log(1 + count)] of the ratios of a text's distinct ids.
 * - ensemble: a logistic head (stack) over [MLP logit difference, NB sum, NB mean, log(1 + NB count)].
 *
 * Both heads are fitted on messages neither base model trained on, together with those messages' header-less
 * views (VIEWS other than 'full'), so the heads see texts with and without headers:
 *
 * - test: base models trained on splits.train, heads fitted on splits.validation (+ views), all scored on the full
 *   messages of splits.test. bogofilter is trained on splits.train.
 * - cv5: over train + validation pooled, folds by foldOf(key, folds) (bogofilter's CV folds). Per fold, `mlp` is
 *   trained on all the other folds (as cv.ts's teacherCrossValidation does) and bogofilter likewise. For `nb` and
 *   `ensemble`, a deterministic share (options.headShare, ~15%, by a stable hash of the key: inHeadSet) of the other
 *   folds is held back as the heads' fitting set: a second MLP and the NB ratios train on the rest, the heads are
 *   fitted on the held part (+ views). Per-message predictions of every model are collected over all folds, so the
 *   paired (McNemar) tests compare message by message.
 * - learning_curve: nested, class-stratified subsets of splits.train (stratifiedSubset), the MLP, NB, ensemble and
 *   bogofilter trained on each, heads fitted on splits.validation (+ views), scored on splits.test.
 *
 * Every prediction is spam when P(spam) >= 0.5. Deterministic: seeded training, hash-based subsets.
 */
import { createHash } from 'node:crypto';
import { createFeaturizer, type Featurizer } from '../../../shared/featurizer/index.ts';
import { type Encoded, withEvidence, withViews } from '../build.ts';
import type { ReleaseRecipe } from '../config.ts';
import { LABELS, type Message } from '../data/corpus.ts';
import type { Splits } from '../data/split.ts';
import { messageView, VIEWS } from '../data/views.ts';
import { type BagMlp, initBagMlp } from '../model/bag-mlp.ts';
import {
  fitLogistic,
  type Logistic,
  type NaiveBayes,
  type NbFeatures,
  nbFeatures,
  trainNaiveBayes,
} from '../model/nb.ts';
import { predictLogits, trainBagMlp } from '../model/train.ts';
import { type PairedComparison, pairedComparison } from './paired.ts';
import { bogofilterScores, foldOf } from './peer.ts';

export interface FamiliesOptions {
  /** Cross-validation folds. @default 5 */
  folds?: number;
  /** Shares of splits.train for the learning curve. @default [0.1, 0.25, 0.5, 0.75, 1] */
  fractions?: readonly number[];
  /** Share of the training folds held back to fit the heads in cross-validation. @default 0.15 */
  headShare?: number;
  /** Naive-Bayes smoothing. @default 1 */
  alpha?: number;
  /** L2 of both logistic heads (on standardized features, mean log-loss). @default 1e-3 */
  l2?: number;
  /** What the NB ratios count: the MLP's training rows (messages + views) or the messages only. @default 'views' */
  nbData?: 'views' | 'messages';
  /** Fit the heads on the held messages plus their header-less views (true) or on the messages only. @default true */
  headViews?: boolean;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
}

export interface Figures {
  accuracy: number;
  /** Ham messages called spam / ham messages. */
  ham_fpr: number;
  errors: number;
  n: number;
}

export type Family = 'mlp' | 'nb' | 'ensemble' | 'bogofilter';
export type FamilyFigures = Record<Family, Figures>;

export interface FamiliesResult {
  eval: 'families';
  test: FamilyFigures & {
    paired: { mlp_vs_bogofilter: PairedComparison; ensemble_vs_bogofilter: PairedComparison };
    heads: { nb: HeadDescription; ensemble: HeadDescription };
  };
  cv5: FamilyFigures & {
    n: number;
    folds: number;
    head_share: number;
    paired: {
      mlp_vs_bogofilter: PairedComparison;
      nb_vs_bogofilter: PairedComparison;
      ensemble_vs_bogofilter: PairedComparison;
      ensemble_vs_mlp: PairedComparison;
    };
  };
  learning_curve: LearningPoint[];
  seconds: number;
}

export interface LearningPoint {
  fraction: number;
  n_train: number;
  mlp_acc: number;
  nb_acc: number;
  ensemble_acc: number;
  bogofilter_acc: number;
  mlp_ham_fpr: number;
  bogofilter_ham_fpr: number;
  /** McNemar p of mlp vs bogofilter on the test split. */
  mlp_vs_bogofilter_p: number;
}

export interface HeadDescription {
  features: string[];
  weights: number[];
  bias: number;
  fitted_on: number;
}

const round = (v: number, digits = 6) => Number(v.toFixed(digits));

/** Accuracy, ham false-positive rate and error count of 0/1 predictions. */
export function figures(labels: ArrayLike<number>, predictions: ArrayLike<number>): Figures {
  if (labels.length !== predictions.length) {
    throw new TypeError(`figures: ${labels.length} labels, ${predictions.length} predictions`);
  }
  let errors = 0;
  let ham = 0;
  let hamFp = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = predictions[i];
    if (p !== y) errors++;
    if (y === 0) {
      ham++;
      if (p === 1) hamFp++;
    }
  }
  const n = labels.length;
  return {
    accuracy: round(n === 0 ? 0 : (n - errors) / n),
    ham_fpr: round(ham === 0 ? 0 : hamFp / ham),
    errors,
    n,
  };
}

/** A stable uniform number in [0, 1) from a salted key: the first 32 bits of sha256(`salt:key`). */
function unitHash(salt: string, key: string): number {
  return createHash('sha256').update(`${salt}:${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * A deterministic class-stratified subset of `items`: within each label, items ordered by a salted hash of their
 * key, the first round(fraction * count) kept (at least one per non-empty class when fraction > 0). Subsets of
 * one salt are nested (a larger fraction keeps every item of a smaller one); fraction 1 keeps everything. The
 * kept items stay in their input order.
 */
export function stratifiedSubset<T extends { key: string; label: number }>(
  items: readonly T[],
  fraction: number,
  salt = 'subset-v1',
): T[] {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`stratifiedSubset: fraction must be in (0, 1], got ${fraction}`);
  }
  const byLabel = new Map<number, { i: number; h: number }[]>();
  items.forEach((item, i) => {
    const list = byLabel.get(item.label) ?? [];
    list.push({ i, h: unitHash(salt, item.key) });
    byLabel.set(item.label, list);
  });
  const keep = new Uint8Array(items.length);
  for (const list of byLabel.values()) {
    list.sort((a, b) => a.h - b.h || a.i - b.i);
    const k = Math.max(1, Math.round(fraction * list.length));
    for (const { i } of list.slice(0, k)) keep[i] = 1;
  }
  return items.filter((_, i) => keep[i] === 1);
}

/** Whether `key` is in the heads' fitting set (a stable hash below `share`) when folds are cross-validated. */
export function inHeadSet(key: string, share: number, salt = 'head-v1'): boolean {
  return unitHash(salt, key) < share;
}

/** Messages plus their non-empty header-less views (every VIEW but 'full'), same label. */
export function withEvalViews(messages: readonly Message[]): { texts: string[]; labels: number[] } {
  const texts: string[] = [];
  const labels: number[] = [];
  for (const m of messages) {
    for (const view of VIEWS) {
      const text = messageView(m.text, view);
      if (text.trim() === '') continue;
      texts.push(text);
      labels.push(m.label);
    }
  }
  return { texts, labels };
}

/** The families trained on one set of messages, heads not yet fitted. */
interface BaseModels {
  teacher: BagMlp;
  nb: NaiveBayes;
}

interface Heads {
  nb: Logistic;
  ensemble: Logistic;
  fittedOn: number;
}

interface Scores {
  /** Teacher logit(spam) - logit(ham) per text. */
  mlp: Float64Array;
  nb: NbFeatures[];
}

const NB_FEATURES = ['nb_sum', 'nb_mean', 'log1p(nb_count)'];
const ENSEMBLE_FEATURES = ['mlp_logit_diff', ...NB_FEATURES];
const nbRow = (f: NbFeatures): number[] => [f.sum, f.mean, Math.log1p(f.count)];

class Families {
  readonly featurizer: Featurizer;
  readonly L: number;
  readonly buckets: number;
  readonly recipe: ReleaseRecipe;
  readonly options: Required<Omit<FamiliesOptions, 'log'>>;
  readonly log: (line: string) => void;
  constructor(
    recipe: ReleaseRecipe,
    options: Required<Omit<FamiliesOptions, 'log'>>,
    log: (line: string) => void,
  ) {
    this.recipe = recipe;
    this.options = options;
    this.log = log;
    this.featurizer = createFeaturizer(recipe.featurizer);
    this.L = this.featurizer.config.maxLength;
    this.buckets = this.featurizer.config.buckets;
  }

  /** The recipe's teacher on `messages` (views + evidence, as the release trains it) and the NB ratios. */
  train(messages: readonly Message[], name: string, withNb = true): BaseModels {
    const { recipe, featurizer, L } = this;
    const augmented = withViews(messages, recipe.views);
    const encoded: Encoded = {
      ids: featurizer.featurizeBatch(augmented.map((m) => m.text)),
      labels: Uint8Array.from(augmented.map((m) => m.label)),
      n: augmented.length,
    };
    const spec = recipe.teacher;
    const teacher = initBagMlp(
      { ...spec.shape, classes: LABELS.length, maxLength: L },
      spec.initSeed,
      Float32Array,
      spec.embScale,
    );
    trainBagMlp(teacher, withEvidence(encoded, L, recipe.evidence), {
      ...spec.train,
      name,
      log: this.log,
    });
    const nbRows =
      !withNb || this.options.nbData === 'views'
        ? encoded
        : {
            ids: featurizer.featurizeBatch(messages.map((m) => m.text)),
            labels: Uint8Array.from(messages.map((m) => m.label)),
            n: messages.length,
          };
    const nb = trainNaiveBayes(nbRows.ids, nbRows.labels, nbRows.n, L, this.buckets, {
      alpha: this.options.alpha,
    });
    return { teacher, nb };
  }

  scores(models: BaseModels, texts: readonly string[]): Scores {
    const n = texts.length;
    const ids = this.featurizer.featurizeBatch(texts);
    const logits = predictLogits(models.teacher, ids, n);
    const mlp = new Float64Array(n);
    for (let i = 0; i < n; i++) mlp[i] = (logits[2 * i + 1] as number) - (logits[2 * i] as number);
    return { mlp, nb: nbFeatures(models.nb, ids, n) };
  }

  /** Both heads, fitted on `messages` (+ their header-less views) that the base models did not train on. */
  fitHeads(models: BaseModels, messages: readonly Message[]): Heads {
    const { texts, labels } = this.options.headViews
      ? withEvalViews(messages)
      : { texts: messages.map((m) => m.text), labels: messages.map((m) => m.label) };
    const s = this.scores(models, texts);
    const l2 = this.options.l2;
    return {
      nb: fitLogistic(s.nb.map(nbRow), labels, l2),
      ensemble: fitLogistic(
        s.nb.map((f, i) => [s.mlp[i] as number, ...nbRow(f)]),
        labels,
        l2,
      ),
      fittedOn: texts.length,
    };
  }

  /** 0/1 predictions of the MLP, NB and ensemble on `messages`' full texts. */
  predict(models: BaseModels, heads: Heads | undefined, messages: readonly Message[]) {
    const s = this.scores(
      models,
      messages.map((m) => m.text),
    );
    const mlp = Array.from(s.mlp, (d) => (d >= 0 ? 1 : 0));
    if (heads === undefined) return { mlp, nb: [], ensemble: [] };
    const nb = s.nb.map((f) => (heads.nb.predict(nbRow(f)) >= 0.5 ? 1 : 0));
    const ensemble = s.nb.map((f, i) =>
      heads.ensemble.predict([s.mlp[i] as number, ...nbRow(f)]) >= 0.5 ? 1 : 0,
    );
    return { mlp, nb, ensemble };
  }
}

async function bogofilterPredictions(
  train: readonly Message[],
  score: readonly Message[],
): Promise<number[]> {
  const r = await bogofilterScores(train, score);
  if ('available' in r) throw new Error(`families: ${r.reason}`);
  return Array.from(r.spam_probs, (p) => (p >= 0.5 ? 1 : 0));
}

const describeHead = (features: string[], h: Logistic, fittedOn: number): HeadDescription => ({
  features,
  weights: h.weights.map((w) => round(w)),
  bias: round(h.bias),
  fitted_on: fittedOn,
});

/** Runs the three measurements (see the module comment). Throws when bogofilter is not installed. */
export async function evaluateFamilies(
  recipe: ReleaseRecipe,
  splits: Splits<Message>,
  options: FamiliesOptions = {},
): Promise<FamiliesResult> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => console.log(line));
  const opts = {
    folds: options.folds ?? 5,
    fractions: options.fractions ?? [0.1, 0.25, 0.5, 0.75, 1],
    headShare: options.headShare ?? 0.15,
    alpha: options.alpha ?? 1,
    l2: options.l2 ?? 1e-3,
    nbData: options.nbData ?? 'views',
    headViews: options.headViews ?? true,
  };
  if (!(opts.headShare > 0 && opts.headShare < 1)) {
    throw new RangeError(`families: headShare must be in (0, 1), got ${opts.headShare}`);
  }
  const fam = new Families(recipe, opts, log);
  const pct = (f: Figures) =>
    `${(100 * f.accuracy).toFixed(2)}% (${f.errors} errors, ham FPR ${(100 * f.ham_fpr).toFixed(2)}%)`;
  const testLabels = splits.test.map((m) => m.label);

  // Test split, and the learning curve (its fraction 1 is the test-split run itself: same data, same seeds).
  const runOnTest = async (train: readonly Message[], name: string) => {
    const models = fam.train(train, name);
    const heads = fam.fitHeads(models, splits.validation);
    const preds = fam.predict(models, heads, splits.test);
    const bogofilter = await bogofilterPredictions(train, splits.test);
    return { heads, preds: { ...preds, bogofilter } };
  };
  log(
    `test split: train ${splits.train.length}, heads on validation ${splits.validation.length} (+ views), test ${splits.test.length}`,
  );
  const full = await runOnTest(splits.train, 'teacher (train split)');
  const testFigures = (p: Record<Family, number[]>) => ({
    mlp: figures(testLabels, p.mlp),
    nb: figures(testLabels, p.nb),
    ensemble: figures(testLabels, p.ensemble),
    bogofilter: figures(testLabels, p.bogofilter),
  });
  const test = {
    ...testFigures(full.preds),
    paired: {
      mlp_vs_bogofilter: pairedComparison(testLabels, full.preds.mlp, full.preds.bogofilter),
      ensemble_vs_bogofilter: pairedComparison(testLabels, full.preds.ensemble, full.preds.bogofilter),
    },
    heads: {
      nb: describeHead(NB_FEATURES, full.heads.nb, full.heads.fittedOn),
      ensemble: describeHead(ENSEMBLE_FEATURES, full.heads.ensemble, full.heads.fittedOn),
    },
  };
  for (const f of ['mlp', 'nb', 'ensemble', 'bogofilter'] as const) log(`test ${f}: ${pct(test[f])}`);

  // 5-fold cross-validation over train + validation.
  const pool = [...splits.train, ...splits.validation];
  const poolLabels = pool.map((m) => m.label);
  const fold = pool.map((m) => foldOf(m.key, opts.folds));
  const cvPreds: Record<Family, number[]> = {
    mlp: new Array(pool.length).fill(-1),
    nb: new Array(pool.length).fill(-1),
    ensemble: new Array(pool.length).fill(-1),
    bogofilter: new Array(pool.length).fill(-1),
  };
  for (let k = 0; k < opts.folds; k++) {
    const heldIdx = pool.flatMap((_, i) => (fold[i] === k ? [i] : []));
    if (heldIdx.length === 0) throw new RangeError(`families: fold ${k} of ${opts.folds} is empty`);
    const held = heldIdx.map((i) => pool[i] as Message);
    const rest = pool.filter((_, i) => fold[i] !== k);
    const core = rest.filter((m) => !inHeadSet(m.key, opts.headShare));
    const headSet = rest.filter((m) => inHeadSet(m.key, opts.headShare));
    log(
      `cv fold ${k + 1}/${opts.folds}: held ${held.length}, train ${rest.length} (ensemble: base ${core.length}, heads ${headSet.length} + views)`,
    );
    const mlpOnly = fam.predict(fam.train(rest, `teacher fold ${k + 1}`, false), undefined, held);
    const base = fam.train(core, `teacher fold ${k + 1} (base)`);
    const stacked = fam.predict(base, fam.fitHeads(base, headSet), held);
    const bogofilter = await bogofilterPredictions(rest, held);
    heldIdx.forEach((i, j) => {
      cvPreds.mlp[i] = mlpOnly.mlp[j] as number;
      cvPreds.nb[i] = stacked.nb[j] as number;
      cvPreds.ensemble[i] = stacked.ensemble[j] as number;
      cvPreds.bogofilter[i] = bogofilter[j] as number;
    });
    const hl = held.map((m) => m.label);
    log(
      `cv fold ${k + 1}: mlp ${pct(figures(hl, mlpOnly.mlp))}; nb ${pct(figures(hl, stacked.nb))}; ensemble ${pct(figures(hl, stacked.ensemble))}; bogofilter ${pct(figures(hl, bogofilter))}`,
    );
  }
  const cv5 = {
    n: pool.length,
    folds: opts.folds,
    head_share: opts.headShare,
    mlp: figures(poolLabels, cvPreds.mlp),
    nb: figures(poolLabels, cvPreds.nb),
    ensemble: figures(poolLabels, cvPreds.ensemble),
    bogofilter: figures(poolLabels, cvPreds.bogofilter),
    paired: {
      mlp_vs_bogofilter: pairedComparison(poolLabels, cvPreds.mlp, cvPreds.bogofilter),
      nb_vs_bogofilter: pairedComparison(poolLabels, cvPreds.nb, cvPreds.bogofilter),
      ensemble_vs_bogofilter: pairedComparison(poolLabels, cvPreds.ensemble, cvPreds.bogofilter),
      ensemble_vs_mlp: pairedComparison(poolLabels, cvPreds.ensemble, cvPreds.mlp),
    },
  };
  for (const f of ['mlp', 'nb', 'ensemble', 'bogofilter'] as const) log(`cv5 ${f}: ${pct(cv5[f])}`);
  log(
    `cv5 McNemar p: mlp vs bogofilter ${cv5.paired.mlp_vs_bogofilter.mcnemar_p.toPrecision(3)}, ensemble vs bogofilter ${cv5.paired.ensemble_vs_bogofilter.mcnemar_p.toPrecision(3)}`,
  );

  // Learning curve on the fixed test split.
  const learning_curve: LearningPoint[] = [];
  for (const fraction of opts.fractions) {
    const subset = stratifiedSubset(splits.train, fraction);
    const run =
      subset.length === splits.train.length ? full : await runOnTest(subset, `teacher ${fraction} of train`);
    const f = testFigures(run.preds);
    const point: LearningPoint = {
      fraction,
      n_train: subset.length,
      mlp_acc: f.mlp.accuracy,
      nb_acc: f.nb.accuracy,
      ensemble_acc: f.ensemble.accuracy,
      bogofilter_acc: f.bogofilter.accuracy,
      mlp_ham_fpr: f.mlp.ham_fpr,
      bogofilter_ham_fpr: f.bogofilter.ham_fpr,
      mlp_vs_bogofilter_p: pairedComparison(testLabels, run.preds.mlp, run.preds.bogofilter).mcnemar_p,
    };
    learning_curve.push(point);
    log(`learning curve ${JSON.stringify(point)}`);
  }

  return {
    eval: 'families',
    test,
    cv5,
    learning_curve,
    seconds: round((performance.now() - started) / 1000, 1),
  };
}
