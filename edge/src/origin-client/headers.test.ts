import { describe, expect, it } from 'vitest';
import type { Trace } from '../types.ts';
import { originHeaders } from './headers.ts';

const trace: Trace = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: 'a3ce929d0e0e4736',
  parentId: '00f067aa0ba902b7',
  flags: '01',
  tracestate: 'v=1',
};

describe('originHeaders', () => {
  it('adds the request id and the trace (the edge span as parent) to the extra headers', () => {
    expect(originHeaders('r1', trace, { accept: 'application/json' })).toEqual({
      accept: 'application/json',
      'x-request-id': 'r1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-a3ce929d0e0e4736-01',
      tracestate: 'v=1',
    });
  });

  it('sends no tracestate for a new trace, not even one passed in extra', () => {
    const fresh = { ...trace, parentId: undefined, tracestate: undefined };
    expect(originHeaders('r1', fresh)).not.toHaveProperty('tracestate');
    expect(originHeaders('r1', fresh, { tracestate: 'raw' })).not.toHaveProperty('tracestate');
    expect(originHeaders('r1', trace, { tracestate: 'raw', 'x-request-id': 'x' })).toMatchObject({
      'x-request-id': 'r1',
      tracestate: 'v=1',
    });
  });
});
