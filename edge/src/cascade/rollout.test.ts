import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { Guardrails, RolloutPolicy } from '../../../shared/rollout/index.ts';
import type { AppEnv } from '../types.ts';
import { countFailure, guardrailBreach } from './rollout.ts';
import type { AnswerDeps, CascadeInput } from './types.ts';

const g = Guardrails.parse({
  min_samples: 100,
  max_error_rate: 0.05,
  max_p95_ms: 500,
  max_disagreement: 0.2,
});
const h = (over: Partial<Parameters<typeof guardrailBreach>[1]>) => ({
  n: 0,
  err: 0,
  slow: 0,
  cmp: 0,
  dis: 0,
  ...over,
});

describe('guardrailBreach', () => {
  it('judges nothing below min_samples, then each bound on its own counters', () => {
    expect(guardrailBreach(g, h({ n: 99, err: 99, slow: 99, cmp: 99, dis: 99 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, err: 5 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, err: 6 }))).toBe(
      'error rate 0.060 > 0.05 over 100 candidate requests',
    );
    expect(guardrailBreach(g, h({ n: 100, slow: 5 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ n: 100, slow: 6 }))).toMatch(/^latency p95 above 500 ms \(6\.0% of 100/);
    expect(guardrailBreach(g, h({ cmp: 100, dis: 20 }))).toBeUndefined();
    expect(guardrailBreach(g, h({ cmp: 100, dis: 21 }))).toMatch(
      /^disagreement with stable 0\.210 > 0\.2 over 100/,
    );
  });
});

describe('countFailure', () => {
  const policy = (mode: 'canary' | 'shadow') =>
    RolloutPolicy.parse({
      model: 'm',
      stable: 'v1',
      candidate: 'v2',
      mode,
      weight: 0.5,
      revision: 3,
      updated_at: '2026-12-02T00:00:00Z',
      updated_by: 'test',
    });
  const run = (input: Partial<CascadeInput>, p: RolloutPolicy | undefined) => {
    const counted: Array<[string, string, Record<string, number>]> = [];
    const guarded: unknown[] = [];
    const deps = {
      releases: () => [],
      countFields: (_c, model, version, fields) => counted.push([model, version, Object.fromEntries(fields)]),
      guard: async (_c, _p, fields) => {
        guarded.push(fields);
      },
    } as Partial<AnswerDeps> as AnswerDeps;
    const waits: Array<Promise<unknown>> = [];
    const c = {
      executionCtx: { waitUntil: (w: Promise<unknown>) => waits.push(w) },
    } as unknown as Context<AppEnv>;
    countFailure(c, deps, { model: 'm', version: 'v2', mode: 'auto', deadline: 0, ...input }, p);
    return { counted, guarded, waits };
  };

  it('counts a failed request under its version, and as a candidate error under canary / A-B only', async () => {
    const canary = run({ arm: 'candidate' }, policy('canary'));
    expect(canary.counted).toEqual([['m', 'v2', { fail: 1 }]]);
    await Promise.all(canary.waits);
    expect(canary.guarded).toEqual([{ n: 1, err: 1 }]);
    expect(run({ version: 'v1', arm: 'stable' }, policy('canary')).guarded).toEqual([]);
    expect(run({ arm: 'candidate' }, policy('shadow')).guarded).toEqual([]);
    // No version chosen and none embedded: nothing to count under.
    expect(run({ version: undefined }, undefined).counted).toEqual([]);
  });
});
