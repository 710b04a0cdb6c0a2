import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker.ts';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('CircuitBreaker (injected clock)', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, now: c.now });
    b.onFailure();
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    b.onFailure();
    expect(b.state).toBe('closed');
    b.onFailure();
    expect(b.state).toBe('open');
    expect(b.available()).toBe(false);
    expect(b.acquire()).toBe(false);
  });

  it('after the cooldown lets exactly one probe through; success closes it', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000, now: c.now });
    b.onFailure();
    c.advance(999);
    expect(b.state).toBe('open');
    c.advance(1);
    expect(b.state).toBe('half-open');
    expect(b.acquire()).toBe(true);
    expect(b.acquire()).toBe(false);
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(b.acquire()).toBe(true);
    expect(b.acquire()).toBe(true);
  });

  it('a failed probe opens it for another full cooldown', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 500, now: c.now });
    b.onFailure();
    b.onFailure();
    c.advance(500);
    expect(b.acquire()).toBe(true);
    b.onFailure();
    expect(b.state).toBe('open');
    c.advance(499);
    expect(b.available()).toBe(false);
    c.advance(1);
    expect(b.available()).toBe(true);
  });

  it('a neutral outcome frees the probe slot without closing', () => {
    const c = clock();
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10, now: c.now });
    b.onFailure();
    c.advance(10);
    expect(b.acquire()).toBe(true);
    b.onNeutral();
    expect(b.state).toBe('half-open');
    expect(b.acquire()).toBe(true);
  });

  it('validates its options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(
      /failureThreshold must be an integer >= 1, got 0/,
    );
    expect(() => new CircuitBreaker({ cooldownMs: -5 })).toThrow(
      /cooldownMs must be a positive number, got -5/,
    );
  });
});
