/**
 * Featurizer threads for one model version's text route: `featurize(texts)` posts the texts to the least busy
 * worker and resolves with row-major ids [texts.length, width]. The featurizer is linear in its input but a 32 KB
 * message still costs a millisecond or more (npm run bench:featurizer), which the event loop must not spend: health
 * probes and every other request would wait behind it. A worker that dies fails its pending batches with 503
 * `unavailable` and is replaced.
 */
import { Worker } from 'node:worker_threads';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { FeaturizerRef } from '../../../shared/manifest/index.ts';
import type { FeaturizeReply, FeaturizeRequest, FeaturizeWorkerInit } from './messages.ts';
import { startAll } from './start.ts';

const WORKER_URL = new URL('./featurize-worker.ts', import.meta.url);

export interface FeaturizePoolOptions {
  /** The manifest's featurizer (name, version, config); each worker builds it. */
  ref: FeaturizerRef;
  /** Worker threads. @default 1 */
  workers?: number;
  /** Called when a worker dies (it is replaced). @default nothing */
  onWorkerExit?: (code: number) => void;
}

interface Pending {
  resolve: (ids: Int32Array) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class FeaturizePool {
  readonly #init: FeaturizeWorkerInit;
  readonly #slots = new Set<Slot>();
  readonly #onExit: (code: number) => void;
  #nextId = 1;
  #closed = false;
  #width = 0;
  /** Batches featurized on a worker (tests and metrics read it). */
  featurized = 0;

  private constructor(init: FeaturizeWorkerInit, onExit: (code: number) => void) {
    this.#init = init;
    this.#onExit = onExit;
  }

  /** Starts the workers; resolves once each has built its featurizer, rejects (naming why) otherwise. */
  static async create(options: FeaturizePoolOptions): Promise<FeaturizePool> {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
      throw new TypeError(`FeaturizePool: workers must be an integer from 1 to 64, got ${workers}`);
    }
    const pool = new FeaturizePool({ ref: options.ref }, options.onWorkerExit ?? (() => {}));
    await startAll(
      workers,
      () => pool.#spawn(),
      () => pool.close(),
    );
    return pool;
  }

  /** Ids per text (the featurizer's maxLength). */
  get width(): number {
    return this.#width;
  }

  #spawn(): Promise<void> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: this.#init });
      const slot: Slot = { worker, pending: new Map() };
      let started = false;
      worker.on('message', (msg: FeaturizeReply) => {
        if (msg.type === 'ready') {
          started = true;
          this.#width = msg.width;
          this.#slots.add(slot);
          resolve();
        } else if (msg.type === 'init-error') {
          started = true;
          void worker.terminate();
          reject(new Error(`featurizer worker could not build '${this.#init.ref.name}': ${msg.message}`));
        } else {
          const p = slot.pending.get(msg.id);
          if (p === undefined) return;
          slot.pending.delete(msg.id);
          if (msg.type === 'ids') p.resolve(msg.ids);
          else p.reject(new InferenceError('internal', `featurizing failed: ${msg.message}`));
        }
      });
      worker.on('error', (err) => {
        if (!started) {
          started = true;
          reject(new Error(`featurizer worker failed to start: ${err.message}`));
        }
      });
      worker.on('exit', (code) => {
        if (!started) {
          started = true;
          reject(new Error(`featurizer worker exited with code ${code} before it was ready`));
          return;
        }
        this.#slots.delete(slot);
        for (const p of slot.pending.values()) {
          p.reject(new InferenceError('unavailable', 'the featurizer worker stopped while featurizing'));
        }
        slot.pending.clear();
        if (this.#closed) return;
        this.#onExit(code);
        this.#spawn().catch(() => {});
      });
    });
  }

  /** Row-major ids of the texts, computed on the least busy worker. */
  featurize(texts: readonly string[]): Promise<Int32Array> {
    if (this.#closed)
      return Promise.reject(new InferenceError('unavailable', 'the featurizer pool is closed'));
    let best: Slot | undefined;
    for (const s of this.#slots) if (best === undefined || s.pending.size < best.pending.size) best = s;
    if (best === undefined) {
      return Promise.reject(new InferenceError('unavailable', 'no featurizer worker is running'));
    }
    const slot = best;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, {
        resolve: (ids) => {
          this.featurized++;
          resolve(ids);
        },
        reject,
      });
      slot.worker.postMessage({ id, texts: [...texts] } satisfies FeaturizeRequest);
    });
  }

  /** Stops every worker; pending batches fail with 503. */
  async close(): Promise<void> {
    this.#closed = true;
    const slots = [...this.#slots];
    this.#slots.clear();
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
