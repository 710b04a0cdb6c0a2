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

  it('answers 503 unavailable once closed', async () => {
    const pool = await FeaturizePool.create({ ref });
    await pool.close();
    await expect(pool.featurize(['x'])).rejects.toMatchObject({ code: 'unavailable' });
  });
});
