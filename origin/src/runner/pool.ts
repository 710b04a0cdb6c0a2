/**
 * A pool of runner worker threads for one model version, each owning its own ORT session. run() hands a batch to
 * an idle worker (or waits for one); a worker that dies fails its in-flight batch with 503 `unavailable` and is
 * replaced. With `inline`, a short batch of a lone request runs on the calling thread instead (no hand-off).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { InferenceError } from '../../../shared/errors/index.ts';
import type { RunReply, ValueInfo, WireTensor, WorkerInit, WorkerMessage, WorkerReady } from './messages.ts';
import { runFeeds, sessionOptions } from './session.ts';
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
  /**
   * Inline runs (CPU only): with it the pool also holds a session on the calling thread and runs a batch there,
   * skipping the two thread hand-offs, when every worker is idle, nothing waits, `alone()` says no other request
   * is in flight, and the batch's measured cost (the last runs of that many rows, or of the next larger measured
   * size) is at most `maxMs`. Such a run blocks the event loop for that long, which costs nothing while the request
   * is alone; any load sends the work to the workers. `maxMs` 0 turns it off. @default off
   */
  inline?: InlineRunOptions;
}

export interface InlineRunOptions {
  /** Longest estimated run allowed on the calling thread, ms (0: never). */
  maxMs: number;
  /** True when the request being run is the only one in flight. */
  alone: () => boolean;
}

/** Where run() runs a batch: decided per batch (auto), or forced (warm-up runs each session). */
export type RunPlace = 'auto' | 'worker' | 'inline';

/** The pool's own session on the calling thread (inline runs). */
interface InlineSession {
  ort: typeof Ort;
  session: Ort.InferenceSession;
  maxMs: number;
  alone: () => boolean;
  busy: boolean;
}

export interface RunResult {
  outputs: WireTensor[];
  /** Time inside session.run, ms. */
  computeMs: number;
  /** Set when the batch ran on the calling thread (RunnerPoolOptions.inline). */
  inline?: true;
}

interface Pending {
  id: number;
  /** The batch's first dimension (the cost table's key). */
  rows: number;
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
    rows: number;
    resolve: (r: RunResult) => void;
    reject: (e: unknown) => void;
  }> = [];
  #nextId = 1;
  #closed = false;
  #inline: InlineSession | undefined;
  #inlineRuns = 0;
  /** Recent run time by batch rows, ms (an exponential moving average per size). */
  readonly #costMs = new Map<number, number>();
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
    const inline = options.inline;
    if (inline !== undefined && inline.maxMs > 0 && pool.provider === 'cpu') {
      try {
        const ort = await import('onnxruntime-node');
        const session = await ort.InferenceSession.create(init.modelBytes, {
          ...sessionOptions(init.intraOpThreads),
          executionProviders: ['cpu'],
        });
        pool.#inline = { ort, session, maxMs: inline.maxMs, alone: inline.alone, busy: false };
      } catch (err) {
        pool.#logger.warn(
          { model: pool.#label, err: (err as Error).message },
          'inline session failed to load; every batch runs on a worker',
        );
      }
    }
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
  /** Whether the pool holds an inline session (see RunnerPoolOptions.inline). */
  get hasInline(): boolean {
    return this.#inline !== undefined;
  }
  /** Batches run inline so far. */
  get inlineRuns(): number {
    return this.#inlineRuns;
  }

  /** Expected time of a batch of `rows`: the average of that size, else of the next larger size measured. */
  estimateMs(rows: number): number | undefined {
    const exact = this.#costMs.get(rows);
    if (exact !== undefined) return exact;
    let best: number | undefined;
    let bestRows = Number.POSITIVE_INFINITY;
    for (const [r, ms] of this.#costMs) {
      if (r > rows && r < bestRows) {
        best = ms;
        bestRows = r;
      }
    }
    return best;
  }

  /** Drops the run-time estimates (after the cold first runs of a warm-up). */
  forgetCosts(): void {
    this.#costMs.clear();
  }

  #record(rows: number, ms: number): void {
    const prev = this.#costMs.get(rows);
    this.#costMs.set(rows, prev === undefined ? ms : prev + 0.2 * (ms - prev));
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
    if (reply.type === 'result') {
      this.#record(pending.rows, reply.computeMs);
      pending.resolve({ outputs: reply.outputs, computeMs: reply.computeMs });
    } else pending.reject(new Error(reply.message));
  }

  #release(slot: Slot): void {
    const next = this.#waiting.shift();
    if (next !== undefined) this.#dispatch(slot, next.feeds, next.rows, next.resolve, next.reject);
    else this.#idle.push(slot);
  }

  #dispatch(
    slot: Slot,
    feeds: WireTensor[],
    rows: number,
    resolve: (r: RunResult) => void,
    reject: (e: unknown) => void,
  ): void {
    const id = this.#nextId++;
    slot.pending = { id, rows, resolve, reject };
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
   * Runs one batch on an idle worker, or on the calling thread when an inline run suits it (`place` 'auto'; see
   * RunnerPoolOptions.inline) or is asked for. A worker's feeds are transferred (detached here): pass arrays the
   * caller owns outright, never views of shared or pooled memory.
   */
  run(feeds: WireTensor[], place: RunPlace = 'auto'): Promise<RunResult> {
    if (this.#closed) return Promise.reject(new InferenceError('unavailable', 'the runner pool is closed'));
    if (this.#slots.size === 0)
      return Promise.reject(new InferenceError('unavailable', 'no inference worker is running'));
    const rows = feeds[0]?.dims[0] ?? 1;
    const inline = this.#inline;
    if (place === 'inline' || (place === 'auto' && this.#inlineFits(rows))) {
      if (inline === undefined) return Promise.reject(new Error('this pool has no inline session'));
      return this.#runInline(inline, feeds, rows);
    }
    return new Promise((resolve, reject) => {
      const slot = this.#idle.pop();
      if (slot === undefined) this.#waiting.push({ feeds, rows, resolve, reject });
      else this.#dispatch(slot, feeds, rows, resolve, reject);
    });
  }

  /** An inline run suits this batch now (see RunnerPoolOptions.inline). */
  #inlineFits(rows: number): boolean {
    const inline = this.#inline;
    if (inline === undefined || inline.busy || this.#waiting.length > 0) return false;
    if (this.#idle.length !== this.#slots.size || !inline.alone()) return false;
    const ms = this.estimateMs(rows);
    return ms !== undefined && ms <= inline.maxMs;
  }

  async #runInline(inline: InlineSession, feeds: WireTensor[], rows: number): Promise<RunResult> {
    inline.busy = true;
    try {
      const result = await runFeeds(inline.ort, inline.session, feeds);
      this.#inlineRuns++;
      this.#record(rows, result.computeMs);
      return { ...result, inline: true };
    } finally {
      inline.busy = false;
    }
  }

  /**
   * Stops every worker. A batch still running is cut: its callers get 503 at once, and its worker is terminated
   * only once session.run has returned, because terminating a thread inside session.run aborts the whole process
   * (onnxruntime-node: "terminate called after throwing an instance of 'Napi::Error'"). Resolves when every worker
   * has exited.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#idle.length = 0;
    const inline = this.#inline;
    this.#inline = undefined;
    // A run still on it finishes first (its caller gets its answer); the session is then left to the GC.
    if (inline !== undefined && !inline.busy) await inline.session.release().catch(() => {});
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
