/**
 * The featurizer's configuration: everything needed to reproduce the ids exactly. It travels in the model
 * manifest (`manifest.featurizer.config`), so edge, origin and training all build the same featurizer.
 */

export interface FeaturizerConfig {
  /** Hash buckets: ids fall in [1, buckets), 0 is padding. @default 65536 */
  buckets: number;
  /** Ids per message; shorter outputs are padded with 0. @default 1024 */
  maxLength: number;
  /** Seed of every token hash. @default 1 */
  seed: number;
  /** Emit word bigrams (subject and body) beside unigrams. @default false (cross-validation: bigrams crowd out
   * unigrams within maxLength and cost ~0.2 pt accuracy on this corpus) */
  bigrams: boolean;
  /** Character n-gram lengths over subject words (with `<` `>` boundaries). @default [3, 4, 5] */
  subjectCharNgrams: number[];
  /** Character n-gram lengths over body words (with `<` `>` boundaries). @default [] */
  bodyCharNgrams: number[];
  /** Count each body token once (presence, not frequency), so long messages cover more vocabulary. @default true */
  dedupeBody: boolean;
  /** At most this many ids from header names and values. @default 160 */
  maxHeaderTokens: number;
  /** At most this many ids from the Subject. @default 96 */
  maxSubjectTokens: number;
  /** At most this many ids from URLs and e-mail addresses (domains, URL path words). @default 64 */
  maxLinkTokens: number;
  /** At most this many decoded body characters are tokenized. @default 32768 */
  maxBodyChars: number;
  /** Raw input beyond this many characters is ignored (bounds the cost of huge messages). @default 524288 */
  maxInputChars: number;
}

export const DEFAULT_FEATURIZER_CONFIG: Readonly<FeaturizerConfig> = Object.freeze({
  buckets: 65536,
  maxLength: 1024,
  seed: 1,
  bigrams: false,
  subjectCharNgrams: [3, 4, 5],
  bodyCharNgrams: [],
  dedupeBody: true,
  maxHeaderTokens: 160,
  maxSubjectTokens: 96,
  maxLinkTokens: 64,
  maxBodyChars: 32768,
  maxInputChars: 524288,
});

function intField(
  cfg: Record<string, unknown>,
  field: keyof FeaturizerConfig,
  min: number,
  max: number,
): number {
  const v = cfg[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(
      `featurizer config.${field} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function boolField(cfg: Record<string, unknown>, field: keyof FeaturizerConfig): boolean {
  const v = cfg[field];
  if (typeof v !== 'boolean') {
    throw new TypeError(`featurizer config.${field} must be a boolean, got ${JSON.stringify(v)}`);
  }
  return v;
}

function ngramField(cfg: Record<string, unknown>, field: keyof FeaturizerConfig): number[] {
  const v = cfg[field];
  if (!Array.isArray(v) || v.length > 6 || v.some((n) => !Number.isInteger(n) || n < 2 || n > 8)) {
    throw new TypeError(
      `featurizer config.${field} must be at most 6 integers in [2, 8], got ${JSON.stringify(v)}`,
    );
  }
  return [...(v as number[])];
}

/**
 * Fills defaults and validates; throws a TypeError naming the field, the expected range and the value.
 * Unknown fields are rejected too: a config from a newer featurizer must not be silently half-applied.
 */
export function resolveFeaturizerConfig(partial: Partial<FeaturizerConfig> = {}): FeaturizerConfig {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new TypeError(`featurizer config must be an object, got ${JSON.stringify(partial)}`);
  }
  for (const key of Object.keys(partial)) {
    if (!(key in DEFAULT_FEATURIZER_CONFIG)) {
      throw new TypeError(`featurizer config.${key} is not a known field`);
    }
  }
  const cfg: Record<string, unknown> = { ...DEFAULT_FEATURIZER_CONFIG, ...partial };
  return {
    buckets: intField(cfg, 'buckets', 2, 1 << 30),
    maxLength: intField(cfg, 'maxLength', 1, 1 << 16),
    seed: intField(cfg, 'seed', 0, 0x7fffffff),
    bigrams: boolField(cfg, 'bigrams'),
    subjectCharNgrams: ngramField(cfg, 'subjectCharNgrams'),
    bodyCharNgrams: ngramField(cfg, 'bodyCharNgrams'),
    dedupeBody: boolField(cfg, 'dedupeBody'),
    maxHeaderTokens: intField(cfg, 'maxHeaderTokens', 0, 1 << 16),
    maxSubjectTokens: intField(cfg, 'maxSubjectTokens', 0, 1 << 16),
    maxLinkTokens: intField(cfg, 'maxLinkTokens', 0, 1 << 16),
    maxBodyChars: intField(cfg, 'maxBodyChars', 0, 1 << 26),
    maxInputChars: intField(cfg, 'maxInputChars', 0, 1 << 28),
  };
}
