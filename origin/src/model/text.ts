/**
 * The text route of a model whose manifest names a featurizer: texts -> featurized id rows (one INT32 [-1, L]
 * input) -> one batch item -> probabilities -> one labelled prediction per text. checkTextRoute() refuses, at
 * load, a model and featurizer that do not fit together.
 */
import { type LabelRule, labelRule } from '../../../shared/decision/index.ts';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { Manifest, TensorSpec } from '../../../shared/manifest/index.ts';
import { type Coverage, isOutOfDistribution, type OodRule, type SeenIds } from '../../../shared/ood/index.ts';
import {
  type NumericTensor,
  type Prediction,
  predictionsFromProbabilities,
  shapeText,
  type Tensor,
  textOutputs,
} from '../../../shared/protocol/index.ts';
import type { BatchItem, ItemResult, Signature, SubmitMeta } from './types.ts';

/** Turns text into fixed-length token ids (shared/featurizer). */
export interface Featurizer {
  featurize(text: string): Int32Array;
}

/** What the text route needs of a served version. */
export interface TextModel extends Signature {
  readonly version: string;
  readonly manifest: Pick<Manifest, 'labels' | 'decision' | 'serving'>;
  run(item: BatchItem, meta?: SubmitMeta): Promise<ItemResult>;
}

/** The output holding the class probabilities: the one named 'probabilities', else the first. */
function probabilitiesIndex(model: Signature): number {
  return model.outputIndex.get('probabilities') ?? 0;
}

/** Row-major ids [texts.length, width] of the texts: inline, or on a featurizer thread. */
export type FeaturizeTexts = (texts: readonly string[]) => Int32Array | Promise<Int32Array>;

/** Featurizes on the calling thread, one text at a time (for small requests). */
export function featurizeInline(featurizer: Featurizer, width: number): FeaturizeTexts {
  return (texts) => {
    const ids = new Int32Array(texts.length * width);
    texts.forEach((text, i) => {
      const row = featurizer.featurize(text);
      if (row.length !== width) {
        throw new InferenceError(
          'internal',
          `featurizer returned ${row.length} ids, the model takes ${width}`,
        );
      }
      ids.set(row, i * width);
    });
    return ids;
  };
}

/** The release's out-of-distribution rule and seen-ids bitmap (shared/ood). */
export interface OodCheck {
  seen: SeenIds;
  rule: OodRule;
}

/**
 * Classifies texts as one batch item; one prediction per text. With the release's OOD check each prediction says
 * how in-distribution its input was (`coverage`) and, when the rule calls it out of distribution, `ood: true`.
 */
export async function classifyTexts(
  model: TextModel,
  featurize: FeaturizeTexts,
  texts: readonly string[],
  meta: SubmitMeta,
  ood?: OodCheck,
): Promise<Prediction[]> {
  const { probs, ids } = await runTexts(model, featurize, texts, meta);
  return labelRows(model, probs, ids, texts.length, ood);
}

/**
 * One prediction per row of probabilities (row-major [rows, labels]); with the release's OOD check, each with its
 * input's `coverage` and `ood` from the rows' ids (row-major [rows, L]).
 */
export function labelRows(
  model: Pick<TextModel, 'manifest'>,
  probs: ArrayLike<number>,
  ids: Int32Array,
  rows: number,
  ood?: OodCheck,
): Prediction[] {
  const predictions = predictionsFromProbabilities(probs, model.manifest.labels, originRule(model));
  if (ood === undefined) return predictions;
  const coverage = ood.seen.coverageRows(ids, rows);
  return predictions.map((p, i) => {
    const c = coverage[i] as Coverage;
    return { ...p, coverage: c.coverage, features: c.features, ood: isOutOfDistribution(c, ood.rule) };
  });
}

/**
 * The predictions a raw ids request (the ONNX model's own input) was answered with, as the text route would label
 * them (with coverage and ood under an OOD check, when the ids came as an Int32Array).
 */
export function rawPredictions(
  model: TextModel,
  item: BatchItem,
  result: ItemResult,
  ood?: OodCheck,
): Prediction[] {
  const probs = (result[probabilitiesIndex(model)] as NumericTensor).data as Float32Array;
  const ids = item.data[0];
  if (ids instanceof Int32Array) return labelRows(model, probs, ids, item.rows, ood);
  return predictionsFromProbabilities(probs, model.manifest.labels, originRule(model));
}

/** The release's decision rule as the origin's artifact (the teacher) answers by it (shared/decision). */
function originRule(model: Pick<TextModel, 'manifest'>): LabelRule | undefined {
  return labelRule(model.manifest, model.manifest.serving.origin);
}

/** Runs texts as one batch item: their ids and class probabilities, row-major [texts.length, labels]. */
export async function runTexts(
  model: TextModel,
  featurize: FeaturizeTexts,
  texts: readonly string[],
  meta: SubmitMeta,
): Promise<{ probs: Float32Array; ids: Int32Array }> {
  const width = (model.inputs[0] as TensorSpec).shape[1] as number;
  const ids = await featurize(texts);
  if (ids.length !== texts.length * width) {
    throw new InferenceError(
      'internal',
      `featurizer returned ${ids.length} ids for ${texts.length} rows of ${width}`,
    );
  }
  const result = await model.run(
    { rows: texts.length, dims: [[width]], data: [ids], key: String(width) },
    meta,
  );
  return { probs: (result[probabilitiesIndex(model)] as NumericTensor).data as Float32Array, ids };
}

/** The raw path's outputs plus the text signature's derived `label` (from the probabilities). */
export function withLabel(model: TextModel, result: ItemResult): Tensor[] {
  const probs = result[probabilitiesIndex(model)] as NumericTensor;
  const data = probs.data as Float32Array;
  const answered = predictionsFromProbabilities(data, model.manifest.labels, originRule(model));
  const [, label] = textOutputs(
    data,
    model.manifest.labels,
    answered.map((p) => p.label),
  );
  return [...result, label];
}

/** Checks that the text route can work with this model (one INT32 [-1, L] input, labels matching the output). */
export function checkTextRoute(model: TextModel, featurizer: Featurizer): void {
  const where = `model ${model.name}/${model.version}`;
  const input = model.inputs[0];
  if (
    model.inputs.length !== 1 ||
    input === undefined ||
    input.datatype !== 'INT32' ||
    input.shape.length !== 2
  ) {
    throw new Error(`${where}: a featurizer needs exactly one INT32 input of shape [-1, L]`);
  }
  if (!model.batchable || (input.shape[1] as number) < 1) {
    throw new Error(
      `${where}: the featurized input needs a dynamic batch and a fixed length, got ${shapeText(input.shape)}`,
    );
  }
  const width = input.shape[1] as number;
  const probe = featurizer.featurize('warm-up: does the featurizer fit the model?');
  if (probe === undefined || !(probe instanceof Int32Array) || probe.length !== width) {
    throw new Error(`${where}: the featurizer returned ${probe?.length} ids, the model input takes ${width}`);
  }
  const labels = model.manifest.labels;
  const out = model.outputs[probabilitiesIndex(model)] as TensorSpec;
  const k = out.shape[1];
  if (out.shape.length !== 2 || (k !== -1 && k !== labels.length)) {
    throw new Error(
      `${where}: output '${out.name}' ${shapeText(out.shape)} does not give one probability per label (${labels.length})`,
    );
  }
}
