import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows, slowModel } from '../../test/fixtures.ts';
import { RunnerPool } from './pool.ts';

const model = slowModel(256, 512);
let pool: RunnerPool;

beforeAll(async () => {
  pool = await RunnerPool.create({ modelBytes: model, workers: 2, executionProvider: 'cpu' });
});
afterAll(async () => {
  await pool?.close();
});

const feeds = (r: number, seed = 1) => [
  { name: 'input', type: 'float32' as const, dims: [r, 512], data: rows(r, 512, seed) },
];

describe('RunnerPool', () => {
  it('reports the session metadata and provider', () => {
    expect(pool.size).toBe(2);
    expect(pool.provider).toBe('cpu');
    expect(pool.inputs).toEqual([{ name: 'input', type: 'float32', shape: [-1, 512] }]);
    expect(pool.outputs).toEqual([{ name: 'probabilities', type: 'float32', shape: [-1, 2] }]);
  });

  it('computes what an in-process session computes', async () => {
    const f = feeds(3, 9);
    const input = new Float32Array(f[0]?.data as Float32Array);
    const { outputs, computeMs } = await pool.run(f);
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const want = await session.run({ input: new ort.Tensor('float32', input, [3, 512]) });
    await session.release();
    expect(outputs[0]?.dims).toEqual([3, 2]);
    expect(outputs[0]?.data).toEqual(want.probabilities?.data);
    expect(computeMs).toBeGreaterThan(0);
  });

  it('never blocks the event loop while batches run', async () => {
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 2);
    const started = performance.now();
    await Promise.all([pool.run(feeds(64)), pool.run(feeds(64)), pool.run(feeds(64))]);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(60);
    expect(maxGap).toBeLessThan(Math.max(40, elapsed / 3));
  });

  it('transfers the feeds to the worker (the caller must own them)', async () => {
    const f = feeds(1);
    await pool.run(f);
    expect(f[0]?.data.length).toBe(0);
  });

  it('validates its options and refuses work once closed', async () => {
    await expect(RunnerPool.create({ modelBytes: new Uint8Array() })).rejects.toThrow(/modelBytes/);
    await expect(RunnerPool.create({ modelBytes: model, workers: 0 })).rejects.toThrow(
      'workers must be an integer from 1 to 64, got 0',
    );
    const one = await RunnerPool.create({ modelBytes: model, executionProvider: 'auto' });
    expect(['cpu', 'cuda']).toContain(one.provider);
    await one.close();
    await expect(one.run(feeds(1))).rejects.toMatchObject({ code: 'unavailable', status: 503 });
  });
});

describe('RunnerPool: crashed workers', () => {
  const waitFor = async (what: string, ok: () => boolean) => {
    const until = Date.now() + 10_000;
    while (!ok()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('replaces a killed worker thread, and gives up after maxRestarts kills within the restart window', async () => {
    const p = await RunnerPool.create({
      modelBytes: model,
      executionProvider: 'cpu',
      maxRestarts: 2,
      restartWindowMs: 60_000,
    });
    try {
      for (let kill = 1; kill <= 2; kill++) {
        await p.killWorker(0);
        await waitFor(`replacement ${kill}`, () => p.size === 1);
        expect((await p.run(feeds(1))).outputs[0]?.dims).toEqual([1, 2]);
      }
      expect(p.serviceable).toBe(true);
      await p.killWorker(0);
      await waitFor('the pool to give up', () => !p.serviceable);
      expect(p.size).toBe(0);
      await expect(p.run(feeds(1))).rejects.toMatchObject({ code: 'unavailable' });
    } finally {
      await p.close();
    }
  });

  it('forgets restarts older than the window: a crash a day is not fatal after four days', async () => {
    let now = 0;
    const p = await RunnerPool.create({
      modelBytes: model,
      executionProvider: 'cpu',
      maxRestarts: 1,
      restartWindowMs: 1000,
      now: () => now,
    });
    try {
      for (let day = 1; day <= 4; day++) {
        now += 86_400_000;
        await p.killWorker(0);
        await waitFor(`replacement on day ${day}`, () => p.size === 1);
      }
      expect(p.serviceable).toBe(true);
    } finally {
      await p.close();
    }
  });
});

describe('RunnerPool: inline runs', () => {
  const small = slowModel(2, 512);
  let alone = true;
  let inlinePool: RunnerPool;
  beforeAll(async () => {
    inlinePool = await RunnerPool.create({
      modelBytes: small,
      executionProvider: 'cpu',
      inline: { maxMs: 50, alone: () => alone },
    });
  });
  afterAll(async () => {
    await inlinePool?.close();
  });

  it('runs a measured, cheap batch on the calling thread while its request is alone, with the same answers', async () => {
    expect(inlinePool.hasInline).toBe(true);
    // Nothing measured yet: the first run goes to a worker and gives the cost of one row.
    const first = await inlinePool.run(feeds(1, 4), 'auto');
    expect(first.inline).toBeUndefined();
    expect(inlinePool.estimateMs(1)).toBeGreaterThan(0);
    const viaInline = await inlinePool.run(feeds(1, 4), 'auto');
    expect(viaInline.inline).toBe(true);
    expect(inlinePool.inlineRuns).toBe(1);
    expect(viaInline.outputs[0]?.data).toEqual(first.outputs[0]?.data);
    expect(viaInline.outputs[0]?.dims).toEqual([1, 2]);
  });

  it('hands the batch to a worker when other requests are in flight or the batch is too costly', async () => {
    const before = inlinePool.inlineRuns;
    alone = false;
    expect((await inlinePool.run(feeds(1))).inline).toBeUndefined();
    alone = true;
    // 512 rows were never measured and no larger size was: unknown cost, so a worker runs it.
    expect((await inlinePool.run(feeds(512))).inline).toBeUndefined();
    expect(inlinePool.estimateMs(512)).toBeGreaterThan(0);
    expect(inlinePool.inlineRuns).toBe(before);
  });

  it('estimates an unmeasured size from the next larger measured one', () => {
    expect(inlinePool.estimateMs(300)).toBe(inlinePool.estimateMs(512));
    expect(inlinePool.estimateMs(1000)).toBeUndefined();
  });

  it('forgets its estimates (the warm-up drops its cold first pass) and measures again from the next run', async () => {
    inlinePool.forgetCosts();
    expect(inlinePool.estimateMs(1)).toBeUndefined();
    // Unmeasured: not inline, whatever the machine's speed; the worker's run measures it again.
    expect((await inlinePool.run(feeds(1))).inline).toBeUndefined();
    expect(inlinePool.estimateMs(1)).toBeGreaterThan(0);
  });

  it('keeps every run on workers when maxMs is 0, and refuses a forced inline run without a session', async () => {
    const off = await RunnerPool.create({
      modelBytes: small,
      executionProvider: 'cpu',
      inline: { maxMs: 0, alone: () => true },
    });
    try {
      expect(off.hasInline).toBe(false);
      await off.run(feeds(1));
      expect((await off.run(feeds(1))).inline).toBeUndefined();
      await expect(off.run(feeds(1), 'inline')).rejects.toThrow('this pool has no inline session');
    } finally {
      await off.close();
    }
  });

  it('reports a bad input from an inline run as an error, as a worker would', async () => {
    const bad = [{ name: 'input', type: 'float32' as const, dims: [1, 7], data: new Float32Array(7) }];
    await expect(inlinePool.run(bad, 'inline')).rejects.toThrow(/input/i);
    // The session stays usable.
    expect((await inlinePool.run(feeds(1), 'inline')).outputs[0]?.dims).toEqual([1, 2]);
  });
});
