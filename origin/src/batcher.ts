/**
 * A dynamic batcher, pure and clock-injected (no timers or I/O of its own beyond the Clock it is given).
 *
 * - Flushes at once when a runner slot is free (a microtask later, so same-tick arrivals share a batch), and
 *   collects arrivals while every slot is busy.
 * - A batch holds at most `maxBatchRows` rows; items are never split. With `preferredBatchRows`, a batch is
 *   trimmed (at item boundaries) to the largest preferred size it can make. With `maxQueueDelayMs` > 0, a free
 *   slot waits up to that long for a full or preferred batch before flushing what it has.
 * - The queue is bounded in rows (429 queue_full); after close() new work is refused (503 not_ready).
 * - Each item has a deadline; one that passes while queued is rejected (504) and never executed.
 * - Priority levels: 1 is the highest; a batch is filled from the highest level first, FIFO within a level.
 *
 * Contract (as graphql/dataloader): results match items in length and order; an Error result rejects only its
 * caller; a failed batch rejects each of its callers (after re-running each item alone when `isolateFailures`,
 * so one poison item fails only its own caller); no caller is ever left pending.
 */
import {
  DeadlineExceededError,
  InferenceError,
  InvalidInputError,
  OverloadedError,
} from '../../shared/errors/index.ts';

/** Time source and timers (ms). Tests pass a manual clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // Unref'd: queued work keeps the process alive through its sockets, not through the batcher's timers.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Hooks for metrics; called synchronously, must not throw. */
export interface BatchObserver<I> {
  /** An item left the queue for a batch after waiting `waitMs`. */
  dequeued?(item: I, waitMs: number): void;
  /** A batch of `rows` rows in `items` items is about to execute. */
  executing?(rows: number, items: number): void;
}

export interface BatcherOptions<I, O> {
  /** Runs one batch; resolves one result per item, in order (an Error fails that item only). */
  execute: (items: readonly I[]) => Promise<ReadonlyArray<O | Error>>;
  /** Rows an item carries (concatenated along the batch dimension). @default () => 1 */
  rowsOf?: (item: I) => number;
  /** Items with different keys never share a batch (e.g. different non-batch shapes). @default all share */
  keyOf?: (item: I) => string;
  /** Most rows per batch. @default 64 */
  maxBatchRows?: number;
  /** Preferred batch sizes in rows, each <= maxBatchRows. @default [] */
  preferredBatchRows?: readonly number[];
  /** How long a free slot may wait to fill a full or preferred batch, ms; 0 flushes at once. @default 0 */
  maxQueueDelayMs?: number;
  /** Most rows waiting in the queue. @default 1024 */
  maxQueueRows?: number;
  /** Batches executing at once (runner slots). @default 1 */
  concurrency?: number;
  /** Priority levels; 1 is the highest. @default 1 */
  priorityLevels?: number;
  /** Priority of an item submitted without one. @default priorityLevels */
  defaultPriority?: number;
  /** Deadline (ms from submit) of an item submitted without one; undefined means none. @default undefined */
  defaultTimeoutMs?: number;
  /** When a batch of several items fails, re-run each item alone so only the bad one fails. @default true */
  isolateFailures?: boolean;
  /** @default systemClock */
  clock?: Clock;
  observer?: BatchObserver<I>;
}

/** The caller went away before its request ran (it is dropped; nobody reads this answer). */
function clientGone(): InferenceError {
  return new InferenceError('bad_request', 'the client closed the connection before its request ran');
}

export interface SubmitOptions {
  /** 1 (highest) .. priorityLevels. @default defaultPriority */
  priority?: number;
  /** Absolute deadline on the batcher's clock, ms. @default now + defaultTimeoutMs */
  deadline?: number;
  /** Aborts when the caller is gone (its connection closed): a still-queued item is dropped, never run. */
  signal?: AbortSignal;
}

interface Entry<I, O> {
  item: I;
  rows: number;
  key: string;
  enqueuedAt: number;
  deadline: number;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

/** A FIFO with O(1) shift. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }
  push(v: T): void {
    this.#items.push(v);
  }
  at(i: number): T | undefined {
    return this.#items[this.#head + i];
  }
  shift(): T | undefined {
    const v = this.#items[this.#head];
    this.#items[this.#head] = undefined as T;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }
  removeAt(i: number): void {
    this.#items.splice(this.#head + i, 1);
  }
  /** Removes the items the predicate picks, keeping the order of the rest; returns the removed ones. */
  removeWhere(pick: (v: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const v = this.#items[i] as T;
      (pick(v) ? removed : kept).push(v);
    }
    this.#items = kept;
    this.#head = 0;
    return removed;
  }
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}

function positiveInt(name: string, value: number | undefined, fallback: number, max = 1_000_000): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new TypeError(`${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return v;
}

export class Batcher<I, O> {
  readonly #execute: BatcherOptions<I, O>['execute'];
  readonly #rowsOf: (item: I) => number;
  readonly #keyOf: ((item: I) => string) | undefined;
  readonly #maxBatch: number;
  readonly #preferred: readonly number[];
  readonly #delay: number;
  readonly #maxQueue: number;
  readonly #concurrency: number;
  readonly #levels: number;
  readonly #defaultPriority: number;
  readonly #defaultTimeout: number | undefined;
  readonly #isolate: boolean;
  readonly #clock: Clock;
  readonly #observer: BatchObserver<I>;

  readonly #queues: Fifo<Entry<I, O>>[];
  #queuedRows = 0;
  #queuedItems = 0;
  #running = 0;
  #closed = false;
  #pumpScheduled = false;
  #flushTimer: unknown;
  #flushAt = Number.POSITIVE_INFINITY;
  #deadlineTimer: unknown;
  #deadlineAt = Number.POSITIVE_INFINITY;
  #drainWaiters: Array<() => void> = [];

  constructor(options: BatcherOptions<I, O>) {
    if (typeof options?.execute !== 'function') throw new TypeError('execute must be a function');
    this.#execute = options.execute;
    this.#rowsOf = options.rowsOf ?? (() => 1);
    this.#keyOf = options.keyOf;
    this.#maxBatch = positiveInt('maxBatchRows', options.maxBatchRows, 64);
    const preferred = [...(options.preferredBatchRows ?? [])].sort((a, b) => a - b);
    for (const p of preferred) {
      if (!Number.isInteger(p) || p < 1 || p > this.#maxBatch) {
        throw new TypeError(
          `preferredBatchRows must hold integers from 1 to maxBatchRows (${this.#maxBatch}), got ${p}`,
        );
      }
    }
    this.#preferred = preferred;
    const delay = options.maxQueueDelayMs ?? 0;
    if (!Number.isFinite(delay) || delay < 0) {
      throw new TypeError(`maxQueueDelayMs must be a number >= 0, got ${String(options.maxQueueDelayMs)}`);
    }
    this.#delay = delay;
    this.#maxQueue = positiveInt('maxQueueRows', options.maxQueueRows, 1024, 1e9);
    this.#concurrency = positiveInt('concurrency', options.concurrency, 1, 1024);
    this.#levels = positiveInt('priorityLevels', options.priorityLevels, 1, 64);
    this.#defaultPriority = positiveInt(
      'defaultPriority',
      options.defaultPriority,
      this.#levels,
      this.#levels,
    );
    const timeout = options.defaultTimeoutMs;
    if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) {
      throw new TypeError(`defaultTimeoutMs must be a positive number or undefined, got ${timeout}`);
    }
    this.#defaultTimeout = timeout;
    this.#isolate = options.isolateFailures ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#observer = options.observer ?? {};
    this.#queues = Array.from({ length: this.#levels }, () => new Fifo<Entry<I, O>>());
  }

  /** Rows waiting in the queue (not yet in a batch). */
  get queuedRows(): number {
    return this.#queuedRows;
  }
  /** Items waiting in the queue. */
  get queuedItems(): number {
    return this.#queuedItems;
  }
  /** Batches executing now. */
  get running(): number {
    return this.#running;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get maxBatchRows(): number {
    return this.#maxBatch;
  }

  /** Queues an item; resolves with its result. */
  submit(item: I, options: SubmitOptions = {}): Promise<O> {
    if (this.#closed) {
      return Promise.reject(new OverloadedError('not_ready', 'the model is shutting down', 1));
    }
    const rows = this.#rowsOf(item);
    if (!Number.isInteger(rows) || rows < 1) {
      return Promise.reject(new InvalidInputError(`a request must carry at least one row, got ${rows}`));
    }
    if (rows > this.#maxBatch) {
      return Promise.reject(
        new InvalidInputError(
          `a request of ${rows} rows exceeds the max batch size of ${this.#maxBatch} rows`,
        ),
      );
    }
    const priority = options.priority ?? this.#defaultPriority;
    if (!Number.isInteger(priority) || priority < 1 || priority > this.#levels) {
      return Promise.reject(
        new InvalidInputError(`priority must be an integer from 1 to ${this.#levels}, got ${priority}`),
      );
    }
    if (this.#queuedRows + rows > this.#maxQueue) {
      return Promise.reject(
        new OverloadedError(
          'queue_full',
          `the queue holds ${this.#queuedRows} of ${this.#maxQueue} rows; retry later or elsewhere`,
          1,
        ),
      );
    }
    const now = this.#clock.now();
    const deadline =
      options.deadline ??
      (this.#defaultTimeout === undefined ? Number.POSITIVE_INFINITY : now + this.#defaultTimeout);
    if (deadline <= now)
      return Promise.reject(new DeadlineExceededError('the request deadline had already passed'));
    const signal = options.signal;
    if (signal?.aborted === true) return Promise.reject(clientGone());

    return new Promise<O>((resolve, reject) => {
      const entry: Entry<I, O> = {
        item,
        rows,
        key: this.#keyOf === undefined ? '' : this.#keyOf(item),
        enqueuedAt: now,
        deadline,
        resolve,
        reject,
      };
      const queue = this.#queues[priority - 1] as Fifo<Entry<I, O>>;
      queue.push(entry);
      if (signal !== undefined) {
        const onAbort = () => {
          if (queue.removeWhere((x) => x === entry).length === 0) return; // already running: let it finish
          this.#dequeue(entry);
          entry.reject(clientGone());
          this.#notifyDrained();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const forget = () => signal.removeEventListener('abort', onAbort);
        entry.resolve = (value) => {
          forget();
          resolve(value);
        };
        entry.reject = (err) => {
          forget();
          reject(err);
        };
      }
      this.#queuedRows += rows;
      this.#queuedItems++;
      if (deadline < this.#deadlineAt) this.#armDeadline(deadline, now);
      if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        queueMicrotask(() => {
          this.#pumpScheduled = false;
          this.#pump();
        });
      }
    });
  }

  /** Refuses new work from now on; queued and running work still completes. */
  close(): void {
    this.#closed = true;
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #idle(): boolean {
    return this.#queuedItems === 0 && this.#running === 0;
  }

  #notifyDrained(): void {
    if (!this.#idle() || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  #pump(): void {
    while (this.#running < this.#concurrency && this.#queuedItems > 0) {
      const batch = this.#form(this.#clock.now());
      if (batch === null) break;
      void this.#run(batch);
    }
    this.#notifyDrained();
  }

  #dequeue(entry: Entry<I, O>): void {
    this.#queuedRows -= entry.rows;
    this.#queuedItems--;
  }

  #expire(entry: Entry<I, O>): void {
    this.#dequeue(entry);
    entry.reject(new DeadlineExceededError('the request deadline passed while it was queued'));
  }

  /** Picks the next batch, or null when a free slot should wait (queue delay) or nothing is left. */
  #form(now: number): Entry<I, O>[] | null {
    const picked: Entry<I, O>[] = [];
    const takenPerLevel: number[] = [];
    let rows = 0;
    let full = false;
    let key: string | undefined;
    let oldest = Number.POSITIVE_INFINITY;
    for (const q of this.#queues) {
      let k = 0;
      while (!full && k < q.length) {
        const e = q.at(k) as Entry<I, O>;
        if (e.deadline <= now) {
          if (k === 0) q.shift();
          else q.removeAt(k);
          this.#expire(e);
          continue;
        }
        if ((key !== undefined && e.key !== key) || rows + e.rows > this.#maxBatch) {
          full = true;
          break;
        }
        picked.push(e);
        rows += e.rows;
        key = e.key;
        if (e.enqueuedAt < oldest) oldest = e.enqueuedAt;
        k++;
        if (rows === this.#maxBatch) full = true;
      }
      takenPerLevel.push(k);
      if (full) break;
    }
    if (picked.length === 0) return null;

    const largestPreferred = this.#preferred.at(-1);
    const ready =
      this.#delay === 0 ||
      full ||
      (largestPreferred !== undefined && rows >= largestPreferred) ||
      now - oldest >= this.#delay;
    if (!ready) {
      this.#armFlush(oldest + this.#delay, now);
      return null;
    }

    let take = picked.length;
    if (this.#preferred.length > 0 && rows !== this.#maxBatch && !this.#preferred.includes(rows)) {
      let sum = 0;
      for (let i = 0; i < picked.length; i++) {
        sum += (picked[i] as Entry<I, O>).rows;
        if (this.#preferred.includes(sum)) take = i + 1;
      }
    }

    // Remove the taken prefix from each level's queue.
    let left = take;
    for (let level = 0; level < takenPerLevel.length && left > 0; level++) {
      const q = this.#queues[level] as Fifo<Entry<I, O>>;
      const n = Math.min(left, takenPerLevel[level] as number);
      for (let i = 0; i < n; i++) this.#dequeue(q.shift() as Entry<I, O>);
      left -= n;
    }
    return take === picked.length ? picked : picked.slice(0, take);
  }

  async #run(entries: Entry<I, O>[]): Promise<void> {
    this.#running++;
    const now = this.#clock.now();
    let rows = 0;
    for (const e of entries) {
      rows += e.rows;
      this.#observer.dequeued?.(e.item, now - e.enqueuedAt);
    }
    this.#observer.executing?.(rows, entries.length);
    try {
      await this.#executeInto(entries);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  async #executeInto(entries: Entry<I, O>[]): Promise<void> {
    let results: ReadonlyArray<O | Error>;
    try {
      results = await this.#execute(entries.map((e) => e.item));
    } catch (err) {
      if (this.#isolate && entries.length > 1 && !(err instanceof InferenceError)) {
        // Each item alone, except those whose deadline passed meanwhile: expired work is never run.
        for (const e of entries) {
          if (e.deadline <= this.#clock.now()) {
            e.reject(new DeadlineExceededError('the request deadline passed while its batch ran and failed'));
          } else {
            await this.#executeInto([e]);
          }
        }
      } else {
        for (const e of entries) e.reject(err);
      }
      return;
    }
    if (!Array.isArray(results) || results.length !== entries.length) {
      const err = new TypeError(
        `execute must resolve one result per item: got ${Array.isArray(results) ? results.length : typeof results} for ${entries.length}`,
      );
      for (const e of entries) e.reject(err);
      return;
    }
    for (let i = 0; i < entries.length; i++) {
      const r = results[i] as O | Error;
      const e = entries[i] as Entry<I, O>;
      if (r instanceof Error) e.reject(r);
      else e.resolve(r);
    }
  }

  #armFlush(at: number, now: number): void {
    if (at >= this.#flushAt) return;
    if (this.#flushTimer !== undefined) this.#clock.clearTimeout(this.#flushTimer);
    this.#flushAt = at;
    this.#flushTimer = this.#clock.setTimeout(
      () => {
        this.#flushTimer = undefined;
        this.#flushAt = Number.POSITIVE_INFINITY;
        this.#pump();
      },
      Math.max(0, at - now),
    );
  }

  #armDeadline(at: number, now: number): void {
    if (!Number.isFinite(at)) return;
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineAt = at;
    this.#deadlineTimer = this.#clock.setTimeout(() => this.#sweep(), Math.max(0, at - now));
  }

  /** Rejects every queued item whose deadline has passed and re-arms for the next deadline. */
  #sweep(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const q of this.#queues) {
      for (const e of q.removeWhere((x) => x.deadline <= now)) this.#expire(e);
      for (const e of q) if (e.deadline < next) next = e.deadline;
    }
    this.#armDeadline(next, now);
    this.#notifyDrained();
  }
}
