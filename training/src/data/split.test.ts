import { describe, expect, it } from 'vitest';
import { corpusFingerprint, loadCorpus } from './corpus.ts';
import { splitStratified } from './split.ts';

describe('corpus', () => {
  const corpus = loadCorpus();

  it('has 6,046 messages keyed uniquely by group/id (the bare id repeats across groups)', () => {
    expect(corpus.length).toBe(6046);
    expect(new Set(corpus.map((m) => m.key)).size).toBe(6046);
    expect(new Set(corpus.map((m) => m.key.split('/')[1])).size).toBeLessThan(3000);
    expect(corpus.filter((m) => m.label === 1).length).toBe(1896);
  });

  it('fingerprint is order-independent and label-sensitive', () => {
    const fp = corpusFingerprint(corpus);
    expect(corpusFingerprint([...corpus].reverse())).toBe(fp);
    const flipped = corpus.map((m, i) => (i === 0 ? { ...m, label: (1 - m.label) as 0 | 1 } : m));
    expect(corpusFingerprint(flipped)).not.toBe(fp);
  });

  it('splits 70/15/15 per class, disjoint, deterministic', () => {
    const a = splitStratified(corpus);
    const b = splitStratified([...corpus].reverse());
    expect(a.train.map((m) => m.key)).toEqual(b.train.map((m) => m.key));
    expect(a.test.map((m) => m.key)).toEqual(b.test.map((m) => m.key));
    const keys = [...a.train, ...a.validation, ...a.test].map((m) => m.key);
    expect(new Set(keys).size).toBe(6046);
    for (const label of [0, 1]) {
      const total = corpus.filter((m) => m.label === label).length;
      const share = (part: typeof a.train) => part.filter((m) => m.label === label).length / total;
      expect(share(a.train)).toBeCloseTo(0.7, 2);
      expect(share(a.validation)).toBeCloseTo(0.15, 2);
      expect(share(a.test)).toBeCloseTo(0.15, 2);
    }
    expect(splitStratified(corpus, { salt: 'other' }).test.map((m) => m.key)).not.toEqual(
      a.test.map((m) => m.key),
    );
  });

  it('validates fractions', () => {
    expect(() => splitStratified(corpus, { train: 1.2 })).toThrow(
      /options\.train must be a number in \(0, 1\), got 1\.2/,
    );
    expect(() => splitStratified(corpus, { train: 0.9, validation: 0.2 })).toThrow(/< 1/);
  });
});
