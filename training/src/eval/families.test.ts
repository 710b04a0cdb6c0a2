import { describe, expect, it } from 'vitest';
import type { Message } from '../data/corpus.ts';
import { figures, inHeadSet, stratifiedSubset, withEvalViews } from './families.ts';

const items = Array.from({ length: 1000 }, (_, i) => ({ key: `g/${i}`, label: i % 4 === 0 ? 1 : 0 }));

describe('stratifiedSubset', () => {
  it('keeps each class in proportion', () => {
    const sub = stratifiedSubset(items, 0.1);
    expect(sub.filter((m) => m.label === 1)).toHaveLength(25);
    expect(sub.filter((m) => m.label === 0)).toHaveLength(75);
  });

  it('is stable, nested and in input order', () => {
    const a = stratifiedSubset(items, 0.25);
    expect(stratifiedSubset(items, 0.25)).toEqual(a);
    // The input order does not change which items are picked.
    expect(new Set(stratifiedSubset([...items].reverse(), 0.25))).toEqual(new Set(a));
    const small = new Set(stratifiedSubset(items, 0.1).map((m) => m.key));
    const keys = new Set(a.map((m) => m.key));
    for (const k of small) expect(keys.has(k)).toBe(true);
    const order = a.map((m) => Number(m.key.slice(2)));
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(stratifiedSubset(items, 1)).toEqual(items);
  });

  it('keeps at least one item per class and rejects a bad fraction', () => {
    const few = [
      { key: 'a', label: 0 },
      { key: 'b', label: 1 },
    ];
    expect(stratifiedSubset(few, 0.01)).toHaveLength(2);
    expect(() => stratifiedSubset(items, 0)).toThrow(RangeError);
    expect(() => stratifiedSubset(items, 1.5)).toThrow(RangeError);
  });
});

describe('inHeadSet', () => {
  it('picks a stable share of keys', () => {
    const picked = items.filter((m) => inHeadSet(m.key, 0.15)).length;
    expect(picked).toBeGreaterThan(110);
    expect(picked).toBeLessThan(190);
    expect(items.map((m) => inHeadSet(m.key, 0.15))).toEqual(items.map((m) => inHeadSet(m.key, 0.15)));
  });
});

describe('figures', () => {
  it('counts errors and the ham false-positive rate', () => {
    expect(figures([0, 0, 0, 0, 1, 1], [0, 1, 0, 0, 1, 0])).toEqual({
      accuracy: 0.666667,
      ham_fpr: 0.25,
      errors: 2,
      n: 6,
    });
    expect(() => figures([0], [0, 1])).toThrow(TypeError);
  });
});

describe('withEvalViews', () => {
  it('adds the header-less views of each message, same label, leaving out empty ones', () => {
    const m: Message = {
      key: 'g/1',
      group: 'g',
      label: 1,
      checksum: '',
      text: 'Subject: Win money\nFrom: a@b.c\n\nClick here now to claim your prize.',
    };
    const empty: Message = { ...m, key: 'g/2', label: 0, text: 'Subject: hi\n\n' };
    const { texts, labels } = withEvalViews([m, empty]);
    expect(texts[0]).toBe(m.text);
    expect(texts).toContain('Click here now to claim your prize.');
    expect(texts).toContain('Win money\n\nClick here now to claim your prize.');
    expect(labels.slice(0, 4)).toEqual([1, 1, 1, 1]);
    // The second message has no body: only its full text and its subject view remain.
    expect(texts.slice(4)).toEqual([empty.text, 'hi']);
    expect(labels.slice(4)).toEqual([0, 0]);
  });
});
