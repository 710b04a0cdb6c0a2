/**
 * The one featurizer of the system, used by training, the edge (workerd) and the origin (Node): a raw e-mail or
 * plain text becomes `maxLength` hashed token ids in [1, buckets), padded with 0 (EmbeddingBag-style input).
 *
 * Teacher and student share one configuration: the student folds the ids into its smaller embedding table
 * inside its ONNX graph (`Mod`), so the edge featurizes once and the same ids could go on to the origin.
 * No Node built-ins: Web APIs only (TextDecoder, atob).
 */
import { type FeaturizerConfig, resolveFeaturizerConfig } from './config.ts';
import { EmailFeaturizer } from './featurize.ts';

export { DEFAULT_FEATURIZER_CONFIG, type FeaturizerConfig, resolveFeaturizerConfig } from './config.ts';

export const FEATURIZER_NAME = 'email-hash';
/** Bump on any change that alters ids for the same config; manifests pin it. */
export const FEATURIZER_VERSION = '1.0.0';

export interface Featurizer {
  readonly name: string;
  readonly version: string;
  readonly config: Readonly<FeaturizerConfig>;
  /** Ids of one message: an Int32Array of length `config.maxLength`. */
  featurize(raw: string | Uint8Array): Int32Array;
  /** Ids of many messages, row-major [raws.length, maxLength]. */
  featurizeBatch(raws: readonly (string | Uint8Array)[]): Int32Array;
  /** Writes one message's ids into `out` at `offset` (for callers that own the batch buffer). */
  featurizeInto(raw: string | Uint8Array, out: Int32Array, offset?: number): void;
}

/** Builds a featurizer; the config is validated (TypeError naming the field) and defaults filled. */
export function createFeaturizer(config: Partial<FeaturizerConfig> = {}): Featurizer {
  const cfg = Object.freeze(resolveFeaturizerConfig(config));
  const engine = new EmailFeaturizer(cfg);
  const L = cfg.maxLength;
  return {
    name: FEATURIZER_NAME,
    version: FEATURIZER_VERSION,
    config: cfg,
    featurize(raw) {
      const out = new Int32Array(L);
      engine.featurizeInto(raw, out, 0);
      return out;
    },
    featurizeBatch(raws) {
      if (!Array.isArray(raws)) throw new TypeError('featurizeBatch expects an array of messages');
      const out = new Int32Array(raws.length * L);
      for (let i = 0; i < raws.length; i++) engine.featurizeInto(raws[i] as string | Uint8Array, out, i * L);
      return out;
    },
    featurizeInto(raw, out, offset = 0) {
      if (!Number.isInteger(offset) || offset < 0 || offset + L > out.length) {
        throw new TypeError(
          `featurizeInto offset must be an integer in [0, ${out.length - L}], got ${offset}`,
        );
      }
      engine.featurizeInto(raw, out, offset);
    },
  };
}

/** What a manifest records about the featurizer (`manifest.featurizer`). */
export interface FeaturizerRef {
  name: string;
  version: string;
  config: Record<string, unknown>;
}

/** The manifest entry for a featurizer built by this code. */
export function featurizerRef(config: Partial<FeaturizerConfig> = {}): FeaturizerRef {
  return {
    name: FEATURIZER_NAME,
    version: FEATURIZER_VERSION,
    config: { ...resolveFeaturizerConfig(config) },
  };
}

/**
 * The featurizer a release was trained with, from its manifest entry. Refuses a different featurizer name or
 * version: serving with other ids than training used would be silently wrong.
 */
export function featurizerFromManifest(ref: FeaturizerRef | undefined): Featurizer {
  if (ref === undefined) throw new TypeError('manifest.featurizer is missing');
  if (ref.name !== FEATURIZER_NAME || ref.version !== FEATURIZER_VERSION) {
    throw new TypeError(
      `manifest.featurizer is ${ref.name}@${ref.version}, this code implements ${FEATURIZER_NAME}@${FEATURIZER_VERSION}`,
    );
  }
  return createFeaturizer(ref.config as Partial<FeaturizerConfig>);
}
