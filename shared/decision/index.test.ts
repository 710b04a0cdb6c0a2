// Runs in Node and in workerd (both test projects include shared/**/*.test.ts): the one test of the decision rule
// for both tiers. The edge (student) and the origin (teacher) both label through predictionsFromProbabilities, which
// calls decideRow; test/e2e/cascade.test.ts checks both tiers' answers through the whole stack.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest/index.ts';
import { predictionsFromProbabilities } from '../protocol/text.ts';
import { confidenceOf, decideRow, type LabelRule, labelRule } from './index.ts';

const LABELS = ['ham', 'spam'];
const RULE: LabelRule = { defaultLabel: 'ham', cutoffs: { spam: 0.9, ham: 0.6 } };

describe('decideRow', () => {
  it('answers the argmax where it clears its cutoff', () => {
    expect(decideRow([0.05, 0.95], LABELS, RULE)).toEqual({ label: 'spam', score: 0.95, unsure: false });
    expect(decideRow([0.7, 0.3], LABELS, RULE)).toEqual({ label: 'ham', score: 0.7, unsure: false });
  });

  it('answers the default label, unsure, under the cutoff; score stays the answered label probability', () => {
    expect(decideRow([0.15, 0.85], LABELS, RULE)).toEqual({ label: 'ham', score: 0.15, unsure: true });
    // The default label itself under its own cutoff: still the default, but unsure.
    expect(decideRow([0.55, 0.45], LABELS, RULE)).toEqual({ label: 'ham', score: 0.55, unsure: true });
  });

  it('is exact at the cutoff and never sure of NaN', () => {
    expect(decideRow([0.1, 0.9], LABELS, RULE).unsure).toBe(false);
    expect(decideRow([Number.NaN, Number.NaN], LABELS, RULE).unsure).toBe(true);
  });

  it('without a rule, or for a label with no cutoff, answers the argmax (multi-class families)', () => {
    expect(decideRow([0.2, 0.5, 0.3], ['a', 'b', 'c'])).toEqual({ label: 'b', score: 0.5, unsure: false });
    const partial: LabelRule = { defaultLabel: 'a', cutoffs: { c: 0.99 } };
    expect(decideRow([0.2, 0.5, 0.3], ['a', 'b', 'c'], partial).label).toBe('b');
    expect(decideRow([0.2, 0.3, 0.5], ['a', 'b', 'c'], partial)).toEqual({
      label: 'a',
      score: 0.2,
      unsure: true,
    });
  });

  it('reads a row at an offset of a row-major matrix', () => {
    expect(decideRow([0.9, 0.1, 0.02, 0.98], LABELS, RULE, 2).label).toBe('spam');
  });
});

describe('predictionsFromProbabilities under a rule', () => {
  it('labels each row by the rule and keeps the raw scores', () => {
    const p = predictionsFromProbabilities(new Float32Array([0.15, 0.85, 0.02, 0.98]), LABELS, RULE);
    expect(p.map((x) => [x.label, x.unsure])).toEqual([
      ['ham', true],
      ['spam', undefined],
    ]);
    expect(p[0]?.scores.spam).toBeCloseTo(0.85, 6);
    expect(p[0]?.score).toBeCloseTo(0.15, 6);
    expect(confidenceOf(p[0] as never)).toBeCloseTo(0.85, 6);
  });
});

describe('labelRule', () => {
  const manifest = (decision: unknown) =>
    parseManifest({
      schema_version: 1,
      name: 'spam',
      version: 'v1',
      created: '2026-12-07T00:00:00Z',
      labels: LABELS,
      artifacts: {
        teacher: { file: 't.onnx', sha256: 'a'.repeat(64), bytes: 1 },
        student: { file: 's.onnx', sha256: 'b'.repeat(64), bytes: 1 },
      },
      serving: { origin: 'teacher', edge: 'student' },
      decision,
    });

  it('gives each served artifact its own cutoffs', () => {
    const m = manifest({
      default_label: 'ham',
      cutoffs: { teacher: { spam: 0.9 }, student: { spam: 0.95 } },
    });
    expect(labelRule(m, 'student')).toEqual({ defaultLabel: 'ham', cutoffs: { spam: 0.95 } });
    expect(labelRule(m, 'teacher')?.cutoffs).toEqual({ spam: 0.9 });
    expect(labelRule(manifest(undefined), 'teacher')).toBeUndefined();
  });

  it('refuses a rule naming an unknown label or artifact', () => {
    expect(() => manifest({ default_label: 'eggs', cutoffs: {} })).toThrow(/default_label 'eggs'/);
    expect(() => manifest({ default_label: 'ham', cutoffs: { judge: { spam: 0.9 } } })).toThrow(
      /artifact 'judge'/,
    );
    expect(() => manifest({ default_label: 'ham', cutoffs: { teacher: { eggs: 0.9 } } })).toThrow(
      /label 'eggs'/,
    );
    expect(() => manifest({ default_label: 'ham', cutoffs: { teacher: { spam: 1.5 } } })).toThrow(
      /not a valid manifest/,
    );
  });
});
