import { describe, expect, it } from 'vitest';
import { InferenceError } from '../errors/index.ts';
import {
  ClassifyResponse,
  oodParameters,
  parseClassifyRequest,
  predictionsFromProbabilities,
  utf8Length,
} from './text.ts';

describe('parseClassifyRequest', () => {
  it('accepts {text} and {texts}', () => {
    expect(parseClassifyRequest({ text: 'hello' })).toEqual(['hello']);
    expect(parseClassifyRequest({ texts: ['a', ''] })).toEqual(['a', '']);
  });
  it('explains each kind of bad body', () => {
    expect(() => parseClassifyRequest('hi')).toThrow(/JSON object/);
    expect(() => parseClassifyRequest([])).toThrow(/JSON object/);
    expect(() => parseClassifyRequest({})).toThrow(/needs "text"/);
    expect(() => parseClassifyRequest({ text: 'a', texts: ['b'] })).toThrow(/not both/);
    expect(() => parseClassifyRequest({ text: 5 })).toThrow(/"text" must be a string/);
    expect(() => parseClassifyRequest({ texts: [] })).toThrow(/"texts" must be an array of 1 to 256/);
    expect(() => parseClassifyRequest({ texts: [1] })).toThrow(/"texts"/);
    expect(() => parseClassifyRequest({ text: 'a', extra: 1 })).toThrow(/unknown field\(s\): extra/);
  });
  it('refuses more than 256 texts with 413 payload_too_large naming the limit, before looking at them', () => {
    let err: unknown;
    try {
      parseClassifyRequest({ texts: Array.from({ length: 40_000 }, () => 1) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).code).toBe('payload_too_large');
    expect((err as InferenceError).message).toMatch(/40000 items; .* at most 256/);
    expect(parseClassifyRequest({ texts: Array.from({ length: 256 }, () => 'x') })).toHaveLength(256);
  });
});

describe('predictionsFromProbabilities', () => {
  it('picks the most probable label per row and keeps every score', () => {
    const p = predictionsFromProbabilities(new Float32Array([0.2, 0.8, 0.9, 0.1]), ['ham', 'spam']);
    expect(p).toHaveLength(2);
    expect(p[0]?.label).toBe('spam');
    expect(p[0]?.score).toBeCloseTo(0.8, 6);
    expect(p[1]).toMatchObject({ label: 'ham' });
    expect(Object.keys(p[1]?.scores ?? {})).toEqual(['ham', 'spam']);
    const body = { model: 'spam', version: '1', predictions: p, served_by: 'origin', request_id: 'r' };
    expect(ClassifyResponse.parse(body)).toEqual(body);
  });
  it('refuses probabilities that do not split into rows', () => {
    expect(() => predictionsFromProbabilities([0.1, 0.2, 0.7], ['a', 'b'])).toThrow(/rows of 2 labels/);
  });
});

describe('oodParameters', () => {
  it('lists coverage and the OOD verdict per item as comma-separated strings; nothing without coverage', () => {
    expect(oodParameters([{ coverage: 1, ood: false }, { coverage: 0.123456, ood: true }, {}])).toEqual({
      coverage_items: '1.0000,0.1235,',
      ood_items: 'false,true,false',
    });
    expect(oodParameters([{}, {}])).toEqual({});
  });
});

describe('utf8Length', () => {
  it('counts what TextEncoder writes: ASCII, 2-, 3- and 4-byte characters, lone surrogates as U+FFFD', () => {
    const enc = new TextEncoder();
    for (const s of [
      '',
      'abc',
      'é€',
      '🙂x',
      'مرحبا',
      '\ud800',
      '\ud800\u00e9',
      'a\udc00b',
      '\udbff\udfff',
      `${'x'.repeat(1000)}🙂`,
    ]) {
      expect(utf8Length(s), JSON.stringify(s)).toBe(enc.encode(s).length);
    }
  });
});
