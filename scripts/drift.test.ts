import { describe, expect, it } from 'vitest';
import { driftTable } from './drift.ts';

const base = {
  version: 'v1',
  requests: 10,
  items: 120,
  served_by_share: { edge: 0.75, origin: 0.25 },
  escalation_reasons: { low_confidence: 3 },
  labels: { spam: 4, ham: 8 },
  ood: 1,
  unsure: 2,
  psi: { score: 0.31, coverage: 0.02 },
  expected_edge_share: 0.9,
  model_edge_share: 0.8,
};

describe('npm run drift table', () => {
  it('prints one row per version with shares, PSI (flagged above the bound) and the label mix', () => {
    const lines = driftTable('spam', 60, [base]);
    expect(lines[0]).toMatch(/^spam: the last 60 minute\(s\)/);
    expect(lines[1]).toMatch(
      /^version +requests +items +edge +edge \(no cache\) +edge plan +origin .* ood +unsure +psi score/,
    );
    expect(lines[2]).toMatch(
      /^v1 +10 +120 +75\.0% +80\.0% +90\.0% +25\.0% +0\.0% +0\.0% +1 +2 +0\.310 \(!\) +0\.020 +ham 8, spam 4 +low_confidence 3$/,
    );
    expect(driftTable('spam', 5, [])).toContain('(no traffic counted yet)');
  });

  it('over a handful of items PSI is noise: shown, not flagged', () => {
    expect(driftTable('spam', 5, [{ ...base, items: 8 }])[2]).toMatch(/0\.310 \(few items\)/);
  });
});
