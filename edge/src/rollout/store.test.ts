import { describe, expect, it } from 'vitest';
import { defaultPolicy, type RolloutPolicy } from '../../../shared/rollout/index.ts';
import { type RolloutBackend, RolloutStore, rolloutKey } from './store.ts';

const stored = (revision: number): RolloutPolicy => ({
  ...defaultPolicy('spam', 'v1'),
  revision,
  updated_by: 'k',
});

/** A backend the test drives: what GET returns, or that it fails. */
function backend(state: { value?: unknown; fail?: boolean; gets: number }): RolloutBackend {
  return {
    async get(key) {
      state.gets++;
      expect(key).toBe(rolloutKey('spam'));
      if (state.fail === true) throw new Error('connection refused');
      return state.value ?? null;
    },
    async eval() {
      throw new Error('not used');
    },
  };
}

describe('RolloutStore (per-isolate cache in front of the shared store; a fake backend stands in for Upstash)', () => {
  it('reads at most once per TTL, and the last known policy holds while the store is down', async () => {
    let now = 0;
    const warnings: Array<Record<string, unknown>> = [];
    const store = new RolloutStore({ ttlMs: 1000, now: () => now, warn: (f) => warnings.push(f) });
    const state: { value?: unknown; fail?: boolean; gets: number } = { value: stored(4), gets: 0 };
    const b = backend(state);
    expect((await store.current(b, 'spam'))?.revision).toBe(4);
    now = 999;
    expect((await store.current(b, 'spam'))?.revision).toBe(4);
    expect(state.gets).toBe(1);
    now = 1000;
    state.fail = true;
    expect((await store.current(b, 'spam'))?.revision).toBe(4);
    expect(warnings[0]).toMatchObject({
      model: 'spam',
      last_known_revision: 4,
      reason: 'connection refused',
    });
    // Not retried on every request while down: once per TTL.
    now = 1500;
    await store.current(b, 'spam');
    expect(state.gets).toBe(2);
    now = 2100;
    state.fail = false;
    state.value = JSON.stringify(stored(5));
    expect((await store.current(b, 'spam'))?.revision).toBe(5);
  });

  it('an invalid stored document is not used: the last known policy (or none) holds', async () => {
    const store = new RolloutStore({ ttlMs: 0, warn: () => {} });
    const state = { value: { revision: 'x' }, gets: 0 } as { value?: unknown; gets: number };
    expect(await store.current(backend(state), 'spam')).toBeUndefined();
    expect(await store.current(undefined, 'spam')).toBeUndefined();
  });
});
