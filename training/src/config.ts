/**
 * The release recipe: data split, featurizer, teacher, student, distillation and threshold rule. The release
 * version is a hash of this object plus the training data's fingerprint, so the same recipe on the same data
 * gives the same version id and the same files.
 */
import { DEFAULT_FEATURIZER_CONFIG, type FeaturizerConfig } from '../../shared/featurizer/index.ts';
import type { SplitOptions } from './data/split.ts';
import type { BagMlpShape } from './model/bag-mlp.ts';
import type { TrainOptions } from './model/train.ts';

type Hyper = Pick<
  TrainOptions,
  'epochs' | 'batchSize' | 'learningRate' | 'lrDecay' | 'weightDecay' | 'tokenDropout' | 'seed'
>;

export interface ModelRecipe {
  shape: Omit<BagMlpShape, 'maxLength' | 'classes'>;
  /** Seed of the initial weights. */
  initSeed: number;
  /** Standard deviation of the initial embeddings. */
  embScale: number;
  train: Hyper;
}

export interface ReleaseRecipe {
  /** Model name in the registry (models/<name>/<version>/). */
  name: string;
  /** Date part of the version id and the manifest's `created` (fixed, so rebuilds are byte-identical). */
  releaseDate: string;
  split: Required<SplitOptions>;
  /**
   * Header-less training views (data/views.ts): every training message also teaches its body, its subject + body
   * and `snippets` body prefixes of 50-300 characters, same label. Absent: full messages only.
   */
  views?: { snippets: number; seed: number };
  /**
   * Evidence-based label smoothing: an example with n < `fullAt` feature ids trains toward a softer target
   * (smoothing `max * (1 - n / fullAt)`), so a text that says little gets a less confident answer. `target`: where
   * the softer target points, `prior` (the training split's class shares: a text that says little is pulled
   * toward the base rate, so its label leans to the common class) or `uniform` (1 / classes: toward a coin flip,
   * which made short texts' labels arbitrary). Absent: none.
   */
  evidence?: { fullAt: number; max: number; target: 'prior' | 'uniform' };
  /**
   * Train-split labels permuted with this seed before training: a release that learned nothing true, kept as a
   * deliberately bad rollout candidate (training/src/shuffled.ts, test/fixtures/models). Absent: the real labels.
   */
  shuffleLabels?: { seed: number };
  /** Out-of-distribution rule: ids seen in at least `minCount` training rows form the seen-ids bitmap. */
  ood: { minCount: number };
  featurizer: FeaturizerConfig;
  teacher: ModelRecipe;
  student: ModelRecipe & {
    /** Distillation from the teacher's logits on the train split. */
    distill: { temperature: number; alpha: number };
  };
  /**
   * Temperature scaling of teacher and student (model/calibrate.ts), fitted on the validation messages and their
   * header-less views and folded into each model's last layer: the served probabilities are calibrated. Absent: none.
   */
  calibration?: { method: 'temperature' };
  /**
   * The decision rule written into the manifest (shared/decision), chosen on validation per model: the spam cutoff
   * is the cost-aware one, `costRatio / (1 + costRatio)` on calibrated probabilities (a ham answered spam costs
   * `costRatio` missed spams), raised until the ham false-positive rate is at most `hamFprTarget` on the validation
   * messages and on each header-less view; ham is sure from `hamCutoff`; below either, `defaultLabel`, unsure.
   */
  decision?: DecisionRecipe;
  /** Cascade rule: most edge answers with cascade accuracy >= teacher accuracy - tolerance (validation). */
  thresholdTolerance: number;
  /** Largest student ONNX file accepted (bytes). */
  maxStudentBytes: number;
}

export interface DecisionRecipe {
  defaultLabel: string;
  costRatio: number;
  hamFprTarget: number;
  hamCutoff: number;
}

export const RELEASE_RECIPE: ReleaseRecipe = {
  name: 'spam',
  releaseDate: '2026-12-07',
  split: { train: 0.7, validation: 0.15, salt: 'split-v1' },
  views: { snippets: 2, seed: 7 },
  evidence: { fullAt: 48, max: 0.9, target: 'prior' },
  ood: { minCount: 2 },
  featurizer: { ...DEFAULT_FEATURIZER_CONFIG },
  teacher: {
    shape: { rows: DEFAULT_FEATURIZER_CONFIG.buckets, dim: 32, hidden: [128] },
    initSeed: 1,
    embScale: 0.1,
    train: {
      epochs: 3,
      batchSize: 32,
      learningRate: 0.002,
      lrDecay: 1,
      weightDecay: 0,
      tokenDropout: 0,
      seed: 11,
    },
  },
  student: {
    shape: { rows: 16384, dim: 32, hidden: [16] },
    initSeed: 2,
    embScale: 0.1,
    train: {
      epochs: 4,
      batchSize: 32,
      learningRate: 0.002,
      lrDecay: 1,
      weightDecay: 0,
      tokenDropout: 0,
      seed: 12,
    },
    distill: { temperature: 2, alpha: 0.5 },
  },
  calibration: { method: 'temperature' },
  decision: { defaultLabel: 'ham', costRatio: 9, hamFprTarget: 0.005, hamCutoff: 0.75 },
  thresholdTolerance: 0.002,
  maxStudentBytes: 1_000_000,
};
