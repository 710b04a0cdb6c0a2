/**
 * The public text API: POST /v1/models/{model}/classify with `{"text": "..."}` or `{"texts": [...]}`, answered
 * with `{model, version, predictions: [{label, score, scores}], served_by, request_id}`. Used by the edge and the
 * origin alike. Runs in workerd and Node.
 */
import { z } from 'zod';
import { decideRow, type LabelRule } from '../decision/index.ts';
import { InvalidInputError } from '../errors/index.ts';
import type { TensorSpec } from '../manifest/index.ts';
import { checkItemCount, MAX_ITEMS_PER_REQUEST } from './limits.ts';
import type { BytesTensor, NumericTensor, Tensor } from './oip.ts';

/** Most texts one classify request may carry: the limit of every synchronous request. */
export const CLASSIFY_MAX_TEXTS = MAX_ITEMS_PER_REQUEST;
/** Longest text accepted, in UTF-16 code units. */
export const CLASSIFY_MAX_TEXT_LENGTH = 1_000_000;

const Text = z.string().max(CLASSIFY_MAX_TEXT_LENGTH);

export const ClassifyRequest = z.union([
  z.object({ text: Text }).strict(),
  z.object({ texts: z.array(Text).min(1).max(CLASSIFY_MAX_TEXTS) }).strict(),
]);
export type ClassifyRequest = z.infer<typeof ClassifyRequest>;

/** Who answered, cheapest first: a request's `served_by` is the most expensive path any of its items took. */
export const SERVED_BY = ['cache', 'edge', 'edge-degraded', 'origin'] as const;
export type ServedBy = (typeof SERVED_BY)[number];

export const Prediction = z.object({
  label: z.string(),
  score: z.number(),
  scores: z.record(z.string(), z.number()),
  /** Who answered this item (the edge says it per item; the origin answers every item itself). */
  served_by: z.enum(SERVED_BY).optional(),
  /**
   * How in-distribution the input was: the share of its features seen in training (shared/ood), for releases with
   * an OOD rule.
   */
  coverage: z.number().min(0).max(1).optional(),
  /** Feature ids the input had (shared/ood; few features, little evidence), with `coverage`. */
  features: z.number().int().nonnegative().optional(),
  /** The model that answered found the input out of distribution: a client may route it to a human. */
  ood: z.boolean().optional(),
  /**
   * The model's top label was under the release's cutoff for it (manifest `decision`): `label` is the release's safe
   * default (for spam: ham) and `score` that label's probability; `scores` are unchanged. Absent otherwise.
   */
  unsure: z.boolean().optional(),
  /** Why the edge sent this item to the origin (absent when it did not). */
  escalation_reason: z.string().optional(),
  /** The origin pool that answered this item (escalated items only; the edge's ORIGIN_POOLS id). */
  origin_pool: z.string().optional(),
  /**
   * No model is sure of this item (the teacher under the release's review threshold, or out of distribution): it
   * went to the human-review queue. Absent otherwise.
   */
  review: z.boolean().optional(),
});
export type Prediction = z.infer<typeof Prediction>;

export const ClassifyResponse = z.object({
  model: z.string(),
  version: z.string(),
  predictions: z.array(Prediction),
  served_by: z.enum(SERVED_BY),
  /** Items per path (the edge's answers; every path is listed, 0 included). */
  served_by_counts: z.record(z.enum(SERVED_BY), z.number().int().nonnegative()).optional(),
  request_id: z.string(),
});
export type ClassifyResponse = z.infer<typeof ClassifyResponse>;

/** Validates a parsed JSON classify body and returns its texts (a single `text` becomes one-element `texts`). */
export function parseClassifyRequest(json: unknown): string[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidInputError('classify body must be a JSON object: {"text": "..."} or {"texts": ["..."]}');
  }
  const texts = (json as { texts?: unknown }).texts;
  if (Array.isArray(texts)) checkItemCount(texts.length);
  const parsed = ClassifyRequest.safeParse(json);
  if (!parsed.success) {
    const keys = Object.keys(json);
    const hasText = keys.includes('text');
    const hasTexts = keys.includes('texts');
    let message: string;
    if (hasText && hasTexts) message = 'give either "text" or "texts", not both';
    else if (!hasText && !hasTexts) message = 'body needs "text" (a string) or "texts" (an array of strings)';
    else if (keys.length > 1)
      message = `unknown field(s): ${keys.filter((k) => k !== 'text' && k !== 'texts').join(', ')}`;
    else if (hasText) message = `"text" must be a string of at most ${CLASSIFY_MAX_TEXT_LENGTH} characters`;
    else
      message = `"texts" must be an array of 1 to ${CLASSIFY_MAX_TEXTS} strings of at most ${CLASSIFY_MAX_TEXT_LENGTH} characters`;
    throw new InvalidInputError(`invalid classify request: ${message}`);
  }
  return 'text' in parsed.data ? [parsed.data.text] : parsed.data.texts;
}

/**
 * Maps class probabilities (row-major [rows, labels.length]) to predictions: every label's probability in
 * `scores`, the label answered (the most probable one, or under the release's decision rule the safe default when
 * that one is under its cutoff, `unsure: true`; shared/decision) and its probability as `score`.
 */
export function predictionsFromProbabilities(
  probabilities: ArrayLike<number>,
  labels: readonly string[],
  rule?: LabelRule,
): Prediction[] {
  const k = labels.length;
  if (k === 0 || probabilities.length % k !== 0) {
    throw new TypeError(`${probabilities.length} probabilities do not split into rows of ${k} labels`);
  }
  const out: Prediction[] = [];
  for (let r = 0; r < probabilities.length / k; r++) {
    const scores: Record<string, number> = {};
    for (let j = 0; j < k; j++) scores[labels[j] as string] = probabilities[r * k + j] as number;
    const d = decideRow(probabilities, labels, rule, r * k);
    out.push(
      d.unsure
        ? { label: d.label, score: d.score, scores, unsure: true }
        : { label: d.label, score: d.score, scores },
    );
  }
  return out;
}

/** The OIP names of a text model's public signature (shared by both tiers: one model name, one signature). */
export const TEXT_INPUT = 'text';
export const PROBABILITIES_OUTPUT = 'probabilities';
export const LABEL_OUTPUT = 'label';

/**
 * A text model's public OIP signature, the same at the edge and the origin: input `text` (BYTES [-1], one text per
 * row) and outputs `probabilities` (FP32 [-1, labels]) and `label` (BYTES [-1], the label answered: the most probable one, or the release decision rule's default where it is unsure).
 */
export function textSignature(labels: readonly string[]): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  return {
    inputs: [{ name: TEXT_INPUT, datatype: 'BYTES', shape: [-1] }],
    outputs: [
      { name: PROBABILITIES_OUTPUT, datatype: 'FP32', shape: [-1, labels.length] },
      { name: LABEL_OUTPUT, datatype: 'BYTES', shape: [-1] },
    ],
  };
}

/** True when an OIP request speaks a text model's signature (some input is BYTES), not its raw tensors. */
export function isTextRequest(inputs: ReadonlyArray<Pick<Tensor, 'datatype'>>): boolean {
  return inputs.some((t) => t.datatype === 'BYTES');
}

/**
 * The texts of a text request: exactly one input, `text`, BYTES, of shape [n] or [n, 1] with 1 <= n <= the item
 * limit. Anything else is a 400 naming the signature.
 */
export function textsOfRequest(model: string, inputs: readonly Tensor[]): string[] {
  const input = inputs[0];
  if (inputs.length !== 1 || input === undefined || input.name !== TEXT_INPUT || input.datatype !== 'BYTES') {
    throw new InvalidInputError(
      `model '${model}' takes one input '${TEXT_INPUT}' (BYTES, shape [-1]), got ${inputs
        .map((t) => `'${t.name}' (${t.datatype})`)
        .join(', ')}`,
    );
  }
  const { shape } = input;
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw new InvalidInputError(
      `input '${TEXT_INPUT}' has shape [${shape.join(',')}], the model expects [-1] (or [-1, 1]): one text per row`,
    );
  }
  checkItemCount(input.data.length);
  if (input.data.length === 0) {
    throw new InvalidInputError(`input '${TEXT_INPUT}' holds no texts: send at least one`);
  }
  for (const text of input.data) {
    if (text.length > CLASSIFY_MAX_TEXT_LENGTH) {
      throw new InvalidInputError(
        `input '${TEXT_INPUT}': a text is longer than ${CLASSIFY_MAX_TEXT_LENGTH} characters`,
      );
    }
  }
  return input.data;
}

/**
 * A text model's outputs for rows of class probabilities (row-major [rows, labels.length]); `label` holds the labels
 * answered (the predictions' labels, decided by the release's rule) or, without them, the most probable ones.
 */
export function textOutputs(
  probabilities: Float32Array,
  labels: readonly string[],
  answered?: readonly string[],
): [NumericTensor, BytesTensor] {
  const rows = labels.length === 0 ? 0 : probabilities.length / labels.length;
  return [
    { name: PROBABILITIES_OUTPUT, datatype: 'FP32', shape: [rows, labels.length], data: probabilities },
    {
      name: LABEL_OUTPUT,
      datatype: 'BYTES',
      shape: [rows],
      data:
        answered === undefined
          ? predictionsFromProbabilities(probabilities, labels).map((p) => p.label)
          : [...answered],
    },
  ];
}

/**
 * Per-item OOD verdicts of text predictions as OIP response parameters (OIP parameters hold scalars, so lists are
 * comma-separated strings in input order): `coverage_items` (4 decimals; empty where unknown) and `ood_items`
 * (`true`/`false`). Empty when no prediction has a coverage (a release without an OOD rule).
 */
export function oodParameters(
  predictions: ReadonlyArray<Pick<Prediction, 'coverage' | 'ood'>>,
): Record<string, string> {
  if (!predictions.some((p) => p.coverage !== undefined)) return {};
  return {
    coverage_items: predictions.map((p) => (p.coverage === undefined ? '' : p.coverage.toFixed(4))).join(','),
    ood_items: predictions.map((p) => String(p.ood === true)).join(','),
  };
}

/** The UTF-8 byte length of a string as TextEncoder would encode it (a lone surrogate as U+FFFD, 3 bytes), without encoding. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0x80) n += 1;
    else if (code < 0x800) n += 2;
    else if (code >= 0xd800 && code <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
