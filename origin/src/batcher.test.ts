import { describe, expect, it } from 'vitest';
import { InferenceError } from '../../shared/errors/index.ts';
import { Batcher, type BatcherOptions, type Clock } from './batcher.ts';

/** A manual clock: time moves only when the test advances it. */
class ManualClock implements Clock {
  time = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  #next = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= until)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await flush();
    }
    this.time = until;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** Items are numbers (or {rows, v}); execute records batch shapes and resolves when the test releases it. */
function harness(options: Partial<BatcherOptions<number, string>> = {}) {
  const clock = new ManualClock();
  const batches: number[][] = [];
  const pending: Array<() => void> = [];
  const batcher = new Batcher<number, string>({
    clock,
    execute: (items) => {
      batches.push([...items]);
      return new Promise((resolve) => pending.push(() => resolve(items.map((i) => `r${i}`))));
    },
    ...options,
  });
  const releaseAll = async () => {
    while (pending.length > 0) {
      pending.shift()?.();
      await flush();
    }
  };
  return { clock, batches, pending, batcher, releaseAll };
}

function settle<T>(p: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const state: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (v) => {
      state.value = v;
      state.done = true;
    },
    (e) => {
      state.error = e;
      state.done = true;
    },
  );
  return state;
}

describe('Batcher batch shapes', () => {
  it('loads 1,2,3 with maxBatchRows 2 as [[1,2],[3]] and answers in order', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 2 });
    const results = Promise.all([1, 2, 3].map((i) => batcher.submit(i)));
    await flush();
    expect(batches).toEqual([[1, 2]]);
    await releaseAll();
    expect(batches).toEqual([[1, 2], [3]]);
    expect(await results).toEqual(['r1', 'r2', 'r3']);
  });

  it('flushes at once when idle and collects arrivals while a batch runs', async () => {
    const { batcher, batches, pending, releaseAll } = harness({ maxBatchRows: 8 });
    const a = batcher.submit(1);
    await flush();
    expect(batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((i) => batcher.submit(i));
    await flush();
    expect(batches).toEqual([[1]]);
    expect(batcher.queuedItems).toBe(3);
    pending.shift()?.();
    await flush();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    await releaseAll();
    expect(await Promise.all([a, ...rest])).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('counts rows, never splits an item, and runs `concurrency` batches at once', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 4, rowsOf: (i) => i, concurrency: 2 });
    const all = Promise.all([3, 1, 2, 2, 4].map((i) => batcher.submit(i)));
    await flush();
    expect(batches).toEqual([
      [3, 1],
      [2, 2],
    ]);
    await releaseAll();
    expect(batches).toEqual([[3, 1], [2, 2], [4]]);
    await all;
  });

  it('refuses an item larger than the max batch or without rows', async () => {
    const { batcher } = harness({ maxBatchRows: 4, rowsOf: (i) => i });
    await expect(batcher.submit(5)).rejects.toMatchObject({ code: 'invalid_input', status: 400 });
    await expect(batcher.submit(0)).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('trims to the largest preferred batch size at item boundaries', async () => {
    const { batcher, batches, pending, releaseAll } = harness({
      maxBatchRows: 8,
      preferredBatchRows: [2, 4],
    });
    const first = batcher.submit(0);
    await flush();
    const rest = [1, 2, 3, 4, 5, 6, 7].map((i) => batcher.submit(i));
    await flush();
    pending.shift()?.();
    await flush();
    expect(batches[1]).toEqual([1, 2, 3, 4]);
    await releaseAll();
    expect(batches).toEqual([[0], [1, 2, 3, 4], [5, 6], [7]]);
    await Promise.all([first, ...rest]);
  });

  it('keeps items with different keys in different batches', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 8, keyOf: (i) => (i < 10 ? 'a' : 'b') });
    const all = Promise.all([1, 2, 11, 12, 3].map((i) => batcher.submit(i)));
    await flush();
    await releaseAll();
    expect(batches).toEqual([[1, 2], [11, 12], [3]]);
    await all;
  });
});

describe('Batcher queue delay', () => {
  it('waits up to maxQueueDelayMs for a preferred batch, then flushes what it has', async () => {
    const { clock, batcher, batches, releaseAll } = harness({
      maxBatchRows: 8,
      preferredBatchRows: [4],
      maxQueueDelayMs: 5,
    });
    const a = batcher.submit(1);
    await clock.advance(2);
    const b = batcher.submit(2);
    await flush();
    expect(batches).toEqual([]);
    await clock.advance(2.9);
    expect(batches).toEqual([]);
    await clock.advance(0.2);
    expect(batches).toEqual([[1, 2]]);
    await releaseAll();
    expect(await Promise.all([a, b])).toEqual(['r1', 'r2']);
  });

  it('flushes as soon as a preferred size is reached', async () => {
    const { clock, batcher, batches, releaseAll } = harness({
      maxBatchRows: 8,
      preferredBatchRows: [3],
      maxQueueDelayMs: 100,
    });
    const all = Promise.all([1, 2, 3].map((i) => batcher.submit(i)));
    await flush();
    expect(batches).toEqual([[1, 2, 3]]);
    expect(clock.time).toBe(0);
    await releaseAll();
    await all;
  });
});

describe('Batcher backpressure, deadlines, priorities', () => {
  it('rejects with 429 queue_full and Retry-After once maxQueueRows are waiting', async () => {
    const { batcher, releaseAll } = harness({ maxBatchRows: 1, maxQueueRows: 2 });
    const running = batcher.submit(1);
    await flush();
    const queued = [batcher.submit(2), batcher.submit(3)];
    const err = await batcher.submit(4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect(err).toMatchObject({ code: 'queue_full', status: 429, headers: { 'Retry-After': '1' } });
    await releaseAll();
    expect(await Promise.all([running, ...queued])).toEqual(['r1', 'r2', 'r3']);
  });

  it('rejects queued work whose deadline passes with 504 and never executes it', async () => {
    const { clock, batcher, batches, releaseAll } = harness({ maxBatchRows: 4 });
    const running = batcher.submit(1);
    await flush();
    const late = settle(batcher.submit(2, { deadline: 10 }));
    const ok = batcher.submit(3, { deadline: 1000 });
    await clock.advance(9);
    expect(late.done).toBe(false);
    await clock.advance(1);
    expect(late.done).toBe(true);
    expect(late.error).toMatchObject({ code: 'deadline_exceeded', status: 504 });
    expect(batcher.queuedItems).toBe(1);
    await releaseAll();
    expect(batches).toEqual([[1], [3]]);
    expect(await Promise.all([running, ok])).toEqual(['r1', 'r3']);
  });

  it('applies defaultTimeoutMs and refuses an already passed deadline', async () => {
    const { clock, batcher, releaseAll } = harness({ maxBatchRows: 1, defaultTimeoutMs: 50 });
    const running = batcher.submit(1, { deadline: 1e9 });
    await flush();
    const queued = settle(batcher.submit(2));
    await clock.advance(50);
    expect(queued.error).toMatchObject({ code: 'deadline_exceeded' });
    await expect(batcher.submit(3, { deadline: clock.now() })).rejects.toMatchObject({
      code: 'deadline_exceeded',
    });
    await releaseAll();
    await running;
  });

  it('fills batches from the highest priority first, FIFO within a level', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 2, priorityLevels: 3 });
    const all = [batcher.submit(1)];
    await flush();
    all.push(
      batcher.submit(2, { priority: 3 }),
      batcher.submit(3, { priority: 2 }),
      batcher.submit(4, { priority: 1 }),
    );
    all.push(batcher.submit(5, { priority: 1 }), batcher.submit(6));
    await flush();
    await releaseAll();
    expect(batches).toEqual([[1], [4, 5], [3, 2], [6]]);
    await Promise.all(all);
    await expect(batcher.submit(7, { priority: 4 })).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('Batcher failure contract', () => {
  it('an Error result fails only its own caller', async () => {
    const batcher = new Batcher<number, number>({
      execute: async (items) => items.map((i) => (i === 2 ? new Error('bad item 2') : i * 10)),
    });
    const [a, b, c] = [1, 2, 3].map((i) => settle(batcher.submit(i)));
    await batcher.drain();
    await flush();
    expect(a?.value).toBe(10);
    expect(b?.error).toEqual(new Error('bad item 2'));
    expect(c?.value).toBe(30);
  });

  it('a failed batch rejects each of its callers (isolation off)', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>({
      isolateFailures: false,
      execute: async (items) => {
        calls.push([...items]);
        throw new Error('session.run failed');
      },
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batcher.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('isolates a poison item: the batch is re-run item by item, and only the poison caller fails', async () => {
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>({
      execute: async (items) => {
        calls.push([...items]);
        if (items.includes(2)) throw new Error('index out of range');
        return items.map((i) => i);
      },
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batcher.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('does not re-run an item whose deadline passed while its failed batch ran: it gets 504', async () => {
    const clock = new ManualClock();
    const calls: number[][] = [];
    const batcher = new Batcher<number, number>({
      clock,
      execute: async (items) => {
        calls.push([...items]);
        if (items.length > 1) {
          clock.time += 50; // the batch ran 50 ms, past item 2's deadline, then failed
          throw new Error('kernel failure');
        }
        return items.map((i) => i);
      },
    });
    const results = await Promise.allSettled([
      batcher.submit(1, { deadline: 1000 }),
      batcher.submit(2, { deadline: 30 }),
      batcher.submit(3),
    ]);
    expect(calls).toEqual([[1, 2, 3], [1], [3]]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'deadline_exceeded' });
  });

  it('drops a queued item whose client went away (its signal aborts): it never runs; a running one finishes', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const a = batcher.submit(1, { signal: running.signal });
    const b = batcher.submit(2, { signal: queued.signal });
    const c = batcher.submit(3);
    await flush();
    expect(batches).toEqual([[1]]);
    running.abort();
    queued.abort();
    await expect(b).rejects.toMatchObject({ code: 'bad_request' });
    await releaseAll();
    expect(await a).toBe('r1');
    expect(await c).toBe('r3');
    expect(batches).toEqual([[1], [3]]);
    expect(batcher.queuedRows).toBe(0);
  });

  it('does not re-run a batch that failed for a known, systemic reason', async () => {
    let calls = 0;
    const batcher = new Batcher<number, number>({
      execute: async () => {
        calls++;
        throw new InferenceError('unavailable', 'worker died');
      },
    });
    const results = await Promise.allSettled([1, 2].map((i) => batcher.submit(i)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
  });

  it('no caller hangs when execute throws synchronously or returns the wrong number of results', async () => {
    const sync = new Batcher<number, number>({
      isolateFailures: false,
      execute: () => {
        throw new Error('sync');
      },
    });
    await expect(sync.submit(1)).rejects.toThrow('sync');
    const short = new Batcher<number, number>({ execute: async () => [1] });
    const r = await Promise.allSettled([short.submit(1), short.submit(2)]);
    expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
    expect(((r[0] as PromiseRejectedResult).reason as Error).message).toMatch(
      /one result per item: got 1 for 2/,
    );
  });

  it('keeps working after failures', async () => {
    let fail = true;
    const batcher = new Batcher<number, number>({
      execute: async (items) => {
        if (fail) throw new InferenceError('unavailable', 'x');
        return items;
      },
    });
    await expect(batcher.submit(1)).rejects.toThrow();
    fail = false;
    await expect(batcher.submit(2)).resolves.toBe(2);
  });
});

describe('Batcher close and drain', () => {
  it('refuses new work with 503 not_ready after close and drains queued and running work', async () => {
    const { batcher, batches, releaseAll } = harness({ maxBatchRows: 1 });
    const work = [1, 2, 3].map((i) => batcher.submit(i));
    await flush();
    batcher.close();
    await expect(batcher.submit(4)).rejects.toMatchObject({ code: 'not_ready', status: 503 });
    const drained = settle(batcher.drain());
    await flush();
    expect(drained.done).toBe(false);
    await releaseAll();
    await flush();
    expect(drained.done).toBe(true);
    expect(batches).toEqual([[1], [2], [3]]);
    expect(await Promise.all(work)).toEqual(['r1', 'r2', 'r3']);
  });

  it('validates its options, naming the field, range and value', () => {
    const execute = async () => [];
    expect(() => new Batcher({ execute, maxBatchRows: 0 })).toThrow(
      'maxBatchRows must be an integer from 1 to 1000000, got 0',
    );
    expect(() => new Batcher({ execute, maxBatchRows: 4, preferredBatchRows: [8] })).toThrow(
      /preferredBatchRows.*got 8/,
    );
    expect(() => new Batcher({ execute, maxQueueDelayMs: -1 })).toThrow(/maxQueueDelayMs/);
    expect(() => new Batcher({ execute, priorityLevels: 2, defaultPriority: 3 })).toThrow(/defaultPriority/);
    expect(() => new Batcher({ execute, defaultTimeoutMs: 0 })).toThrow(/defaultTimeoutMs/);
    expect(() => new Batcher({} as never)).toThrow(/execute/);
  });
});
