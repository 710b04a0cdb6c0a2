import { describe, expect, it } from 'vitest';
import { gatherRows, lengthBuckets, usedLengths } from './buckets.ts';
import { EdgeModel } from './edge-model.ts';
import { edgeReleases } from './release.ts';
import { defaultReleases } from './startup.ts';

/** ids [rows, width] with row i using lengths[i] positions (ids 1..), zero after. */
function batch(lengths: number[], width: number): Int32Array {
  const ids = new Int32Array(lengths.length * width);
  lengths.forEach((n, r) => {
    for (let j = 0; j < n; j++) ids[r * width + j] = 1 + ((r * 31 + j) % 97);
  });
  return ids;
}

describe('length buckets (a large batch runs as groups of similar length)', () => {
  it('measure one past the last id of each row, a zero inside a row included', () => {
    const ids = batch([3, 0, 8], 8);
    ids[1] = 0; // a hole in row 0
    expect([...usedLengths(ids, 3, 8)]).toEqual([3, 0, 8]);
  });

  it('group rows by used length, shortest first and ties in input order; a small batch is one group in order', () => {
    const lengths = [5, 1, 5, 9, 2, 7, 1];
    const ids = batch(lengths, 10);
    expect(lengthBuckets(ids, 7, 10, 3)).toEqual([[1, 6, 4], [0, 2, 5], [3]]);
    expect(lengthBuckets(ids, 7, 10, 7)).toEqual([[0, 1, 2, 3, 4, 5, 6]]);
    expect(() => lengthBuckets(ids, 7, 10, 0)).toThrow(/integer >= 1, got 0/);
    expect([...gatherRows(ids, 10, [3, 1])]).toEqual([...ids.subarray(30, 40), ...ids.subarray(10, 20)]);
  });

  it('answer each text of a large batch as it is answered alone (the real spam student, texts of 1 to 600 words)', async () => {
    const spam = defaultReleases(edgeReleases()).find((r) => r.manifest.name === 'spam');
    if (spam === undefined) throw new Error('no embedded spam release');
    const model = await EdgeModel.load(spam);
    const words = [
      'offer',
      'meeting',
      'free',
      'project',
      'viagra',
      'report',
      'click',
      'schedule',
      'winner',
      'team',
    ];
    const texts = Array.from({ length: 100 }, (_, i) => {
      const n = 1 + ((i * 37) % 600);
      return `Subject: note ${i}\n\n${Array.from({ length: n }, (_, j) => words[(i + j * 7) % words.length]).join(' ')}`;
    });
    const together = await model.predict(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await model.predict([text]);
      expect(together[i]?.label).toBe(alone?.label);
      expect(together[i]?.score).toBeCloseTo(alone?.score ?? Number.NaN, 6);
      expect(together[i]?.coverage).toBe(alone?.coverage);
    }
  });
});
