import { describe, expect, it } from 'vitest';
import { withTimeout } from './index.ts';

describe('withTimeout', () => {
  it('a value in time', async () => {
    expect(await withTimeout(Promise.resolve(7), 1000)).toEqual({ kind: 'value', value: 7 });
  });

  it('a rejection in time is an error outcome, not a throw', async () => {
    const error = new Error('down');
    expect(await withTimeout(Promise.reject(error), 1000)).toEqual({ kind: 'error', error });
  });

  it('a promise that never settles times out after about ms', async () => {
    const started = Date.now();
    expect(await withTimeout(new Promise(() => {}), 20)).toEqual({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('clears its timer once the race is decided', async () => {
    const created: unknown[] = [];
    const cleared: unknown[] = [];
    const { setTimeout: set, clearTimeout: clear } = globalThis;
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      const id = set(...args);
      created.push(id);
      return id;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((...args: Parameters<typeof clearTimeout>) => {
      cleared.push(args[0]);
      clear(...args);
    }) as typeof clearTimeout;
    try {
      await withTimeout(Promise.resolve('x'), 60_000);
    } finally {
      globalThis.setTimeout = set;
      globalThis.clearTimeout = clear;
    }
    expect(created[0]).toBeDefined();
    expect(cleared).toContain(created[0]);
  });
});
