/**
 * The model manifest: models/<name>/<version>/manifest.json. One release = the artifacts it lists (each with its
 * sha256 and size), the featurizer configuration that produced their inputs, the labels and the calibrated edge
 * escalation threshold. Edge and origin refuse an artifact whose hash does not match.
 *
 * Runs in workerd and Node (zod only, no Node built-ins).
 */
import { z } from 'zod';

/** Open Inference Protocol v2 tensor datatypes. */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export const OipDatatype = z.enum(OIP_DATATYPES);
export type OipDatatype = z.infer<typeof OipDatatype>;

/** A tensor's name, datatype and shape; -1 marks a dynamic dimension (the batch). */
export const TensorSpec = z.object({
  name: z.string().min(1),
  datatype: OipDatatype,
  shape: z.array(z.number().int().min(-1)).min(1),
});
export type TensorSpec = z.infer<typeof TensorSpec>;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256');

export const Artifact = z.object({
  /** File name relative to the version folder. */
  file: z
    .string()
    .min(1)
    .regex(/^[^/\\]+$/, 'a plain file name'),
  sha256: Sha256,
  bytes: z.number().int().nonnegative(),
  /** 'onnx' for models; other kinds (e.g. 'json') are checked but not served. */
  format: z.string().default('onnx'),
  inputs: z.array(TensorSpec).default([]),
  outputs: z.array(TensorSpec).default([]),
});
export type Artifact = z.infer<typeof Artifact>;

export const FeaturizerRef = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** Whatever the featurizer needs to reproduce the ids exactly (buckets, max length, n-gram orders...). */
  config: z.record(z.string(), z.unknown()),
});
export type FeaturizerRef = z.infer<typeof FeaturizerRef>;

/** What one tier saw on validation: histograms over [0, 1] (shared/drift, 10 bins, as shares) and the label mix. */
export const BaselineSide = z.object({
  /** Items the histograms were built from. */
  n: z.number().int().nonnegative(),
  /** Top-class score (the answer's `score`). */
  score: z.array(z.number().min(0)),
  /** Input coverage (shared/ood); all in the last bin for releases without an OOD rule. */
  coverage: z.array(z.number().min(0)),
  /** Predicted label shares. */
  labels: z.record(z.string(), z.number().min(0)),
});
export type BaselineSide = z.infer<typeof BaselineSide>;

export const Manifest = z.object({
  schema_version: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lowercase letters, digits, _ . -'),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . -'),
  created: z.string().min(1),
  description: z.string().optional(),
  /** Output class labels, in the order of the model's probability columns. */
  labels: z.array(z.string().min(1)).min(1),
  /** Artifacts by role, e.g. { teacher, student } or { model } for a single-model release. */
  artifacts: z.record(z.string().min(1), Artifact),
  /** Which artifact each tier runs. */
  serving: z.object({
    origin: z.string().min(1),
    edge: z.string().min(1).optional(),
  }),
  featurizer: FeaturizerRef.optional(),
  /**
   * Tensor models (no featurizer): the output of teacher and student the cascade reads, `probabilities` (one column
   * per label, rows summing to 1) or `score` (two labels: the probability of the second, shape [-1] or [-1, 1]).
   * The public signature at both tiers is the served artifact's inputs and this output. @default the first
   * output of the edge artifact, as probabilities.
   */
  cascade: z
    .object({
      output: z.string().min(1),
      kind: z.enum(['probabilities', 'score']).default('probabilities'),
    })
    .optional(),
  /** Edge answers when the student's top probability >= threshold; below it escalates. */
  threshold: z.number().min(0).max(1).optional(),
  /**
   * Human review: an item the teacher answers with a top probability below this goes to the review queue (as does an
   * out-of-distribution one). @default DEFAULT_REVIEW_THRESHOLD
   */
  review_threshold: z.number().min(0).max(1).optional(),
  /**
   * Out-of-distribution rule (shared/ood): the artifact holding the seen-ids bitmap, and the calibrated bounds (from
   * validation) below which an input is out of distribution: too few feature ids, or too small a share of them seen
   * in training.
   */
  ood: z
    .object({
      artifact: z.string().min(1),
      /** Rows of training data an id had to appear in to be set. */
      min_count: z.number().int().min(1),
      min_features: z.number().int().min(0),
      min_coverage: z.number().min(0).max(1),
    })
    .optional(),
  /**
   * Drift baselines from validation (written by the evaluation): `edge` = the student on every validation message
   * (all traffic reaches the edge); `origin` = the teacher on the validation messages and header-less views the edge
   * escalates (what reaches the origin). Observed histograms are compared with them by PSI (shared/drift).
   */
  baseline: z
    .object({
      source: z.string(),
      edge: BaselineSide.optional(),
      origin: BaselineSide.optional(),
    })
    .optional(),
  /**
   * The decision rule (shared/decision), chosen on validation: per served artifact role (e.g. teacher, student),
   * per label, the smallest probability at which that label is answered; under it the answer is `default_label`,
   * marked `unsure: true`. Scores are never changed. Absent: the most probable label, never unsure.
   */
  decision: z
    .object({
      /** The safe default (for spam: ham). */
      default_label: z.string().min(1),
      cutoffs: z.record(z.string().min(1), z.record(z.string().min(1), z.number().min(0).max(1))),
      /** How the cutoffs were chosen (cost ratio, targets, the data they were chosen on). */
      basis: z.string().optional(),
    })
    .optional(),
  /**
   * Temperature scaling fitted on validation (negative log-likelihood), already folded into each artifact's last
   * layer: the served probabilities are the calibrated ones. Recorded per artifact role for the evaluation.
   */
  calibration: z
    .record(
      z.string().min(1),
      z.object({ method: z.literal('temperature'), temperature: z.number().positive() }),
    )
    .optional(),
  /** Expected share of traffic the edge answers at the threshold (from eval on validation). */
  expected_edge_share: z.number().min(0).max(1).optional(),
  training_data: z
    .object({
      source: z.string(),
      fingerprint: Sha256,
      counts: z.record(z.string(), z.number().int().nonnegative()).optional(),
    })
    .optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/** Parses and validates a manifest; the error names the offending field path. */
export function parseManifest(json: unknown, source = 'manifest.json'): Manifest {
  const result = Manifest.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TypeError(`${source} is not a valid manifest: ${issues}`);
  }
  const m = result.data;
  for (const role of [m.serving.origin, m.serving.edge, m.ood?.artifact]) {
    if (role !== undefined && !(role in m.artifacts)) {
      throw new TypeError(
        `${source} is not a valid manifest: serving or ood names artifact '${role}' that is not listed`,
      );
    }
  }
  if (m.decision !== undefined) {
    const { default_label, cutoffs } = m.decision;
    const problem = !m.labels.includes(default_label)
      ? `decision.default_label '${default_label}' is not one of the labels`
      : Object.entries(cutoffs)
          .flatMap(([role, byLabel]) => [
            ...(role in m.artifacts ? [] : [`decision.cutoffs names artifact '${role}' that is not listed`]),
            ...Object.keys(byLabel)
              .filter((l) => !m.labels.includes(l))
              .map((l) => `decision.cutoffs.${role} names label '${l}' that is not one of the labels`),
          ])
          .at(0);
    if (problem !== undefined) throw new TypeError(`${source} is not a valid manifest: ${problem}`);
  }
  return m;
}

/**
 * The review threshold of releases that name none: a teacher answer whose top probability is under 0.75 (for two
 * labels, a 3:1 call or weaker) is not one a client should act on without a human.
 */
export const DEFAULT_REVIEW_THRESHOLD = 0.75;
