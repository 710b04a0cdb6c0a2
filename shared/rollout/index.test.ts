import { describe, expect, it } from 'vitest';
import {
  defaultPolicy,
  policyProblems,
  type RolloutPolicy,
  RolloutPolicyInput,
  trafficBucket,
  versionFor,
} from './index.ts';

const policy = (over: Partial<RolloutPolicy> = {}): RolloutPolicy => ({
  ...defaultPolicy('spam', 'v1'),
  revision: 3,
  candidate: 'v2',
  mode: 'canary',
  weight: 0.1,
  ...over,
});

describe('rollout policy', () => {
  it('fills defaults and refuses what does not make sense, naming the field', () => {
    expect(RolloutPolicyInput.parse({ stable: 'v1' })).toMatchObject({
      candidate: null,
      mode: 'off',
      weight: 0,
      stickiness: 'key',
      audit_rate: 0,
      guardrails: { min_samples: 200 },
    });
    const problems = (v: unknown) => {
      const r = RolloutPolicyInput.safeParse(v);
      return r.success ? '' : policyProblems(r.error);
    };
    expect(problems({ stable: 'v1', mode: 'canary' })).toMatch(
      /^candidate: mode canary needs a candidate version$/,
    );
    expect(problems({ stable: 'v1', candidate: 'v1', mode: 'shadow' })).toMatch(
      /candidate: the candidate is the stable/,
    );
    expect(problems({ stable: 'v1', candidate: 'v2', mode: 'canary', weight: 1.5 })).toMatch(/^weight: /);
    expect(problems({ stable: 'v1', mode: 'blue-green' })).toMatch(/^mode: /);
    expect(problems({ stable: 'v1', colour: 'red' })).toMatch(/colour/);
    expect(problems({ stable: '../etc' })).toMatch(/^stable: /);
    expect(problems({ stable: 'v1', guardrails: { max_error_rate: -1 } })).toMatch(
      /^guardrails.max_error_rate: /,
    );
    expect(problems(null)).toMatch(/^\(root\): /);
  });

  it('canary: over 2,000 keys the candidate share is within 2 points of the weight, and a key keeps its arm', () => {
    for (const weight of [0.1, 0.5]) {
      const p = policy({ weight });
      let candidate = 0;
      for (let i = 0; i < 2000; i++) {
        const key = `key_${i.toString(36)}_${(i * 7919).toString(16)}`;
        const arm = versionFor(p, trafficBucket('spam', key)).arm;
        if (arm === 'candidate') candidate++;
        // Sticky: the same key, asked again, gets the same arm.
        expect(versionFor(p, trafficBucket('spam', key)).arm).toBe(arm);
      }
      expect(Math.abs(candidate / 2000 - weight), `weight ${weight}`).toBeLessThanOrEqual(0.02);
    }
  });

  it('only canary and ab give the candidate traffic; shadow and off answer with stable', () => {
    for (const mode of ['off', 'shadow'] as const) {
      expect(versionFor(policy({ mode, weight: 1 }), 0).version).toBe('v1');
    }
    expect(versionFor(policy({ mode: 'ab', weight: 0.5 }), 0.49).version).toBe('v2');
    expect(versionFor(policy({ mode: 'ab', weight: 0.5 }), 0.5).version).toBe('v1');
    // A key lands in different buckets for different models.
    expect(trafficBucket('spam', 'k1')).not.toBe(trafficBucket('digits', 'k1'));
  });
});
