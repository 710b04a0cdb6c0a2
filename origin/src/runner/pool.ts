/**
 * A pool of runner worker threads for one model version, each owning its own ORT session. run() hands a batch to
 * an idle worker (or waits for one); a worker that dies fails its in-flight batch with 503 `unavailable` and is
 * replaced.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { RunReply, ValueInfo, WireTensor, WorkerInit, WorkerMessage, WorkerReady } from './messages.ts';
import { startAll } from './start.ts';

export interface PoolLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RunnerPoolOptions {
  /** Verified ONNX model bytes. */
  modelBytes: Uint8Array;
  /** Worker threads (sessions). @default 1 */
  workers?: number;
  /** @default 'auto' */
  executionProvider?: 'cpu' | 'cuda' | 'auto';
  /** ORT intra-op threads per session. @default 1 */
  intraOpThreads?: number;
  /** Names the pool in logs, e.g. 'spam:3'. @default 'model' */
  label?: string;
  logger?: PoolLogger;
  /**
   * Most replacements of dead workers within `restartWindowMs`; one more crash in the window gives up on that
   * worker (and, with none left, on the model: `serviceable` turns false and liveness fails). @default 3
   */
  maxRestarts?: number;
  /** The window restarts are counted over, ms: older ones are forgotten. @default 600000 */
  restartWindowMs?: number;
  /** Clock for the restart window, ms. @default Date.now */
  now?: () => number;
}

export interface RunResult {
  outputs: WireTensor[];
  /** Time inside session.run, ms. */
  computeMs: number;
}

interface Pending {
  id: number;
  resolve: (r: RunResult) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Pending | undefined;
  /** Where this worker's session runs (set when it is ready). */
  provider: 'cpu' | 'cuda';
}

const silent: PoolLogger = { info() {}, warn() {}, error() {} };

/** Folder holding libonnxruntime.so.1, where the CUDA provider libraries must be placed. */
export function ortLibDir(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

const WORKER_URL = new URL('./worker.ts', import.meta.url);

function check(name: string, value: number | undefined, fallback: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new TypeError(`${name} must be an integer from 1 to ${max}, got ${value}`);
  return v;
}

export class RunnerPool {
  readonly #init: WorkerInit;
  readonly #logger: PoolLogger;
  readonly #label: string;
  readonly #maxRestarts: number;
  readonly #restartWindowMs: number;
  readonly #now: () => number;
  /** When each recent replacement was started (pruned to the window). */
  #restarts: number[] = [];
  /** Replacements starting right now. */
  #spawning = 0;
  readonly #slots = new Set<Slot>();
  /** Every worker started and not yet exited, loaded or not. */
  readonly #workers = new Set<Worker>();
  readonly #idle: Slot[] = [];
  /**
   * Runs that found no idle worker. Behind the batcher (concurrency = workers) this stays empty in steady state; it
   * earns its place when there are fewer live workers than runs: while a dead worker is being replaced, or when one
   * dies during warm-up (which calls run() once per worker, outside the batcher). Those runs wait for the
   * replacement instead of failing with 503; #failWaitingIfEmpty rejects them once no worker is left.
   */
  readonly #waiting: Array<{
    feeds: WireTensor[];
    resolve: (r: RunResult) => void;
    reject: (e: unknown) => void;
  }> = [];
  #nextId = 1;
  #closed = false;
  #info: WorkerReady | undefined;

  private constructor(init: WorkerInit, label: string, logger: PoolLogger, options: RunnerPoolOptions) {
    this.#init = init;
    this.#label = label;
    this.#logger = logger;
    this.#maxRestarts = options.maxRestarts ?? 3;
    this.#restartWindowMs = options.restartWindowMs ?? 600_000;
    this.#now = options.now ?? Date.now;
  }

  /** Starts the workers and resolves once every session is loaded; rejects (naming the cause) otherwise. */
  static async create(options: RunnerPoolOptions): Promise<RunnerPool> {
    if (!(options.modelBytes instanceof Uint8Array) || options.modelBytes.length === 0) {
      throw new TypeError('modelBytes must be a non-empty Uint8Array');
    }
    const workers = check('workers', options.workers, 1, 64);
    const ep = options.executionProvider ?? 'auto';
    if (!['cpu', 'cuda', 'auto'].includes(ep))
      throw new TypeError(`executionProvider must be cpu, cuda or auto, got ${ep}`);
    const init: WorkerInit = {
      modelBytes: options.modelBytes,
      executionProvider: ep,
      intraOpThreads: check('intraOpThreads', options.intraOpThreads, 1, 256),
      ortLibDir: ortLibDir(),
    };
    const pool = new RunnerPool(init, options.label ?? 'model', options.logger ?? silent, options);
    await startAll(
      workers,
      () => pool.#spawn(),
      () => pool.close(),
    );
    return pool;
  }

  /** Provider the sessions run on: 'cuda' only when every live worker runs on CUDA. */
  get provider(): 'cpu' | 'cuda' {
    const all = this.providers;
    return all.length > 0 && all.every((p) => p === 'cuda') ? 'cuda' : 'cpu';
  }
  /** The provider of each live worker. */
  get providers(): Array<'cpu' | 'cuda'> {
    return [...this.#slots].map((s) => s.provider);
  }
  get inputs(): ValueInfo[] {
    return this.#info?.inputs ?? [];
  }
  get outputs(): ValueInfo[] {
    return this.#info?.outputs ?? [];
  }
  /** Live workers. */
  get size(): number {
    return this.#slots.size;
  }

  #spawn(): Promise<Slot> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_URL, { workerData: this.#init });
      this.#workers.add(worker);
      const slot: Slot = { worker, pending: undefined, provider: 'cpu' };
      let started = false;
      worker.on('message', (msg: WorkerMessage) => {
        if (msg.type === 'ready') {
          started = true;
          this.#info ??= msg;
          slot.provider = msg.provider;
          if (msg.fallbackReason !== undefined) {
            this.#logger.warn(
              { model: this.#label, requested: this.#init.executionProvider, reason: msg.fallbackReason },
              'CUDA execution provider unavailable; running on CPU',
            );
          }
          this.#slots.add(slot);
          this.#release(slot);
          resolve(slot);
        } else if (msg.type === 'init-error') {
          started = true;
          void worker.terminate();
          reject(new Error(`${this.#label}: ONNX Runtime could not load the model: ${msg.message}`));
        } else if (this.#closed) {
          void worker.terminate(); // its run returned after close() cut it: now it can go
        } else {
          this.#settle(slot, msg);
        }
      });
      worker.on('error', (err) => {
        if (!started) {
          started = true;
          reject(new Error(`${this.#label}: runner worker failed to start: ${err.message}`));
          return;
        }
        this.#logger.error({ model: this.#label, err: err.message }, 'runner worker crashed');
      });
      worker.on('exit', (code) => {
        this.#workers.delete(worker);
        if (!started) {
          started = true;
          reject(
            new Error(`${this.#label}: runner worker exited with code ${code} before loading the model`),
          );
          return;
        }
        this.#lost(slot, code);
      });
    });
  }

  #lost(slot: Slot, code: number): void {
    const wasLive = this.#slots.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    if (slot.pending !== undefined) {
      slot.pending.reject(
        new InferenceError('unavailable', 'the inference worker stopped while running this batch'),
      );
      slot.pending = undefined;
    }
    if (this.#closed || !wasLive) return;
    const now = this.#now();
    this.#restarts = this.#restarts.filter((t) => t > now - this.#restartWindowMs);
    if (this.#restarts.length >= this.#maxRestarts) {
      this.#logger.error(
        { model: this.#label, code, restarts: this.#restarts.length, window_ms: this.#restartWindowMs },
        'runner worker exited; restart limit reached',
      );
      this.#failWaitingIfEmpty();
      return;
    }
    this.#restarts.push(now);
    this.#logger.warn({ model: this.#label, code }, 'runner worker exited; starting a replacement');
    this.#spawning++;
    this.#spawn()
      .catch((err: Error) => {
        this.#logger.error({ model: this.#label, err: err.message }, 'replacement runner worker failed');
      })
      .finally(() => {
        this.#spawning--;
        this.#failWaitingIfEmpty();
      });
  }

  /** Live workers, or a replacement on its way: false once the pool has given up (the model cannot serve). */
  get serviceable(): boolean {
    return !this.#closed && (this.#slots.size > 0 || this.#spawning > 0);
  }

  /**
   * Terminates the `index`-th live worker as a crash would (fault drills and tests); the pool then replaces it
   * within its restart budget. Refuses a worker that is running a batch (terminating a thread inside session.run
   * aborts the process). Resolves once it has exited.
   */
  async killWorker(index: number): Promise<void> {
    const slot = [...this.#slots][index];
    if (slot === undefined) throw new RangeError(`no live worker ${index} (live: ${this.#slots.size})`);
    if (slot.pending !== undefined)
      throw new TypeError(`worker ${index} is running a batch; kill an idle one`);
    await slot.worker.terminate();
  }

  #failWaitingIfEmpty(): void {
    if (this.#slots.size > 0 || this.#spawning > 0) return;
    for (const w of this.#waiting.splice(0))
      w.reject(new InferenceError('unavailable', 'no inference worker is running'));
  }

  #settle(slot: Slot, reply: RunReply): void {
    const pending = slot.pending;
    if (pending === undefined || pending.id !== reply.id) return;
    slot.pending = undefined;
    this.#release(slot);
    if (reply.type === 'result') pending.resolve({ outputs: reply.outputs, computeMs: reply.computeMs });
    else pending.reject(new Error(reply.message));
  }

  #release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next !== undefined) this.#dispatch(slot, next.feeds, next.resolve, next.reject);
    else this.#idle.push(slot);
  }

  #dispatch(
    slot: Slot,
    feeds: WireTensor[],
    resolve: (r: RunResult) => void,
    reject: (e: unknown) => void,
  ): void {
    const id = this.#nextId++;
    slot.pending = { id, resolve, reject };
    const transfer = new Set<ArrayBuffer>();
    for (const f of feeds) transfer.add(f.data.buffer as ArrayBuffer);
    try {
      slot.worker.postMessage({ id, feeds }, [...transfer]);
    } catch (err) {
      slot.pending = undefined;
      this.#idle.push(slot);
      reject(err);
    }
  }

  /**
   * Runs one batch on an idle worker. The feeds' buffers are transferred (detached here): pass arrays the caller
   * owns outright, never views of shared or pooled memory.
   */
  run(feeds: WireTensor[]): Promise<RunResult> {
    if (this.#closed) return Promise.reject(new InferenceError('unavailable', 'the runner pool is closed'));
    if (this.#slots.size === 0)
      return Promise.reject(new InferenceError('unavailable', 'no inference worker is running'));
    return new Promise((resolve, reject) => {
      const slot = this.#idle.pop();
      if (slot === undefined) this.#waiting.push({ feeds, resolve, reject });
      else this.#dispatch(slot, feeds, resolve, reject);
    });
  }

  /** Stops every worker; in-flight batches fail with 503. */
  /**
   * Stops every worker. A batch still running is cut: its callers get 503 at once, and its worker is terminated
   * only once session.run has returned, because terminating a thread inside session.run aborts the whole process
   * (onnxruntime-node: "terminate called after throwing an instance of 'Napi::Error'"). Resolves when every worker
   * has exited.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    for (const w of this.#waiting.splice(0))
      w.reject(new InferenceError('unavailable', 'the runner pool is closed'));
    const busy = new Set<Worker>();
    for (const slot of this.#slots) {
      const pending = slot.pending;
      if (pending === undefined) continue;
      slot.pending = undefined;
      busy.add(slot.worker);
      pending.reject(new InferenceError('unavailable', 'the server is stopping: this batch was cut'));
    }
    await Promise.all(
      [...this.#workers].map((w) =>
        busy.has(w) ? new Promise((resolve) => w.once('exit', resolve)) : w.terminate(),
      ),
    );
    this.#slots.clear();
  }
}
