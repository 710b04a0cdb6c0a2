/**
 * The metric names the origin exports (origin/src/metrics.ts), the only names rules, dashboards and scaling
 * queries may use. observability.test.ts checks every query against this list, and the list against a scrape of
 * a running origin.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

export const ORIGIN_METRICS: Readonly<Record<string, MetricType>> = {
  nv_inference_request_success: 'counter',
  nv_inference_request_failure: 'counter', // + label reason: the error code (shared/errors)
  nv_inference_count: 'counter', // rows inferred
  nv_inference_exec_count: 'counter', // batches executed
  nv_inference_request_duration_seconds: 'histogram',
  nv_inference_queue_duration_seconds: 'histogram',
  nv_inference_compute_duration_seconds: 'histogram',
  nv_inference_pending_request_count: 'gauge', // rows queued
  nv_model_ready: 'gauge',
  // Drift of the answers (text models): + label `label` on the score histogram, `kind` on the PSI gauge
  nv_inference_prediction_score: 'histogram', // top-class score, by predicted label
  nv_inference_prediction_coverage: 'histogram', // input coverage, releases with an OOD rule
  nv_inference_prediction_ood: 'counter', // answers marked ood: true
  nv_inference_prediction_unsure: 'counter', // answers marked unsure: true (the decision rule's default label)
  nv_inference_prediction_psi: 'gauge', // last hour vs manifest.baseline.origin, kind score | coverage
  nv_model_expected_escalation_share: 'gauge', // 1 - manifest expected_edge_share
  // The S3 model registry (origin/src/registry-s3), labels model and outcome = loaded | refused | error; present
  // when MODEL_REGISTRY_S3_ENDPOINT is set
  nv_model_registry_pulls_total: 'counter',
  // prom-client default metrics the dashboard and alerts use
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
};

/** Labels the origin puts on its nv_* series, and those Prometheus adds at scrape time (target labels). */
export const ORIGIN_LABELS = ['model', 'version', 'reason', 'le', 'label', 'kind', 'outcome'] as const;
export const TARGET_LABELS = ['namespace', 'pod', 'job', 'instance'] as const;

const SERIES_SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Every series name the exported metrics produce (histograms as _bucket, _sum, _count). */
export function exportedSeriesNames(
  metrics: Readonly<Record<string, MetricType>> = ORIGIN_METRICS,
): Set<string> {
  const names = new Set<string>();
  for (const [name, type] of Object.entries(metrics)) {
    for (const suffix of SERIES_SUFFIXES[type]) names.add(`${name}${suffix}`);
  }
  return names;
}
