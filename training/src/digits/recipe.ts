/**
 * Everything that decides what the digits build produces: split shares and seed, both architectures, every
 * training hyperparameter and seed, the export checks. Plain data (JSON-serializable), so it can be hashed into a
 * version id. Chosen on the validation split (test is read once, at the end of a build).
 */
import type { CnnSpec, MlpSpec } from './models.ts';
import type { DistillOptions, FitOptions } from './train.ts';

export interface DigitsRecipe {
  split: { train: number; validation: number; seed: number };
  teacher: { arch: CnnSpec; initSeed: number; fit: FitOptions };
  student: { arch: MlpSpec; initSeed: number; fit: DistillOptions };
  /** Rows of the validation split compared between tfjs and onnxruntime-node. */
  parityRows: number;
  /** Largest allowed |p_tfjs - p_ort| over those rows (both models; the student vs its dequantized weights). */
  parityTolerance: number;
}

export const DIGITS_RECIPE: DigitsRecipe = {
  split: { train: 0.7, validation: 0.15, seed: 1 },
  teacher: {
    // 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4: 4*4*24 = 384 features -> 96 -> 10 (45,466 parameters)
    arch: {
      convs: [
        { filters: 12, kernel: 5, padding: 'valid' },
        { filters: 24, kernel: 5, padding: 'valid' },
      ],
      dense: [96],
    },
    initSeed: 7,
    fit: { epochs: 10, batchSize: 64, learningRate: 3e-3, lrDecay: 0.8, shift: 1, seed: 3 },
  },
  student: {
    // 784 -> 256 -> 10 (203,530 parameters, ~206 KB as int8)
    arch: { hidden: [256] },
    initSeed: 11,
    fit: {
      epochs: 20,
      batchSize: 64,
      learningRate: 2e-3,
      lrDecay: 0.9,
      shift: 1,
      seed: 5,
      temperature: 4,
      alpha: 0.7,
    },
  },
  parityRows: 500,
  parityTolerance: 1e-4,
};
