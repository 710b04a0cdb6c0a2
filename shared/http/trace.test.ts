import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent, startTrace } from './index.ts';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('W3C traceparent', () => {
  it('parses a valid header', () => {
    expect(parseTraceparent(VALID)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: '00f067aa0ba902b7',
      flags: '01',
    });
  });

  it.each([
    ['absent', undefined],
    ['garbage', 'hello'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['version 00 with extra fields', `${VALID}-extra`],
  ])('refuses %s', (_name, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future')?.traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('continues the caller trace with a new span of its own, keeping flags and tracestate', () => {
    const t = startTrace(VALID, 'vendor=abc');
    expect(t.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(t.parentId).toBe('00f067aa0ba902b7');
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe('00f067aa0ba902b7');
    expect(t.tracestate).toBe('vendor=abc');
    expect(formatTraceparent(t)).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${t.spanId}-01`);
  });

  it('starts a new sampled trace when the header is invalid, dropping tracestate', () => {
    const t = startTrace('nope', 'vendor=abc');
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t.parentId).toBeUndefined();
    expect(t.tracestate).toBeUndefined();
    expect(t.flags).toBe('01');
  });
});
