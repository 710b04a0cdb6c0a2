import { describe, expect, it } from 'vitest';
import { LABELS } from './corpus.ts';
import { DRILL_STYLES, DRILL_TEXTS, drillFraction, drillSplit } from './drill.ts';
import { EVERYDAY_TEXTS } from './everyday.ts';
import { parseExtra } from './extra.ts';

const norm = (text: string) => text.trim().toLowerCase();
const labels = (texts: readonly { label: 0 | 1 }[]) => new Set(texts.map((t) => t.label));

describe('the domain-shift drill texts', () => {
  it('are many, with enough ham and spam', () => {
    expect(DRILL_TEXTS.length).toBeGreaterThanOrEqual(300);
    expect(DRILL_TEXTS.filter((t) => t.label === 0).length).toBeGreaterThanOrEqual(180);
    expect(DRILL_TEXTS.filter((t) => t.label === 1).length).toBeGreaterThanOrEqual(100);
  });

  it('have unique, well-formed keys that extra data takes as group drill', () => {
    expect(new Set(DRILL_TEXTS.map((t) => t.key)).size).toBe(DRILL_TEXTS.length);
    for (const t of DRILL_TEXTS) {
      expect(t.key).toMatch(/^drill\/[a-z-]+-\d{2}$/);
      expect(t.key.startsWith(`drill/${t.style}-`)).toBe(true);
      expect(t.key.slice('drill/'.length)).toMatch(/^[\w.-]{1,128}$/);
    }
    const ndjson = DRILL_TEXTS.map((t) =>
      JSON.stringify({ key: t.key, text: t.text, label: LABELS[t.label] }),
    ).join('\n');
    const parsed = parseExtra(ndjson, 'drill');
    expect(parsed.map((m) => m.key)).toEqual(DRILL_TEXTS.map((t) => t.key));
    expect(new Set(parsed.map((m) => m.group))).toEqual(new Set(['drill']));
    expect(parsed.map((m) => m.label)).toEqual(DRILL_TEXTS.map((t) => t.label));
  });

  it('have unique texts, none from the everyday fixture, none too short or too long', () => {
    expect(new Set(DRILL_TEXTS.map((t) => norm(t.text))).size).toBe(DRILL_TEXTS.length);
    const everyday = new Set(EVERYDAY_TEXTS.map((t) => norm(t.text)));
    expect(DRILL_TEXTS.filter((t) => everyday.has(norm(t.text))).map((t) => t.key)).toEqual([]);
    for (const t of DRILL_TEXTS) {
      expect(t.text.trim().length, t.key).toBeGreaterThanOrEqual(2);
      expect(t.text.length, t.key).toBeLessThanOrEqual(320);
      expect(t.text, t.key).toBe(t.text.trim());
    }
  });

  it('use every style, each style all ham or all spam', () => {
    expect(new Set(DRILL_TEXTS.map((t) => t.style))).toEqual(new Set(DRILL_STYLES));
    for (const style of DRILL_STYLES)
      expect(labels(DRILL_TEXTS.filter((t) => t.style === style)).size, style).toBe(1);
  });
});

describe('drillSplit', () => {
  it('is stable and places each text by its key alone', () => {
    const a = drillSplit();
    expect(drillSplit()).toEqual(a);
    expect(a.labelled.length + a.heldOut.length).toBe(DRILL_TEXTS.length);
    const held = new Set(a.heldOut.map((t) => t.key));
    expect(a.labelled.some((t) => held.has(t.key))).toBe(false);
    for (const t of a.heldOut) expect(drillFraction(t.key)).toBeLessThan(0.4);
    // A text's part does not depend on the others.
    const some = DRILL_TEXTS.filter((_, i) => i % 3 === 0);
    expect(drillSplit(some).heldOut).toEqual(a.heldOut.filter((t) => some.includes(t)));
  });

  it('holds out roughly 40%, and both parts have ham and spam in similar shares', () => {
    const { labelled, heldOut } = drillSplit();
    const share = heldOut.length / DRILL_TEXTS.length;
    expect(share).toBeGreaterThanOrEqual(0.3);
    expect(share).toBeLessThanOrEqual(0.5);
    expect(labels(labelled)).toEqual(new Set([0, 1]));
    expect(labels(heldOut)).toEqual(new Set([0, 1]));
    for (const label of [0, 1]) {
      const all = DRILL_TEXTS.filter((t) => t.label === label).length;
      const held = heldOut.filter((t) => t.label === label).length;
      expect(held / all, `label ${label}`).toBeGreaterThanOrEqual(0.3);
      expect(held / all, `label ${label}`).toBeLessThanOrEqual(0.5);
    }
  });

  it('follows the share it is given', () => {
    expect(drillSplit(DRILL_TEXTS, 0).heldOut).toEqual([]);
    expect(drillSplit(DRILL_TEXTS, 1).labelled).toEqual([]);
    expect(drillSplit(DRILL_TEXTS, 0.2).heldOut.length).toBeLessThan(drillSplit().heldOut.length);
  });
});
