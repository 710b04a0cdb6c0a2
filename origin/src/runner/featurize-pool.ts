/**
 * Featurizer threads for one model version's text route: `featurize(texts)` posts the texts to the least busy
 * worker and resolves with row-major ids [texts.length, width]. The featurizer is linear in its input but a 32 KB
 * message still costs a millisecond or more (npm run bench:featurizer), which the event loop must not spend: health
 * probes and every other request would wait behind it. A worker that dies fails its pending batches with 503
 * `unavailable` and is replaced.
 *
 * Priority: the batches wait here, not in the workers' message queues: each worker holds at most IN_FLIGHT of them,
 * and the next one sent is the oldest of the most urgent level (1 first; no priority = last), as the batcher
 * orders model runs. Otherwise an interactive request's texts would queue behind every job row posted before them
 * (bench:priority: with featurizing the busiest part of a text request, the batcher's priority alone changed
 * nothing).
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
  /** Batches posted to this worker and not answered yet (at most IN_FLIGHT). */
  pending: Map<number, Pending>;
}

/** A batch waiting for a worker. */
interface Queued extends Pending {
  id: number;
  texts: string[];
}

/** Batches a worker holds at once: one running and one ready, so it never waits for the next message. */
const IN_FLIGHT = 2;
/** The queue level of batches without a priority: after every numbered level. */
const NO_PRIORITY = Number.POSITIVE_INFINITY;

export class FeaturizePool {
  readonly #init: FeaturizeWorkerInit;
  readonly #slots = new Set<Slot>();
  readonly #onExit: (code: number) => void;
  #nextId = 1;
  #closed = false;
  /** Waiting batches per priority level, FIFO within a level; `#levels` keeps the levels in use, sorted. */
  readonly #waiting = new Map<number, Queued[]>();
  #levels: number[] = [];
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
          this.#pump();
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
          this.#pump();
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

  /** Batches waiting for a worker (all levels). */
  get waiting(): number {
    let n = 0;
    for (const q of this.#waiting.values()) n += q.length;
    return n;
  }

  /**
   * Row-major ids of the texts, computed on the least busy worker once the batches of more urgent levels (and the
   * older ones of its own) have gone. `priority`: 1 is the most urgent; undefined waits behind every level.
   */
  featurize(texts: readonly string[], priority?: number): Promise<Int32Array> {
    if (this.#closed)
      return Promise.reject(new InferenceError('unavailable', 'the featurizer pool is closed'));
    if (this.#slots.size === 0) {
      return Promise.reject(new InferenceError('unavailable', 'no featurizer worker is running'));
    }
    const level = priority ?? NO_PRIORITY;
    return new Promise((resolve, reject) => {
      let queue = this.#waiting.get(level);
      if (queue === undefined) {
        queue = [];
        this.#waiting.set(level, queue);
        this.#levels = [...this.#waiting.keys()].sort((a, b) => a - b);
      }
      queue.push({
        id: this.#nextId++,
        texts: [...texts],
        resolve: (ids) => {
          this.featurized++;
          resolve(ids);
        },
        reject,
      });
      this.#pump();
    });
  }

  /** Sends waiting batches, most urgent first, to the least busy workers with room. */
  #pump(): void {
    while (this.#levels.length > 0) {
      let best: Slot | undefined;
      for (const s of this.#slots) if (best === undefined || s.pending.size < best.pending.size) best = s;
      if (best === undefined || best.pending.size >= IN_FLIGHT) return;
      const level = this.#levels[0] as number;
      const queue = this.#waiting.get(level) as Queued[];
      const next = queue.shift() as Queued;
      if (queue.length === 0) {
        this.#waiting.delete(level);
        this.#levels.shift();
      }
      best.pending.set(next.id, next);
      best.worker.postMessage({ id: next.id, texts: next.texts } satisfies FeaturizeRequest);
    }
  }

  /** Stops every worker; pending and waiting batches fail with 503. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#waiting.values()) {
      for (const q of queue) q.reject(new InferenceError('unavailable', 'the featurizer pool is closed'));
    }
    this.#waiting.clear();
    this.#levels = [];
    const slots = [...this.#slots];
    this.#slots.clear();
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
