/** Featurizer threads: the same ids as the featurizer on the calling thread, hostile inputs included. */
import { afterAll, describe, expect, it } from 'vitest';
import { hostileMessages, normalMessage } from '../../../shared/featurizer/hostile.ts';
import { createFeaturizer, featurizerRef } from '../../../shared/featurizer/index.ts';
import { FeaturizePool } from './featurize-pool.ts';

const ref = featurizerRef();
const pools: FeaturizePool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('FeaturizePool', () => {
  it('gives the ids the featurizer gives inline, for many texts at once and for hostile ones', async () => {
    const pool = await FeaturizePool.create({ ref, workers: 2 });
    pools.push(pool);
    const inline = createFeaturizer(ref.config);
    expect(pool.width).toBe(inline.config.maxLength);
    const texts = [normalMessage(4096), '', 'hello', ...hostileMessages(4096).map((h) => h.text)];
    const [a, b] = await Promise.all([pool.featurize(texts), pool.featurize(texts.slice(0, 2))]);
    expect(a).toEqual(inline.featurizeBatch(texts));
    expect(b).toEqual(inline.featurizeBatch(texts.slice(0, 2)));
    expect(pool.featurized).toBe(2);
  });

  it('refuses to start on a featurizer it cannot build, naming it', async () => {
    await expect(
      FeaturizePool.create({ ref: { name: 'no-such-featurizer', version: '1', config: {} } }),
    ).rejects.toThrow(/no-such-featurizer/);
    await expect(FeaturizePool.create({ ref, workers: 0 })).rejects.toThrow(/workers must be an integer/);
  });

  it('sends the most urgent waiting batch first: an interactive batch does not wait behind queued job batches', async () => {
    const pool = await FeaturizePool.create({ ref, workers: 1 });
    pools.push(pool);
    const heavy = Array.from({ length: 64 }, () => normalMessage(16_384));
    const done: string[] = [];
    const track = (name: string, p: Promise<Int32Array>) => p.then(() => done.push(name));
    // Eight job batches (no priority): two go to the worker at once, six wait here.
    const jobs = Array.from({ length: 8 }, (_, i) => track(`job${i}`, pool.featurize(heavy)));
    expect(pool.waiting).toBe(6);
    const urgent = track('urgent', pool.featurize(['hello there'], 1));
    const second = track('second', pool.featurize(['and again'], 2));
    await Promise.all([...jobs, urgent, second]);
    // The worker had two job batches in hand; the priority-1 batch came right after them, then priority 2.
    expect(done.indexOf('urgent')).toBeLessThanOrEqual(2);
    expect(done.indexOf('second')).toBe(done.indexOf('urgent') + 1);
    expect(done.filter((d) => d.startsWith('job'))).toEqual(jobs.map((_, i) => `job${i}`));
  });

  it('fails the waiting batches too when it closes', async () => {
    const pool = await FeaturizePool.create({ ref, workers: 1 });
    const heavy = Array.from({ length: 64 }, () => normalMessage(16_384));
    const all = Array.from({ length: 5 }, () =>
      pool.featurize(heavy).then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      ),
    );
    await pool.close();
    const outcomes = await Promise.all(all);
    expect(outcomes.filter((o) => o === 'unavailable').length).toBeGreaterThanOrEqual(3);
  });

  it('answers 503 unavailable once closed', async () => {
    const pool = await FeaturizePool.create({ ref });
    await pool.close();
    await expect(pool.featurize(['x'])).rejects.toMatchObject({ code: 'unavailable' });
  });
});
