/**
 * Prometheus metrics with Triton-like names, labelled by model and version, plus prom-client's default process
 * metrics. One registry per server instance (several servers may live in one test process).
 *
 *   nv_inference_request_success            counter    requests answered 2xx
 *   nv_inference_request_failure            counter    requests failed, label reason (the error code)
 *   nv_inference_count                      counter    rows inferred
 *   nv_inference_exec_count                 counter    batches executed (mean batch = count / exec_count)
 *   nv_inference_request_duration_seconds   histogram  end to end, request received -> response ready
 *   nv_inference_queue_duration_seconds     histogram  time queued before its batch started
 *   nv_inference_compute_duration_seconds   histogram  session.run time per batch
 *   nv_inference_pending_request_count      gauge      rows waiting in the queue
 *   nv_model_ready                          gauge      1 when the version is loaded, warmed up and not draining
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Counters and histograms of one model version, label children resolved once. */
export interface ModelMetrics {
  success(durationSeconds: number): void;
  failure(reason: string, durationSeconds: number): void;
  queued(seconds: number): void;
  executed(rows: number, computeSeconds: number): void;
}

/** What the gauges read at scrape time. */
export interface GaugeSource {
  models(): Iterable<{ name: string; version: string; pendingRows: number; ready: boolean }>;
}

export interface OriginMetrics {
  registry: Registry;
  forModel(name: string, version: string): ModelMetrics;
  /** Sets where the pending/ready gauges read from. */
  setSource(source: GaugeSource): void;
}

export interface CreateMetricsOptions {
  /** Collect prom-client's default process metrics. @default true */
  defaultMetrics?: boolean;
}

export function createMetrics(options: CreateMetricsOptions = {}): OriginMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const labelNames = ['model', 'version'] as const;
  const registers = [registry];
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers });
  const histogram = (name: string, help: string) =>
    new Histogram({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });
  const success = counter('nv_inference_request_success', 'Inference requests answered successfully');
  const failure = new Counter({
    name: 'nv_inference_request_failure',
    help: 'Inference requests that failed, by reason (error code)',
    labelNames: [...labelNames, 'reason'],
    registers,
  });
  const count = counter('nv_inference_count', 'Rows inferred');
  const execCount = counter('nv_inference_exec_count', 'Batches executed');
  const requestDuration = histogram(
    'nv_inference_request_duration_seconds',
    'End-to-end request duration at the origin',
  );
  const queueDuration = histogram(
    'nv_inference_queue_duration_seconds',
    'Time a request waited in the batcher queue',
  );
  const computeDuration = histogram(
    'nv_inference_compute_duration_seconds',
    'Time of one batch inside session.run',
  );
  let source: GaugeSource = { models: () => [] };
  new Gauge({
    name: 'nv_inference_pending_request_count',
    help: 'Rows waiting in the batcher queue',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const m of source.models()) this.set({ model: m.name, version: m.version }, m.pendingRows);
    },
  });
  new Gauge({
    name: 'nv_model_ready',
    help: '1 when the model version is loaded, warmed up and accepting requests',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const m of source.models()) this.set({ model: m.name, version: m.version }, m.ready ? 1 : 0);
    },
  });

  return {
    registry,
    setSource(s) {
      source = s;
    },
    forModel(name, version) {
      const labels = { model: name, version };
      const ok = success.labels(labels);
      const dur = requestDuration.labels(labels);
      const queue = queueDuration.labels(labels);
      const compute = computeDuration.labels(labels);
      const rowsCounter = count.labels(labels);
      const execs = execCount.labels(labels);
      const failures = new Map<string, Counter.Internal>();
      // Make the series exist at zero from the start, so rates and ratios work before the first request.
      ok.inc(0);
      rowsCounter.inc(0);
      execs.inc(0);
      return {
        success(seconds) {
          ok.inc();
          dur.observe(seconds);
        },
        failure(reason, seconds) {
          let c = failures.get(reason);
          if (c === undefined) {
            c = failure.labels({ ...labels, reason });
            failures.set(reason, c);
          }
          c.inc();
          dur.observe(seconds);
        },
        queued(seconds) {
          queue.observe(seconds);
        },
        executed(rows, seconds) {
          rowsCounter.inc(rows);
          execs.inc();
          compute.observe(seconds);
        },
      };
    },
  };
}
