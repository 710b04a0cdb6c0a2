/**
 * The edge stats (report.ts) in the Prometheus text exposition format (version 0.0.4), so that Prometheus can
 * scrape the edge's global counters through the admin route (`?format=prometheus`; scrape job and alerts in
 * infra/observability). Every value is a gauge over the requested window (`minutes`), per model version: the
 * counters live in Upstash per minute, so the window is summed at read time and not a monotonic counter.
 *
 * Hand-written because the edge bundle must stay small (prom-client is a Node library with a registry, default
 * metrics and timers the Worker has no use for); this is only the text format, with its label escaping.
 */
import type { VersionStats } from './report.ts';

/** The series this exposition writes, with their help text (infra/observability checks its rules against it). */
export const EDGE_STATS_METRICS = {
  edge_stats_window_seconds: 'Length of the window every edge_window_* value covers.',
  edge_window_requests: 'Requests answered in the window, per model version.',
  edge_window_items:
    'Items answered in the window, by who answered them (served_by: cache, edge, edge-degraded, origin).',
  edge_window_escalations: 'Items escalated from the edge in the window, by reason.',
  edge_window_origin_pool_items:
    'Escalated items answered in the window, by the origin pool that answered them.',
  edge_window_labels: 'Items answered in the window, by predicted label.',
  edge_window_ood_items: 'Items answered with ood: true in the window.',
  edge_window_unsure_items:
    'Items answered with unsure: true (the decision rule answered its default label) in the window.',
  edge_model_edge_share:
    'Share of the items a model answered (cache hits excluded) that the edge answered itself, over the window.',
  edge_expected_edge_share: "The release's planned edge share (manifest expected_edge_share, validation).",
  edge_prediction_psi:
    "PSI of the window's score or coverage histogram against the release's validation baseline.",
  edge_rollout_samples:
    'Items compared in the window by the rollout (kind: shadow = this version vs stable, audit = edge vs origin).',
  edge_rollout_agreement:
    'Share of the compared items whose labels agreed, over the window (kind: shadow, audit).',
} as const;

export type EdgeStatsMetric = keyof typeof EDGE_STATS_METRICS;

/** A label value as the text format wants it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

type Labels = Record<string, string>;

function sample(name: EdgeStatsMetric, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `${name}{${pairs.join(',')}} ${Number.isFinite(value) ? value : 'NaN'}`;
}

export interface ExpositionVersion extends VersionStats {
  expected_edge_share: number | null;
}

/** The share of model-answered items (edge, edge-degraded, origin; not cache) the edge answered; null without any. */
export function modelEdgeShare(servedBy: Record<string, number>): number | null {
  const edge = servedBy.edge ?? 0;
  const answered = edge + (servedBy['edge-degraded'] ?? 0) + (servedBy.origin ?? 0);
  return answered === 0 ? null : edge / answered;
}

export function toPrometheus(model: string, minutes: number, versions: readonly ExpositionVersion[]): string {
  const series = new Map<EdgeStatsMetric, string[]>();
  const add = (name: EdgeStatsMetric, labels: Labels, value: number) => {
    const list = series.get(name) ?? [];
    list.push(sample(name, labels, value));
    series.set(name, list);
  };
  add('edge_stats_window_seconds', { model }, minutes * 60);
  for (const v of versions) {
    const base = { model, version: v.version };
    add('edge_window_requests', base, v.requests);
    for (const [servedBy, n] of Object.entries(v.served_by))
      add('edge_window_items', { ...base, served_by: servedBy }, n);
    for (const [pool, n] of Object.entries(v.origin_pools ?? {}))
      add('edge_window_origin_pool_items', { ...base, pool }, n);
    for (const [reason, n] of Object.entries(v.escalation_reasons))
      add('edge_window_escalations', { ...base, reason }, n);
    for (const [label, n] of Object.entries(v.labels)) add('edge_window_labels', { ...base, label }, n);
    add('edge_window_ood_items', base, v.ood);
    add('edge_window_unsure_items', base, v.unsure);
    const share = modelEdgeShare(v.served_by);
    if (share !== null) add('edge_model_edge_share', base, Number(share.toFixed(6)));
    if (v.expected_edge_share !== null) add('edge_expected_edge_share', base, v.expected_edge_share);
    if (v.psi.score !== null) add('edge_prediction_psi', { ...base, kind: 'score' }, v.psi.score);
    if (v.psi.coverage !== null) add('edge_prediction_psi', { ...base, kind: 'coverage' }, v.psi.coverage);
    for (const [kind, cmp] of [
      ['shadow', v.shadow],
      ['audit', v.audit],
    ] as const) {
      if (cmp.samples === 0) continue;
      add('edge_rollout_samples', { ...base, kind }, cmp.samples);
      if (cmp.agreement !== null) add('edge_rollout_agreement', { ...base, kind }, cmp.agreement);
    }
  }
  const lines: string[] = [];
  for (const [name, samples] of series) {
    lines.push(`# HELP ${name} ${EDGE_STATS_METRICS[name]}`, `# TYPE ${name} gauge`, ...samples);
  }
  return `${lines.join('\n')}\n`;
}

/** The text format's content type (what Prometheus expects from a classic scrape). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
