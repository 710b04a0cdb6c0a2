/**
 * One served model version: its tensor spec, its runner pool and its batcher. Validates requests against the
 * spec, concatenates the rows of a batch along the batch dimension and splits the outputs back.
 */
import { InferenceError, InvalidInputError } from '../../shared/errors/index.ts';
import type { Manifest, TensorSpec } from '../../shared/manifest/index.ts';
import {
  elementCount,
  type InferRequest,
  type ModelMetadata,
  type NumericArray,
  type NumericDatatype,
  type Prediction,
  predictionsFromProbabilities,
  type RequestedOutput,
  type Tensor,
  TYPED_ARRAY,
} from '../../shared/protocol/index.ts';
import { Batcher, type Clock } from './batcher.ts';
import type { ModelMetrics } from './metrics.ts';
import type { OrtType, WireTensor } from './runner/messages.ts';
import type { RunnerPool } from './runner/pool.ts';

/** Turns text into fixed-length token ids (shared/featurizer). */
export interface Featurizer {
  featurize(text: string): Int32Array;
}

const OIP_TO_ORT: Record<NumericDatatype, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};
const ORT_TO_OIP = Object.fromEntries(Object.entries(OIP_TO_ORT).map(([k, v]) => [v, k])) as Record<
  string,
  NumericDatatype
>;

/** OIP datatype of an ORT type name, or undefined (strings, maps, sequences). */
export function oipDatatype(ortType: string): NumericDatatype | undefined {
  return ORT_TO_OIP[ortType];
}

export interface BatchingOptions {
  maxBatch: number;
  preferredBatch: readonly number[];
  maxQueueDelayMs: number;
  maxQueue: number;
  priorityLevels: number;
  defaultPriority: number;
  workers: number;
}

/** A request's rows in the spec's input order. */
export interface BatchItem {
  rows: number;
  /** Non-batch dims of each input (same order as the spec's inputs). */
  dims: number[][];
  data: NumericArray[];
  key: string;
}

/** Output tensors of one item, in the spec's output order. */
export type ItemResult = Tensor[];

export interface ServedModelOptions {
  manifest: Manifest;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  pool: RunnerPool;
  batching: BatchingOptions;
  metrics: ModelMetrics;
  featurizer?: Featurizer;
  clock?: Clock;
}

export interface SubmitMeta {
  priority?: number;
  /** Absolute deadline on the batcher's clock (performance.now() ms by default). */
  deadline?: number;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export class ServedModel {
  readonly name: string;
  readonly version: string;
  readonly manifest: Manifest;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly batchable: boolean;
  readonly batcher: Batcher<BatchItem, ItemResult>;
  readonly metrics: ModelMetrics;
  readonly #pool: RunnerPool;
  readonly #featurizer: Featurizer | undefined;
  readonly #dynamicInnerDims: boolean;
  readonly #outputIndex: Map<string, number>;
  #ready = false;

  constructor(options: ServedModelOptions) {
    const { manifest, inputs, outputs } = options;
    this.name = manifest.name;
    this.version = manifest.version;
    this.manifest = manifest;
    this.inputs = inputs;
    this.outputs = outputs;
    this.metrics = options.metrics;
    this.#pool = options.pool;
    this.#featurizer = options.featurizer;
    this.batchable = inputs.every((s) => s.shape[0] === -1) && outputs.every((s) => s.shape[0] === -1);
    this.#dynamicInnerDims = inputs.some((s) => s.shape.slice(1).includes(-1));
    this.#outputIndex = new Map(outputs.map((o, i) => [o.name, i]));
    const b = options.batching;
    const maxBatch = this.batchable ? b.maxBatch : 1;
    this.batcher = new Batcher<BatchItem, ItemResult>({
      execute: (items) => this.#execute(items),
      rowsOf: (item) => item.rows,
      ...(this.#dynamicInnerDims ? { keyOf: (item: BatchItem) => item.key } : {}),
      maxBatchRows: maxBatch,
      preferredBatchRows: b.preferredBatch.filter((p) => p <= maxBatch),
      maxQueueDelayMs: b.maxQueueDelayMs,
      maxQueueRows: b.maxQueue,
      concurrency: b.workers,
      priorityLevels: b.priorityLevels,
      defaultPriority: b.defaultPriority,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      observer: { dequeued: (_item, waitMs) => this.metrics.queued(waitMs / 1000) },
    });
  }

  get ready(): boolean {
    return this.#ready && !this.batcher.closed && this.#pool.size > 0;
  }
  get provider(): 'cpu' | 'cuda' {
    return this.#pool.provider;
  }
  get hasFeaturizer(): boolean {
    return this.#featurizer !== undefined;
  }
  /** Rows waiting in this version's queue (reported as x-queue-depth). */
  get queueDepth(): number {
    return this.batcher.queuedRows;
  }

  metadata(versions: string[]): ModelMetadata {
    return {
      name: this.name,
      versions,
      platform: 'onnxruntime_onnx',
      inputs: this.inputs,
      outputs: this.outputs,
      parameters: {
        version: this.version,
        labels: this.manifest.labels,
        execution_provider: this.provider,
        max_batch_size: this.batcher.maxBatchRows,
        text_route: this.hasFeaturizer,
      },
    };
  }

  /** Validates a decoded request against the spec; returns the batch item and the outputs to return. */
  prepare(request: InferRequest): { item: BatchItem; outputs: RequestedOutput[] } {
    const byName = new Map<string, Tensor>();
    for (const t of request.inputs) {
      if (!this.inputs.some((s) => s.name === t.name)) {
        throw new InvalidInputError(
          `model '${this.name}' has no input '${t.name}' (inputs: ${this.inputs.map((s) => s.name).join(', ')})`,
        );
      }
      byName.set(t.name, t);
    }
    let rows = -1;
    const dims: number[][] = [];
    const data: NumericArray[] = [];
    for (const spec of this.inputs) {
      const t = byName.get(spec.name);
      if (t === undefined) throw new InvalidInputError(`input '${spec.name}' is missing`);
      if (t.datatype !== spec.datatype) {
        throw new InvalidInputError(`input '${spec.name}' must be ${spec.datatype}, got ${t.datatype}`);
      }
      const ok =
        t.shape.length === spec.shape.length &&
        t.shape.every((d, i) =>
          i === 0 && this.batchable ? d >= 1 : spec.shape[i] === -1 || spec.shape[i] === d,
        );
      if (!ok) {
        throw new InvalidInputError(
          `input '${spec.name}' has shape ${shapeText(t.shape)}, the model expects ${shapeText(spec.shape)} (-1: any size)`,
        );
      }
      const r = this.batchable ? (t.shape[0] as number) : 1;
      if (rows !== -1 && r !== rows) {
        throw new InvalidInputError(
          `inputs disagree on the batch size: '${spec.name}' has ${r} rows, others ${rows}`,
        );
      }
      rows = r;
      dims.push(this.batchable ? t.shape.slice(1) : t.shape);
      data.push(t.data);
    }
    const outputs =
      request.outputs ?? this.outputs.map((o) => ({ name: o.name, binary: request.binaryOutput }));
    for (const o of outputs) {
      if (!this.#outputIndex.has(o.name)) {
        throw new InvalidInputError(
          `model '${this.name}' has no output '${o.name}' (outputs: ${this.outputs.map((s) => s.name).join(', ')})`,
        );
      }
    }
    const key = this.#dynamicInnerDims ? dims.map((d) => d.join('x')).join('|') : '';
    return { item: { rows, dims, data, key }, outputs };
  }

  /** Runs a prepared item through the batcher. */
  run(item: BatchItem, meta: SubmitMeta = {}): Promise<ItemResult> {
    return this.batcher.submit(item, meta);
  }

  /** Picks the requested outputs of a result, each marked binary or not. */
  select(result: ItemResult, outputs: readonly RequestedOutput[]): Array<Tensor & { binary: boolean }> {
    return outputs.map((o) => ({
      ...(result[this.#outputIndex.get(o.name) as number] as Tensor),
      binary: o.binary,
    }));
  }

  /** Zero-valued outputs shaped as inference would shape them (the benchmark's no-inference ceiling). */
  echo(item: BatchItem): ItemResult {
    return this.outputs.map((o) => {
      const shape = o.shape.map((d, i) => (i === 0 && this.batchable ? item.rows : d === -1 ? 1 : d));
      const Ctor = TYPED_ARRAY[o.datatype as NumericDatatype];
      return {
        name: o.name,
        datatype: o.datatype as NumericDatatype,
        shape,
        data: new Ctor(elementCount(shape)),
      };
    });
  }

  /** Classifies texts through the featurizer; one prediction per text. */
  async classify(texts: readonly string[], meta: SubmitMeta = {}): Promise<Prediction[]> {
    const featurizer = this.#featurizer;
    if (featurizer === undefined) {
      throw new InferenceError(
        'not_found',
        `model '${this.name}' has no featurizer, so it has no text route; use /v2 infer`,
      );
    }
    const spec = this.inputs[0] as TensorSpec;
    const width = spec.shape[1] as number;
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
    const result = await this.run(
      { rows: texts.length, dims: [[width]], data: [ids], key: String(width) },
      meta,
    );
    const probs = result[this.#probabilitiesIndex()] as Tensor;
    return predictionsFromProbabilities(probs.data as Float32Array, this.manifest.labels);
  }

  #probabilitiesIndex(): number {
    return this.#outputIndex.get('probabilities') ?? 0;
  }

  /** Checks that the text route can work with this model (one INT32 [-1, L] input, labels matching the output). */
  checkTextRoute(): void {
    const where = `model ${this.name}/${this.version}`;
    const input = this.inputs[0];
    if (
      this.inputs.length !== 1 ||
      input === undefined ||
      input.datatype !== 'INT32' ||
      input.shape.length !== 2
    ) {
      throw new Error(`${where}: a featurizer needs exactly one INT32 input of shape [-1, L]`);
    }
    if (!this.batchable || (input.shape[1] as number) < 1) {
      throw new Error(
        `${where}: the featurized input needs a dynamic batch and a fixed length, got ${shapeText(input.shape)}`,
      );
    }
    const width = input.shape[1] as number;
    const probe = this.#featurizer?.featurize('warm-up: does the featurizer fit the model?');
    if (probe === undefined || !(probe instanceof Int32Array) || probe.length !== width) {
      throw new Error(
        `${where}: the featurizer returned ${probe?.length} ids, the model input takes ${width}`,
      );
    }
    const out = this.outputs[this.#probabilitiesIndex()] as TensorSpec;
    const k = out.shape[1];
    if (out.shape.length !== 2 || (k !== -1 && k !== this.manifest.labels.length)) {
      throw new Error(
        `${where}: output '${out.name}' ${shapeText(out.shape)} does not give one probability per label (${this.manifest.labels.length})`,
      );
    }
  }

  /** Runs every worker once at batch 1 and once at the max batch, then marks the model ready. */
  async warmUp(): Promise<void> {
    const sizes = this.batchable ? [...new Set([1, this.batcher.maxBatchRows])] : [1];
    for (const rows of sizes) {
      const runs = Array.from({ length: this.#pool.size }, () =>
        this.#pool.run(
          this.inputs.map((s) => {
            const shape = s.shape.map((d, i) => (i === 0 && this.batchable ? rows : d === -1 ? 1 : d));
            const Ctor = TYPED_ARRAY[s.datatype as NumericDatatype];
            return {
              name: s.name,
              type: OIP_TO_ORT[s.datatype as NumericDatatype],
              dims: shape,
              data: new Ctor(elementCount(shape)),
            };
          }),
        ),
      );
      await Promise.all(runs);
    }
    if (this.#featurizer !== undefined) this.checkTextRoute();
    this.#ready = true;
  }

  async #execute(items: readonly BatchItem[]): Promise<ItemResult[]> {
    let total = 0;
    for (const it of items) total += it.rows;
    const feeds: WireTensor[] = this.inputs.map((spec, j) => {
      const first = items[0] as BatchItem;
      const inner = first.dims[j] as number[];
      const Ctor = TYPED_ARRAY[spec.datatype as NumericDatatype];
      const rowElems = elementCount(inner);
      const data = new Ctor(total * rowElems);
      let offset = 0;
      for (const it of items) {
        data.set(it.data[j] as never, offset);
        offset += it.rows * rowElems;
      }
      return {
        name: spec.name,
        type: OIP_TO_ORT[spec.datatype as NumericDatatype],
        dims: this.batchable ? [total, ...inner] : inner,
        data,
      };
    });
    let run: Awaited<ReturnType<RunnerPool['run']>>;
    try {
      run = await this.#pool.run(feeds);
    } catch (err) {
      // A failure of one request alone is its input's fault (e.g. ids outside the embedding table): 400. A batch of
      // several fails with a plain Error so the batcher re-runs each item alone and only the bad one fails.
      if (items.length === 1 && !(err instanceof InferenceError)) {
        throw new InvalidInputError(
          `the model could not run this input: ${(err as Error).message.slice(0, 300)}`,
        );
      }
      throw err;
    }
    const { outputs, computeMs } = run;
    this.metrics.executed(total, computeMs / 1000);

    const byName = new Map(outputs.map((o) => [o.name, o]));
    const results: ItemResult[] = items.map(() => []);
    for (const spec of this.outputs) {
      const out = byName.get(spec.name);
      if (out === undefined) throw new Error(`the model produced no output '${spec.name}'`);
      const datatype = ORT_TO_OIP[out.type];
      if (datatype === undefined) throw new Error(`output '${spec.name}' has unsupported type ${out.type}`);
      if (!this.batchable) {
        (results[0] as ItemResult).push({ name: spec.name, datatype, shape: out.dims, data: out.data });
        continue;
      }
      if (out.dims[0] !== total) {
        throw new Error(`output '${spec.name}' has ${out.dims[0]} rows for a batch of ${total}`);
      }
      const inner = out.dims.slice(1);
      const rowElems = elementCount(inner);
      let row = 0;
      items.forEach((it, i) => {
        const data = out.data.subarray(row * rowElems, (row + it.rows) * rowElems) as NumericArray;
        (results[i] as ItemResult).push({ name: spec.name, datatype, shape: [it.rows, ...inner], data });
        row += it.rows;
      });
    }
    return results;
  }

  /** Refuses new work; queued and running work completes. */
  close(): void {
    this.batcher.close();
  }

  drain(): Promise<void> {
    return this.batcher.drain();
  }

  async dispose(): Promise<void> {
    this.batcher.close();
    await this.#pool.close();
  }
}
