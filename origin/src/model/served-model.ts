/**
 * One served model version: its signature, its runner pool and its batcher. Requests are validated (validate.ts),
 * queued, run as batches on the pool (batch.ts) and split back; texts go through the text route (text.ts).
 * warmUp() runs every worker (and the inline session, when the pool has one) once before the version reports ready.
 */
import { InvalidInputError } from '../../../shared/errors/index.ts';
import type { Manifest, TensorSpec } from '../../../shared/manifest/index.ts';
import {
  type CascadeOutput,
  type InferRequest,
  isTextRequest,
  LABEL_OUTPUT,
  type ModelMetadata,
  noTextRouteError,
  oodParameters,
  type Prediction,
  predictionsFromOutput,
  prepare,
  selectOutputs,
  type Tensor,
  tensorSignature,
  textOutputs,
  textSignature,
  textsOfRequest,
} from '../../../shared/protocol/index.ts';
import { Batcher, type Clock } from '../batcher.ts';

/** The cascade output of a tensor release, or undefined (text releases, raw models without one that fits). */
function cascadeOutputOf(manifest: Manifest): CascadeOutput | undefined {
  try {
    return tensorSignature(manifest)?.cascade;
  } catch {
    return undefined;
  }
}

import type { ModelMetrics } from '../metrics.ts';
import { toWire } from '../runner/datatypes.ts';
import type { FeaturizePool } from '../runner/featurize-pool.ts';
import type { RunnerPool } from '../runner/pool.ts';
import { batchFeeds, splitOutputs, zeros } from './batch.ts';
import { runFailure } from './run-failure.ts';
import {
  checkTextRoute,
  classifyTexts,
  type Featurizer,
  type FeaturizeTexts,
  featurizeInline,
  labelRows,
  type OodCheck,
  rawPredictions,
  runTexts,
  withLabel,
} from './text.ts';
import type { BatchItem, BatchingOptions, ItemResult, Signature, SubmitMeta } from './types.ts';

export interface ServedModelOptions {
  manifest: Manifest;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  pool: RunnerPool;
  batching: BatchingOptions;
  metrics: ModelMetrics;
  featurizer?: Featurizer;
  /** The release's OOD rule and seen-ids bitmap: text answers then carry `coverage` and `ood`. */
  ood?: OodCheck;
  clock?: Clock;
}

export class ServedModel implements Signature {
  readonly name: string;
  readonly version: string;
  readonly manifest: Manifest;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  readonly batchable: boolean;
  readonly dynamicInnerDims: boolean;
  readonly outputIndex: ReadonlyMap<string, number>;
  readonly batcher: Batcher<BatchItem, ItemResult>;
  readonly metrics: ModelMetrics;
  readonly #capacity: number;
  /** The priority level of requests that name none (the batcher's default): also their featurizing queue level. */
  readonly #defaultPriority: number;
  readonly #pool: RunnerPool;
  readonly #featurizer: Featurizer | undefined;
  readonly #ood: OodCheck | undefined;
  /** A tensor release's cascade output (shared/protocol tensorSignature): its answers feed the drift metrics. */
  readonly #cascade: CascadeOutput | undefined;
  #offload: { pool: FeaturizePool; inlineChars: number } | undefined;
  #ready = false;
  /** Items whose request wants its compute share (SubmitMeta.cost). */
  readonly #costs = new WeakMap<BatchItem, { computeMs: number }>();

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
    this.#ood = options.ood;
    this.#cascade = this.#featurizer === undefined ? cascadeOutputOf(manifest) : undefined;
    this.metrics.release({
      labels: this.#featurizer === undefined && this.#cascade === undefined ? [] : manifest.labels,
      coverage: this.#featurizer !== undefined && this.#ood !== undefined,
      baseline: manifest.baseline?.origin,
      expectedEdgeShare: manifest.expected_edge_share,
    });
    this.batchable = inputs.every((s) => s.shape[0] === -1) && outputs.every((s) => s.shape[0] === -1);
    this.dynamicInnerDims = inputs.some((s) => s.shape.slice(1).includes(-1));
    this.outputIndex = new Map(outputs.map((o, i) => [o.name, i]));
    const b = options.batching;
    this.#capacity = b.maxQueue;
    this.#defaultPriority = b.defaultPriority ?? b.priorityLevels;
    const maxBatch = this.batchable ? b.maxBatch : 1;
    this.batcher = new Batcher<BatchItem, ItemResult>({
      execute: (items) => this.#execute(items),
      rowsOf: (item) => item.rows,
      ...(this.dynamicInnerDims ? { keyOf: (item: BatchItem) => item.key } : {}),
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
  /** Rows this version queues before it sheds load (ORIGIN_MAX_QUEUE; reported as x-origin-capacity). */
  get capacity(): number {
    return this.#capacity;
  }
  /** Rows waiting in this version's queue (reported as x-queue-depth). */
  get queueDepth(): number {
    return this.batcher.queuedRows;
  }

  /**
   * The public OIP signature: a text model's (`text` in; `probabilities`, `label` out; shared/protocol
   * textSignature, the edge's too) when it has a featurizer, else the session's own tensors.
   */
  get signature(): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
    if (this.#featurizer === undefined) return { inputs: this.inputs, outputs: this.outputs };
    return textSignature(this.manifest.labels);
  }

  metadata(versions: string[]): ModelMetadata {
    const { inputs, outputs } = this.signature;
    return {
      name: this.name,
      versions,
      platform: 'onnxruntime_onnx',
      inputs,
      outputs,
      parameters: {
        version: this.version,
        labels: this.manifest.labels,
        ...(this.manifest.threshold === undefined ? {} : { threshold: this.manifest.threshold }),
        execution_provider: this.provider,
        execution_providers: this.#pool.providers,
        max_batch_size: this.batcher.maxBatchRows,
        text_route: this.hasFeaturizer,
        // A text model also takes its featurized ids directly (the ONNX model's own inputs), in place of `text`.
        ...(this.hasFeaturizer ? { raw_inputs: this.inputs } : {}),
        ...(this.#ood === undefined ? {} : { ood: this.#ood.rule }),
        // The decision rule (shared/decision): the labels answered; clients wanting their own cutoffs read scores.
        ...(this.manifest.decision === undefined ? {} : { decision: this.manifest.decision }),
      },
    };
  }

  /**
   * Answers a decoded OIP request with the outputs it asked for: a text request (a BYTES `text` input) through the
   * featurizer, raw tensors (the ONNX model's inputs) through the batcher directly. A text model's `label` output
   * is derived from its probabilities on both paths.
   */
  async infer(
    request: InferRequest,
    meta: SubmitMeta = {},
  ): Promise<{ outputs: Array<Tensor & { binary: boolean }>; parameters: Record<string, string> }> {
    if (this.#featurizer !== undefined && isTextRequest(request.inputs)) {
      const texts = textsOfRequest(this.name, request.inputs);
      selectOutputs(this.name, this.signature.outputs, request);
      if (texts.length > this.batcher.maxBatchRows) {
        throw new InvalidInputError(
          `${texts.length} texts exceed this model's max batch of ${this.batcher.maxBatchRows}; split the request`,
        );
      }
      const { probs, ids } = await runTexts(this, this.#featurize(texts, meta.priority), texts, meta);
      const predictions = labelRows(this, probs, ids, texts.length, this.#ood);
      this.metrics.predicted(predictions);
      return {
        outputs: selectOutputs(
          this.name,
          textOutputs(
            probs,
            this.manifest.labels,
            predictions.map((p) => p.label),
          ),
          request,
        ),
        parameters: oodParameters(predictions),
      };
    }
    const item = prepare(this, request);
    selectOutputs(this.name, this.#rawOutputs, request);
    const result = await this.run(item, meta);
    let parameters: Record<string, string> = {};
    if (this.#featurizer !== undefined) {
      const predictions = rawPredictions(this, item, result, this.#ood);
      this.metrics.predicted(predictions);
      parameters = oodParameters(predictions);
    } else if (this.#cascade !== undefined) {
      const out = result[this.outputIndex.get(this.#cascade.spec.name) as number];
      if (out !== undefined && out.datatype === 'FP32') {
        const data = out.data as Float32Array;
        this.metrics.predicted(predictionsFromOutput(data, this.#cascade.kind, this.manifest.labels));
      }
    }
    return { outputs: selectOutputs(this.name, this.#withDerived(result), request), parameters };
  }

  /** Validates like infer() and answers zeros shaped as inference would (the benchmark's no-inference ceiling). */
  echo(request: InferRequest): {
    outputs: Array<Tensor & { binary: boolean }>;
    parameters: Record<string, string>;
  } {
    const item = prepare(this, request);
    selectOutputs(this.name, this.#rawOutputs, request);
    const zero = zeros(this.outputs, item.rows, this.batchable);
    return { outputs: selectOutputs(this.name, this.#withDerived(zero), request), parameters: {} };
  }

  /** Runs a prepared item through the batcher. */
  run(item: BatchItem, meta: SubmitMeta = {}): Promise<ItemResult> {
    if (meta.cost !== undefined) this.#costs.set(item, meta.cost);
    return this.batcher.submit(item, meta);
  }

  /** The outputs a raw tensor request may ask for: the session's, plus `label` for a text model. */
  get #rawOutputs(): Array<{ name: string }> {
    return this.#featurizer === undefined ? this.outputs : [...this.outputs, { name: LABEL_OUTPUT }];
  }

  #withDerived(result: ItemResult): Tensor[] {
    return this.#featurizer === undefined ? result : withLabel(this, result);
  }

  /** Classifies texts through the featurizer; one prediction per text. */
  classify(texts: readonly string[], meta: SubmitMeta = {}): Promise<Prediction[]> {
    const featurizer = this.#featurizer;
    if (featurizer === undefined) {
      return Promise.reject(noTextRouteError(this.name));
    }
    return classifyTexts(this, this.#featurize(texts, meta.priority), texts, meta, this.#ood).then(
      (predictions) => {
        this.metrics.predicted(predictions);
        return predictions;
      },
    );
  }

  /**
   * Inline for small requests, on the featurizer threads from `inlineChars` characters (when offloading), queued
   * there by the request's priority.
   */
  #featurize(texts: readonly string[], priority: number | undefined): FeaturizeTexts {
    const featurizer = this.#featurizer as Featurizer;
    const width = (this.inputs[0] as TensorSpec).shape[1] as number;
    const offload = this.#offload;
    let chars = 0;
    if (offload !== undefined) for (const t of texts) chars += t.length;
    return offload !== undefined && chars >= offload.inlineChars
      ? (t: readonly string[]) => offload.pool.featurize(t, priority ?? this.#defaultPriority)
      : featurizeInline(featurizer, width);
  }

  /**
   * Featurizes text requests of at least `inlineChars` characters on `pool`'s threads from now on (the pool must
   * build this version's featurizer); the model closes the pool when disposed.
   */
  offloadFeaturizing(pool: FeaturizePool, inlineChars: number): void {
    const width = (this.inputs[0] as TensorSpec | undefined)?.shape[1];
    if (pool.width !== width) {
      throw new Error(
        `model ${this.name}/${this.version}: the featurizer threads give ${pool.width} ids, the model takes ${width}`,
      );
    }
    this.#offload = { pool, inlineChars };
  }

  /** Has live workers, or a replacement on its way (false once its pool gave up). */
  get serviceable(): boolean {
    return this.#pool.serviceable;
  }

  /** Terminates one idle worker as a crash would (fault drills and tests); see RunnerPool.killWorker. */
  killWorker(index: number): Promise<void> {
    return this.#pool.killWorker(index);
  }

  /** Text batches featurized off the event loop so far. */
  get offloadedFeaturizations(): number {
    return this.#offload?.pool.featurized ?? 0;
  }

  /**
   * Runs every worker (and the inline session) at batch 1 and at the max batch, checks the text route, then marks
   * ready. Twice: a session's first runs are slow (lazy initialisation), so the run-time estimates that decide
   * inline runs are taken from the second pass.
   */
  async warmUp(): Promise<void> {
    const sizes = this.batchable ? [...new Set([1, this.batcher.maxBatchRows])] : [1];
    for (let pass = 0; pass < 2; pass++) {
      if (pass === 1) this.#pool.forgetCosts();
      for (const rows of sizes) {
        const runs = Array.from({ length: this.#pool.size }, () =>
          this.#pool.run(zeros(this.inputs, rows, this.batchable).map(toWire), 'worker'),
        );
        await Promise.all(runs);
        if (this.#pool.hasInline)
          await this.#pool.run(zeros(this.inputs, rows, this.batchable).map(toWire), 'inline');
      }
    }
    if (this.#featurizer !== undefined) checkTextRoute(this, this.#featurizer);
    this.#ready = true;
  }

  async #execute(items: readonly BatchItem[]): Promise<ItemResult[]> {
    let total = 0;
    for (const it of items) total += it.rows;
    const feeds = batchFeeds(this, items, total);
    let run: Awaited<ReturnType<RunnerPool['run']>>;
    try {
      run = await this.#pool.run(feeds);
    } catch (err) {
      // A batch of several fails with a plain Error so the batcher re-runs each item alone and only the bad one
      // fails; a request alone gets 400 when ORT blames its input, 500 otherwise (run-failure.ts).
      if (items.length === 1) throw runFailure(err);
      throw err;
    }
    this.metrics.executed(total, run.computeMs / 1000, run.inline === true);
    for (const it of items) {
      const cost = this.#costs.get(it);
      if (cost !== undefined) cost.computeMs += (run.computeMs * it.rows) / total;
    }
    return splitOutputs(this, run.outputs, items, total);
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
    await Promise.all([this.#pool.close(), this.#offload?.pool.close()]);
  }
}
