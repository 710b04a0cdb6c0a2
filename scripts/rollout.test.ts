import { describe, expect, it } from 'vitest';
import { emptyStats } from '../edge/src/stats/report.ts';
import { defaultPolicy } from '../shared/rollout/index.ts';
import { nextPolicy, statusLines } from './rollout.ts';

const current = { ...defaultPolicy('spam', 'v1'), revision: 4, audit_rate: 0.02 };

describe('npm run rollout', () => {
  it('builds the PUT body from the current policy, keeping its revision and the fields not given', () => {
    expect(nextPolicy('canary', current, ['--candidate', 'v2', '--weight', '0.1'])).toMatchObject({
      stable: 'v1',
      candidate: 'v2',
      mode: 'canary',
      weight: 0.1,
      audit_rate: 0.02,
      revision: 4,
    });
    expect(nextPolicy('shadow', current, ['--candidate', 'v2'])).toMatchObject({
      mode: 'shadow',
      weight: 0.1,
    });
    expect(nextPolicy('audit', current, ['--rate', '0.05'])).toMatchObject({ audit_rate: 0.05, mode: 'off' });
    expect(() => nextPolicy('canary', current, [])).toThrow(/canary needs --candidate/);
    expect(() => nextPolicy('ab', current, ['--candidate', 'v2', '--weight', 'half'])).toThrow(
      /--weight must be a number/,
    );
  });

  it('prints the policy and a row per version with its shadow and audit agreement', () => {
    const v2 = emptyStats('v2');
    v2.requests = 10;
    v2.shadow = { ...v2.shadow, samples: 20, agree: 19, agreement: 0.95 };
    const lines = statusLines(
      {
        policy: { ...current, candidate: 'v2', mode: 'shadow', weight: 0.1 },
        versions: ['v1', 'v2'],
        stored: true,
      },
      [emptyStats('v1'), v2],
    );
    expect(lines[0]).toMatch(/^spam: rollout revision 4, by default/);
    expect(lines[1]).toBe('stable v1, candidate v2, mode shadow, weight 10.0%, stickiness key, audit 2.0%');
    expect(lines[4]).toMatch(
      /^version +role +requests +items +shadow n +shadow agree +audit n +audit agree$/,
    );
    expect(lines[6]).toMatch(/^v2 +candidate +10 +0 +20 +95\.0% +0 +-$/);
  });
});
