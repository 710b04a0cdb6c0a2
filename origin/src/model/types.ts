/** The shapes a served model version works in: its tensor signature, batch items and results, options. */
import type { TensorSpec } from '../../../shared/manifest/index.ts';
import type { NumericTensor, PreparedRows } from '../../../shared/protocol/index.ts';

/** A served version's tensors and what follows from them, fixed when it loads. */
export interface Signature {
  readonly name: string;
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** Every input and output has a dynamic first dimension: the rows of several requests stack into one batch. */
  readonly batchable: boolean;
  /** Some input has a dynamic inner dimension: only items of equal inner shapes batch together (BatchItem.key). */
  readonly dynamicInnerDims: boolean;
  /** Output name -> position in `outputs` (and in an ItemResult). */
  readonly outputIndex: ReadonlyMap<string, number>;
}

/** A request's rows in the spec's input order (validated by shared/protocol's prepare). */
export type BatchItem = PreparedRows;

/** Output tensors of one item, in the spec's output order. */
export type ItemResult = NumericTensor[];

export interface SubmitMeta {
  priority?: number;
  /** Absolute deadline on the batcher's clock (performance.now() ms by default). */
  deadline?: number;
  /** Aborts when the client is gone: the request is dropped if it has not run yet. */
  signal?: AbortSignal;
  /**
   * Where this request's share of its batches' compute time is added (ms; a batch's run time split by rows), for
   * the `Server-Timing: compute` header the edge meters per tenant.
   */
  cost?: { computeMs: number };
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
