/**
 * Prometheus metrics with Triton-like names, labelled by model and version, plus prom-client's default process
 * metrics. One registry per server instance (several servers may live in one test process).
 *
 *   nv_inference_request_success            counter    requests answered 2xx
 *   nv_inference_request_failure            counter    requests failed, label reason (the error code)
 *   nv_inference_count                      counter    rows inferred
 *   nv_inference_exec_count                 counter    batches executed (mean batch = count / exec_count)
 *   nv_inference_exec_inline_count          counter    of those, batches run on the event loop (ORIGIN_INLINE_MAX_MS)
 *   nv_inference_request_duration_seconds   histogram  end to end, request received -> response ready
 *   nv_inference_queue_duration_seconds     histogram  time queued before its batch started
 *   nv_inference_compute_duration_seconds   histogram  session.run time per batch
 *   nv_inference_pending_request_count      gauge      rows waiting in the queue
 *   nv_model_ready                          gauge      1 when the version is loaded, warmed up and not draining
 *
 * The S3 model registry (registry-s3/), labelled by model only, present when a registry is configured:
 *
 *   nv_model_registry_pulls_total           counter    pulls by outcome: loaded (verified, warmed up, serving),
 *                                                      refused (bad manifest or artifact, or it failed to load),
 *                                                      error (the registry did not answer: retried next poll)
 *
 * Drift of what the origin answers (text models; every answer is traffic the edge escalated), per model version:
 *
 *   nv_inference_prediction_score           histogram  top-class probability of each answer (confidenceOf),
 *                                                      label `label` (the label answered)
 *   nv_inference_prediction_coverage        histogram  input coverage (shared/ood), releases with an OOD rule only
 *   nv_inference_prediction_ood             counter    answers marked `ood: true`
 *   nv_inference_prediction_unsure          counter    answers marked `unsure: true` (the decision rule answered
 *                                                      the release's default label)
 *   nv_inference_prediction_psi             gauge      PSI of the last hour against `manifest.baseline.origin`,
 *                                                      label kind = score | coverage; absent without a baseline
 *   nv_model_expected_escalation_share      gauge      1 - the manifest's expected_edge_share (the planned share
 *                                                      of edge traffic that reaches the origin)
 *
 * Both histograms use the drift bins' upper edges (shared/drift: 0.1, 0.2, ..., 1) as buckets. Prometheus buckets
 * include their upper edge while the drift bins include their lower one, so a value exactly on an edge (coverage
 * 0.5, say) lands one bucket lower in the histogram than in the PSI; the PSI uses the drift bins, like the baseline.
 */

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { confidenceOf } from '../../shared/decision/index.ts';
import { binOf, DRIFT_BINS, psi } from '../../shared/drift/index.ts';
import type { BaselineSide } from '../../shared/manifest/index.ts';
import type { Prediction } from '../../shared/protocol/index.ts';
import {
  LocalCounter,
  type LocalCounterChild,
  LocalHistogram,
  type LocalHistogramChild,
} from './local-metrics.ts';

const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The drift bins' upper edges (shared/drift): 0.1, 0.2, ..., 1. */
const DRIFT_BUCKETS = Array.from({ length: DRIFT_BINS }, (_, i) => (i + 1) / DRIFT_BINS);

/** The PSI window: the last hour, in one-minute slots. */
const WINDOW_SLOTS = 60;
const SLOT_MS = 60_000;

/** What a version's release expects of its answers (from its manifest), declared once when it is loaded. */
export interface ModelRelease {
  /** The labels answers may carry (a text model's manifest labels; none for other models). */
  labels: readonly string[];
  /** Answers carry `coverage` and `ood` (the release has an OOD rule). */
  coverage: boolean;
  /** `manifest.baseline.origin`: what the teacher answered on escalated validation traffic. */
  baseline?: BaselineSide | undefined;
  /** `manifest.expected_edge_share`: the share of traffic the edge is planned to answer. */
  expectedEdgeShare?: number | undefined;
}

/** Counters and histograms of one model version, label children resolved once. */
export interface ModelMetrics {
  success(durationSeconds: number): void;
  failure(reason: string, durationSeconds: number): void;
  queued(seconds: number): void;
  executed(rows: number, computeSeconds: number, inline?: boolean): void;
  /** Declares the release's labels, baseline and plan (once, before the first prediction). */
  release(release: ModelRelease): void;
  /** Records answered predictions, each once: score by label, coverage and ood when present. */
  predicted(predictions: readonly Prediction[]): void;
}

/** Counts per drift bin over the last hour, in one-minute slots; a slot is cleared when the clock comes back to it. */
class HourWindow {
  readonly #counts = new Float64Array(WINDOW_SLOTS * DRIFT_BINS);
  /** The minute (since the epoch) each slot counts; -1 for never. */
  readonly #minutes = new Float64Array(WINDOW_SLOTS).fill(-1);

  add(value: number, nowMs: number): void {
    const minute = Math.floor(nowMs / SLOT_MS);
    const slot = minute % WINDOW_SLOTS;
    if (this.#minutes[slot] !== minute) {
      this.#counts.fill(0, slot * DRIFT_BINS, (slot + 1) * DRIFT_BINS);
      this.#minutes[slot] = minute;
    }
    const i = slot * DRIFT_BINS + binOf(value);
    this.#counts[i] = (this.#counts[i] as number) + 1;
  }

  /** Counts per bin of the current minute and the 59 before it. */
  totals(nowMs: number): number[] {
    const minute = Math.floor(nowMs / SLOT_MS);
    const out = new Array<number>(DRIFT_BINS).fill(0);
    for (let slot = 0; slot < WINDOW_SLOTS; slot++) {
      const m = this.#minutes[slot] as number;
      if (m < 0 || m > minute || m <= minute - WINDOW_SLOTS) continue;
      for (let b = 0; b < DRIFT_BINS; b++) {
        out[b] = (out[b] as number) + (this.#counts[slot * DRIFT_BINS + b] as number);
      }
    }
    return out;
  }
}

/** One version's drift windows and the baseline they are compared with. */
interface DriftState {
  labels: { model: string; version: string };
  baseline: BaselineSide | undefined;
  score: HourWindow;
  coverage: HourWindow;
  /** Series already started at zero (never zeroed twice: a second forModel() of the version keeps its counts). */
  zeroed: Set<string>;
}

/** What the gauges read at scrape time. */
export interface GaugeSource {
  models(): Iterable<{ name: string; version: string; pendingRows: number; ready: boolean }>;
}

/** How one pull from the S3 model registry ended. */
export type PullOutcome = 'loaded' | 'refused' | 'error';
export const PULL_OUTCOMES: readonly PullOutcome[] = ['loaded', 'refused', 'error'];

/** The origin's registry and its per-version metrics. */
export interface OriginMetrics {
  registry: Registry;
  forModel(name: string, version: string): ModelMetrics;
  /** Counts one pull of a model's release (or one failed read of its registry index: `error`). */
  registryPull(model: string, outcome: PullOutcome): void;
  /** Starts a followed model's pull series at zero. */
  followModel(model: string): void;
  /** Sets where the pending/ready gauges read from. */
  setSource(source: GaugeSource): void;
}

export interface CreateMetricsOptions {
  /** Collect prom-client's default process metrics. @default true */
  defaultMetrics?: boolean;
  /** Clock of the PSI windows, in ms (tests). @default Date.now */
  now?: () => number;
}

/** A registry with the origin's metrics (see the file comment). */
export function createMetrics(options: CreateMetricsOptions = {}): OriginMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const labelNames = ['model', 'version'] as const;
  const registers = [registry];
  // What every request touches is summed in the process and read at scrape time (local-metrics.ts: no label
  // hashing per observation); the rest is plain prom-client.
  const counter = (name: string, help: string) => new LocalCounter(name, help, registry);
  const histogram = (name: string, help: string) => new LocalHistogram(name, help, LATENCY_BUCKETS, registry);
  const success = counter('nv_inference_request_success', 'Inference requests answered successfully');
  const failure = counter(
    'nv_inference_request_failure',
    'Inference requests that failed, by reason (error code)',
  );
  const count = counter('nv_inference_count', 'Rows inferred');
  const execCount = counter('nv_inference_exec_count', 'Batches executed');
  const inlineCount = counter(
    'nv_inference_exec_inline_count',
    'Batches run on the event loop instead of a runner worker (ORIGIN_INLINE_MAX_MS)',
  );
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
  const now = options.now ?? Date.now;
  const score = new LocalHistogram(
    'nv_inference_prediction_score',
    'Top-class score of each answered prediction, by predicted label (drift bins)',
    DRIFT_BUCKETS,
    registry,
  );
  const coverage = new LocalHistogram(
    'nv_inference_prediction_coverage',
    'Input coverage (share of feature ids seen in training) of each answered prediction (drift bins)',
    DRIFT_BUCKETS,
    registry,
  );
  const ood = counter('nv_inference_prediction_ood', 'Answered predictions marked out of distribution');
  const unsure = counter(
    'nv_inference_prediction_unsure',
    "Answered predictions marked unsure (under the release decision rule's cutoff: its default label answered)",
  );
  const expectedEscalation = new Gauge({
    name: 'nv_model_expected_escalation_share',
    help: "Planned share of edge traffic escalated to the origin: 1 - the manifest's expected_edge_share",
    labelNames,
    registers,
  });
  const drift = new Map<string, DriftState>();
  new Gauge({
    name: 'nv_inference_prediction_psi',
    help: 'PSI of the last hour of answers against the release baseline (manifest.baseline.origin), by kind',
    labelNames: [...labelNames, 'kind'],
    registers,
    collect() {
      this.reset();
      const t = now();
      for (const d of drift.values()) {
        if (d.baseline === undefined) continue;
        const kinds = [
          ['score', d.baseline.score, d.score],
          ['coverage', d.baseline.coverage, d.coverage],
        ] as const;
        for (const [kind, expected, window] of kinds) {
          const value = psi(expected, window.totals(t));
          if (value !== undefined) this.set({ ...d.labels, kind }, value);
        }
      }
    },
  });
  const pulls = new Counter({
    name: 'nv_model_registry_pulls_total',
    help: 'Releases pulled from the S3 model registry, by outcome (loaded | refused | error)',
    labelNames: ['model', 'outcome'],
    registers,
  });
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
    registryPull(model, outcome) {
      pulls.inc({ model, outcome });
    },
    followModel(model) {
      for (const outcome of PULL_OUTCOMES) pulls.inc({ model, outcome }, 0);
    },
    forModel(name, version) {
      const labels = { model: name, version };
      const ok = success.child(labels);
      const dur = requestDuration.child(labels);
      const queue = queueDuration.child(labels);
      const compute = computeDuration.child(labels);
      const rowsCounter = count.child(labels);
      const execs = execCount.child(labels);
      const inlines = inlineCount.child(labels);
      const failures = new Map<string, LocalCounterChild>();
      const key = `${name}\u0000${version}`;
      const state: DriftState = drift.get(key) ?? {
        labels,
        baseline: undefined,
        score: new HourWindow(),
        coverage: new HourWindow(),
        zeroed: new Set(),
      };
      drift.set(key, state);
      const scores = new Map<string, LocalHistogramChild>();
      const scoreOf = (label: string) => {
        let h = scores.get(label);
        if (h === undefined) {
          h = score.child({ ...labels, label });
          scores.set(label, h);
          state.zeroed.add(`score ${label}`);
        }
        return h;
      };
      const cov = coverage.child(labels);
      const oods = ood.child(labels);
      const unsures = unsure.child(labels);
      // Make the series exist at zero from the start, so rates and ratios work before the first request.
      ok.inc(0);
      rowsCounter.inc(0);
      execs.inc(0);
      inlines.inc(0);
      return {
        success(seconds) {
          ok.inc();
          dur.observe(seconds);
        },
        failure(reason, seconds) {
          let c = failures.get(reason);
          if (c === undefined) {
            c = failure.child({ ...labels, reason });
            failures.set(reason, c);
          }
          c.inc();
          dur.observe(seconds);
        },
        queued(seconds) {
          queue.observe(seconds);
        },
        executed(rows, seconds, inline) {
          rowsCounter.inc(rows);
          execs.inc();
          if (inline === true) inlines.inc();
          compute.observe(seconds);
        },
        release(release) {
          state.baseline = release.baseline;
          const zero = (series: string, start: () => void) => {
            if (state.zeroed.has(series)) return;
            state.zeroed.add(series);
            start();
          };
          for (const label of release.labels) zero(`score ${label}`, () => scoreOf(label).zero());
          if (release.labels.length > 0) zero('unsure', () => unsures.inc(0));
          if (release.coverage) {
            zero('coverage', () => cov.zero());
            oods.inc(0);
          }
          if (release.expectedEdgeShare !== undefined) {
            expectedEscalation.set(labels, 1 - release.expectedEdgeShare);
          }
        },
        predicted(predictions) {
          const t = now();
          for (const p of predictions) {
            const confidence = confidenceOf(p);
            scoreOf(p.label).observe(confidence);
            state.score.add(confidence, t);
            if (p.unsure === true) unsures.inc();
            if (p.coverage !== undefined) {
              state.zeroed.add('coverage');
              cov.observe(p.coverage);
              state.coverage.add(p.coverage, t);
            }
            if (p.ood === true) oods.inc();
          }
        },
      };
    },
  };
}
