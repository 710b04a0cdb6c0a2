import { describe, expect, it } from 'vitest';
import { EDGE_STATS_METRICS, escapeLabelValue, modelEdgeShare, toPrometheus } from './prometheus.ts';
import { emptyStats, type VersionStats } from './report.ts';

const stats = (over: Partial<VersionStats> = {}): VersionStats & { expected_edge_share: number | null } => ({
  ...emptyStats('v1'),
  version: 'v1',
  requests: 4,
  items: 10,
  served_by: { edge: 6, origin: 2, cache: 2 },
  served_by_share: {},
  escalation_reasons: { low_confidence: 2 },
  score_histogram: [],
  coverage_histogram: [],
  features_histogram: [],
  labels: { ham: 7, spam: 3 },
  ood: 1,
  unsure: 4,
  psi: { score: 0.3, coverage: null },
  expected_edge_share: 0.9,
  ...over,
});

describe('edge stats in the Prometheus text format', () => {
  it('writes HELP and TYPE once per series and one gauge per version and label', () => {
    const text = toPrometheus('spam', 60, [stats(), stats({ version: 'v2', served_by: { cache: 3 } })]);
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('# TYPE edge_window_items gauge');
    expect(lines.filter((l) => l === '# TYPE edge_window_items gauge')).toHaveLength(1);
    expect(lines).toContain('edge_stats_window_seconds{model="spam"} 3600');
    expect(lines).toContain('edge_window_items{model="spam",version="v1",served_by="origin"} 2');
    expect(lines).toContain('edge_window_items{model="spam",version="v2",served_by="cache"} 3');
    expect(lines).toContain('edge_model_edge_share{model="spam",version="v1"} 0.75');
    expect(lines).toContain('edge_prediction_psi{model="spam",version="v1",kind="score"} 0.3');
    expect(lines).toContain('edge_window_unsure_items{model="spam",version="v1"} 4');
    // Only cache hits: no model answered, so no share (not 0, not NaN); no coverage PSI without a baseline.
    expect(text).not.toContain('edge_model_edge_share{model="spam",version="v2"}');
    expect(text).not.toContain('kind="coverage"');
    // Every sample is a known series (the names infra/observability's rules may read).
    for (const l of lines.filter((x) => !x.startsWith('#'))) {
      expect(Object.keys(EDGE_STATS_METRICS)).toContain(l.slice(0, l.indexOf('{')));
    }
  });

  it('escapes label values (a model name from the URL cannot break the format)', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const text = toPrometheus('x"}\n evil 1', 1, []);
    expect(text.trimEnd().split('\n')).toEqual([
      '# HELP edge_stats_window_seconds Length of the window every edge_window_* value covers.',
      '# TYPE edge_stats_window_seconds gauge',
      'edge_stats_window_seconds{model="x\\"}\\n evil 1"} 60',
    ]);
  });

  it('counts the edge share over model answers only', () => {
    expect(modelEdgeShare({ edge: 9, origin: 1, cache: 100 })).toBe(0.9);
    expect(modelEdgeShare({ edge: 1, 'edge-degraded': 1 })).toBe(0.5);
    expect(modelEdgeShare({ cache: 5 })).toBeNull();
  });
});
