import { describe, expect, it } from 'vitest';
import { judge } from './gate.ts';

/** `n` items, all labelled 1; the first `wrong` predictions are 0. */
const answers = (n: number, wrong: number) => Array.from({ length: n }, (_, i) => (i < wrong ? 0 : 1));
const names = { stable: 's', candidate: 'c' };

describe('release gate', () => {
  it('passes a candidate as good on the corpus and better on the reviewed domain', () => {
    const v = judge(
      { labels: answers(1000, 0), stable: answers(1000, 10), candidate: answers(1000, 11) },
      { labels: answers(20, 0), stable: answers(20, 12), candidate: answers(20, 4) },
      names,
    );
    expect(v.pass).toBe(true);
    expect(v.reasons).toEqual([]);
    expect(v.domain).toMatchObject({ n: 20, stable_acc: 0.4, candidate_acc: 0.8 });
    expect(v.corpus.paired.mcnemar_p).toBe(1);
  });

  it('fails a candidate worse on the corpus beyond noise, naming the p-value', () => {
    const v = judge(
      { labels: answers(1000, 0), stable: answers(1000, 0), candidate: answers(1000, 12) },
      { labels: answers(20, 0), stable: answers(20, 12), candidate: answers(20, 0) },
      names,
    );
    expect(v.pass).toBe(false);
    expect(v.reasons[0]).toMatch(
      /worse on the corpus test split beyond noise: 98\.80% vs 100\.00% \(McNemar p 0\.000488\)/,
    );
    expect(v.reasons[1]).toMatch(/corpus accuracy drops 1\.20 pt/);
  });

  it('fails a candidate that is not better on the reviewed domain, or has too few items to show it', () => {
    const corpus = { labels: answers(100, 0), stable: answers(100, 1), candidate: answers(100, 1) };
    const same = judge(
      corpus,
      { labels: answers(10, 0), stable: answers(10, 3), candidate: answers(10, 3) },
      names,
    );
    expect(same.pass).toBe(false);
    expect(same.reasons).toEqual([
      expect.stringMatching(/not better on the held-out reviewed items: 70\.00% vs 70\.00%/),
    ]);
    const few = judge(corpus, { labels: [1, 1], stable: [0, 0], candidate: [1, 1] }, names);
    expect(few.reasons).toEqual([expect.stringMatching(/only 2 held-out reviewed items/)]);
  });
});
