import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_AFTER_SECONDS, errorBody, InferenceError, OverloadedError } from './index.ts';

describe('errorBody', () => {
  it('gives every 429 and 503 a Retry-After: the thrower’s, else the default', () => {
    expect(errorBody(new InferenceError('unavailable', 'down'), 'r').headers).toEqual({
      'Retry-After': String(DEFAULT_RETRY_AFTER_SECONDS),
    });
    expect(errorBody(new InferenceError('not_ready', 'warming'), 'r').headers['Retry-After']).toBe('5');
    expect(errorBody(new OverloadedError('rate_limited', 'slow down', 12), 'r').headers).toEqual({
      'Retry-After': '12',
    });
    expect(
      errorBody(new InferenceError('unavailable', 'x', { headers: { 'retry-after': '1' } }), 'r').headers,
    ).toEqual({ 'retry-after': '1' });
  });

  it('adds nothing to other statuses, and hides what an unknown error says', () => {
    expect(errorBody(new InferenceError('forbidden', 'no'), 'r').headers).toEqual({});
    const unknown = errorBody(new Error('secret detail'), 'r');
    expect(unknown.status).toBe(500);
    expect(unknown.body.error).toEqual({ code: 'internal', message: 'internal error', request_id: 'r' });
  });
});
