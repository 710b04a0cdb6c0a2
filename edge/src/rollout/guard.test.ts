import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { RolloutPolicy } from '../../../shared/rollout/index.ts';
import type { AppEnv } from '../types.ts';
import { createGuard, type HealthBackend, healthKey } from './guard.ts';
import { RolloutStore } from './store.ts';

const policy = RolloutPolicy.parse({
  model: 'spam',
  stable: 'v1',
  candidate: 'v2',
  mode: 'canary',
  weight: 0.1,
  revision: 7,
  updated_at: '2026-12-02T00:00:00Z',
  updated_by: 'k',
  guardrails: { min_samples: 4, max_disagreement: 0.5 },
});

/** An in-memory stand-in for Upstash that counts pipelines (the real store is exercised by the workerd tests). */
function fakeBackend() {
  const hash = new Map<string, number>();
  const state = { pipelines: 0, writes: [] as unknown[] };
  const backend: HealthBackend = {
    get: async () => null,
    eval: async (_script, _keys, args) => {
      state.writes.push(JSON.parse(String(args[1])));
      return [1, Number(args[0]) + 1];
    },
    pipeline() {
      const ops: Array<() => unknown> = [];
      return {
        hincrby: (_key: string, f: string, n: number) => ops.push(() => hash.set(f, (hash.get(f) ?? 0) + n)),
        expire: () => ops.push(() => 1),
        hgetall: (key: string) => {
          expect(key).toBe(healthKey('spam', 7));
          ops.push(() => Object.fromEntries(hash));
        },
        exec: async () => {
          state.pipelines++;
          return ops.map((op) => op());
        },
      };
    },
  };
  return { backend, hash, state };
}

function context() {
  const waits: Array<Promise<unknown>> = [];
  const c = {
    executionCtx: { waitUntil: (p: Promise<unknown>) => waits.push(p) },
  } as unknown as Context<AppEnv>;
  return { c, waits };
}

describe('createGuard (candidate health counts, batched per isolate; a fake backend counts Upstash calls)', () => {
  it('sums samples in the isolate and writes them in one pipeline per interval; judges on the sums', async () => {
    const { backend, hash, state } = fakeBackend();
    const guard = createGuard(new RolloutStore(), () => backend, { flushMs: 40 });
    const { c, waits } = context();
    await guard(c, policy, { n: 1, cmp: 1, dis: 0 }); // the first sample goes out at once
    expect(state.pipelines).toBe(1);
    for (let i = 0; i < 5; i++) await guard(c, policy, { n: 1, cmp: 1, dis: 1 });
    expect(state.pipelines).toBe(1); // waiting in the isolate, one delayed flush scheduled
    expect(waits).toHaveLength(1);
    await Promise.all(waits);
    expect(state.pipelines).toBe(2);
    expect(Object.fromEntries(hash)).toEqual({ n: 6, cmp: 6, dis: 5 });
    // 5 of 6 disagree (> 0.5 over >= 4): rolled back once, by compare-and-set on revision 7.
    expect(state.writes).toHaveLength(1);
    expect(state.writes[0]).toMatchObject({ revision: 8, mode: 'off', updated_by: 'guardrail' });
  });

  it('flushMs 0 writes and judges after every sample', async () => {
    const { backend, state } = fakeBackend();
    const guard = createGuard(new RolloutStore(), () => backend, { flushMs: 0 });
    const { c } = context();
    for (let i = 0; i < 3; i++) await guard(c, policy, { n: 1 });
    expect(state.pipelines).toBe(3);
  });
});
