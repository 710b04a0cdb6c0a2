/** Messages between the runner pool (main thread) and its worker threads. */
import type { FeaturizerRef } from '../../../shared/manifest/index.ts';
import type { NumericArray, OrtType } from '../../../shared/protocol/index.ts';

export type { OrtType };

export interface WireTensor {
  name: string;
  type: OrtType;
  dims: number[];
  data: NumericArray;
}

export interface WorkerInit {
  /** The verified model bytes (the worker builds its session from them, not from the file). */
  modelBytes: Uint8Array;
  executionProvider: 'cpu' | 'cuda' | 'auto';
  intraOpThreads: number;
  /** Folder of the ORT native libraries, where CUDA provider libraries would sit. */
  ortLibDir: string | undefined;
}

export interface ValueInfo {
  name: string;
  type: string;
  /** Numbers, or -1 for a symbolic/unknown dimension. */
  shape: number[];
}

export type WorkerReady = {
  type: 'ready';
  provider: 'cpu' | 'cuda';
  /** Why CUDA was not used when it was asked for (cuda/auto), if it was not. */
  fallbackReason?: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
};
export type WorkerInitError = { type: 'init-error'; message: string };

export interface RunRequest {
  id: number;
  feeds: WireTensor[];
}

export type RunReply =
  | { type: 'result'; id: number; outputs: WireTensor[]; computeMs: number }
  | { type: 'error'; id: number; message: string };

export type WorkerMessage = WorkerReady | WorkerInitError | RunReply;

/** What a featurizer worker is started with: the manifest's featurizer reference. */
export interface FeaturizeWorkerInit {
  ref: FeaturizerRef;
}

export interface FeaturizeRequest {
  id: number;
  texts: string[];
}

export type FeaturizeReply =
  | { type: 'ready'; width: number }
  | { type: 'init-error'; message: string }
  | { type: 'ids'; id: number; ids: Int32Array }
  | { type: 'error'; id: number; message: string };
