/**
 * Drift and traffic counters where the traffic is: every answer the edge gives (cache, edge, origin, degraded)
 * is counted per model version and minute in the shared Upstash store, and written, one data point per
 * prediction, to Workers Analytics Engine when the `PREDICTIONS` binding is there.
 *
 * - Upstash: one hash per model, version and minute, `edge:stats:v1:{model}:{version}:{minute}`, fields
 *   `req`, `items`, `sb:{served_by}`, `op:{origin pool}`, `er:{escalation_reason}`, `sc:{score bin}`, `cv:{coverage bin}`,
 *   `fn:{feature-count bin}` (log2 buckets), `lb:{label}`, `ood` (score/coverage bins: shared/drift, 10 over
 *   [0, 1]), per request `lat:{latency bin}` (log2 ms buckets, see latencyBin), `arm:{stable|candidate}` when a
 *   rollout policy chose the version, and `fail` for requests that failed (no answer); the rollout's comparisons (cascade/rollout.ts) add `sh:*` (shadow: candidate vs stable) and `au:*`
 *   (audit: edge vs origin) fields; a set `edge:stats:v1:{model}:versions` lists the
 *   versions seen. Kept 8 days. Counts are summed in the isolate and written in one pipeline via `waitUntil` at most
 *   once per `flushMs` (a delayed flush is scheduled when counts wait, so they never sit longer, even when traffic
 *   stops; `maxPending` waiting fields flush at once): never on the request path, never an error. A failing or slow
 *   Redis drops that batch with one logged reason; an evicted isolate loses at most one interval.
 * - Analytics Engine (production's sink, queried with its SQL API, see edge/README.md): `indexes [model]`,
 *   `blobs [model, version, served_by, label, escalation_reason, ood, arm ('' without a rollout)]`, `doubles
 *   [score, coverage (-1 when unknown), 1, the request's latency in ms]`; at most 250 points per request (the platform's limit per invocation), the rest counted only
 *   in Upstash.
 */
import { confidenceOf } from '../../../shared/decision/index.ts';
import { binOf } from '../../../shared/drift/index.ts';
import { withTimeout } from '../../../shared/timeout/index.ts';

/** What the recorder needs of one prediction. */
export interface RecordedItem {
  served_by: string;
  label: string;
  score: number;
  scores?: Readonly<Record<string, number>> | undefined;
  coverage?: number | undefined;
  features?: number | undefined;
  ood?: boolean | undefined;
  unsure?: boolean | undefined;
  escalation_reason?: string | undefined;
  /** The origin pool that answered it (escalated items). */
  origin_pool?: string | undefined;
}

/** What the recorder needs of the request an answer belongs to. */
export interface RequestMeta {
  /** The rollout arm that chose the version, when a policy did. */
  arm?: 'stable' | 'candidate' | undefined;
  /** The request's time at the edge until its answer, ms. */
  ms: number;
  /**
   * Write at once instead of within flushMs: a job chunk's request, whose queue invocation would otherwise stay open
   * (and hold back the queue's next batch) until the delayed flush's timer fires. @default false
   */
  flushNow?: boolean | undefined;
}

/** The Upstash calls used (a pipeline of HINCRBY, EXPIRE, SADD), so tests can pass a small fake. */
export interface StatsStore {
  pipeline(): {
    hincrby(key: string, field: string, increment: number): unknown;
    expire(key: string, seconds: number): unknown;
    sadd(key: string, member: string): unknown;
    exec(): Promise<unknown>;
  };
}

/** The Analytics Engine dataset method used. */
export interface DataPointSink {
  writeDataPoint(point: { indexes?: string[]; blobs?: string[]; doubles?: number[] }): void;
}

export interface StatsRecorderOptions {
  /** Longest time counts wait in the isolate before a flush, ms; 0 flushes after every answer. @default 1000 */
  flushMs?: number;
  /** Pending fields that force a flush. @default 2000 */
  maxPending?: number;
  /** Longest wait for a flush's pipeline, ms. @default 1000 */
  timeoutMs?: number;
  /** @default Date.now */
  now?: () => number;
  /** @default console.warn of a JSON line */
  warn?: (event: Record<string, unknown>) => void;
}

export const STATS_PREFIX = 'edge:stats:v1:';
/** Minute hashes live 8 days (a week of history plus a day). */
export const STATS_TTL_SECONDS = 8 * 24 * 3600;
/** Most Analytics Engine data points one request writes. */
export const MAX_DATA_POINTS = 250;

export function minuteKey(model: string, version: string, minute: number): string {
  return `${STATS_PREFIX}${model}:${version}:${minute}`;
}

export function versionsKey(model: string): string {
  return `${STATS_PREFIX}${model}:versions`;
}

/** Bins of the feature-count histogram: 0, then log2 buckets 1, 2-3, 4-7, ... 1024+ (12 bins). */
export const FEATURE_BINS = 12;

/** The feature-count bin of an input: 0 for none, else floor(log2(n)) + 1, at most FEATURE_BINS - 1. */
export function featureBin(features: number): number {
  return features <= 0 ? 0 : Math.min(FEATURE_BINS - 1, Math.floor(Math.log2(features)) + 1);
}

/** Bins of the latency histogram: under 1 ms, then log2 buckets [1, 2), [2, 4) ... [8192 ms, inf) (15 bins). */
export const LATENCY_BINS = 15;

/** The latency bin of a duration in ms: 0 under 1 ms, else floor(log2(ms)) + 1, at most LATENCY_BINS - 1. */
export function latencyBin(ms: number): number {
  return !(ms >= 1) ? 0 : Math.min(LATENCY_BINS - 1, Math.floor(Math.log2(ms)) + 1);
}

/** The counter fields one answer adds (with `meta`, its request's latency bin and arm). */
export function answerFields(items: readonly RecordedItem[], meta?: RequestMeta): Map<string, number> {
  const fields = new Map<string, number>();
  const add = (f: string, n = 1) => fields.set(f, (fields.get(f) ?? 0) + n);
  add('req');
  add('items', items.length);
  if (meta !== undefined) {
    add(`lat:${latencyBin(meta.ms)}`);
    if (meta.arm !== undefined) add(`arm:${meta.arm}`);
  }
  for (const p of items) {
    add(`sb:${p.served_by}`);
    if (p.origin_pool !== undefined) add(`op:${p.origin_pool}`);
    if (p.escalation_reason !== undefined) {
      for (const r of p.escalation_reason.split(',')) add(`er:${r.trim()}`);
    }
    // The model's confidence (top probability), whatever label the decision rule answered.
    add(`sc:${binOf(confidenceOf(p))}`);
    if (p.coverage !== undefined) add(`cv:${binOf(p.coverage)}`);
    if (p.features !== undefined) add(`fn:${featureBin(p.features)}`);
    add(`lb:${p.label}`);
    if (p.ood === true) add('ood');
    if (p.unsure === true) add('unsure');
  }
  return fields;
}

/** One isolate's recorder (the app keeps one). */
export class StatsRecorder {
  readonly #o: Required<StatsRecorderOptions>;
  /** key -> field -> count, waiting for the next flush. */
  #pending = new Map<string, Map<string, number>>();
  #versions = new Map<string, Set<string>>();
  #pendingFields = 0;
  #lastFlush: number;
  /** A delayed flush is waiting (so counts never sit longer than flushMs, even when traffic stops). */
  #scheduled = false;

  constructor(options: StatsRecorderOptions = {}) {
    this.#o = {
      flushMs: options.flushMs ?? 1000,
      maxPending: options.maxPending ?? 2000,
      timeoutMs: options.timeoutMs ?? 1000,
      now: options.now ?? Date.now,
      warn: options.warn ?? ((e) => console.warn(JSON.stringify({ level: 'warn', ...e }))),
    };
    this.#lastFlush = this.#o.now();
  }

  /**
   * Counts one answer; writes its data points to `sink` (when given); schedules a flush to `store` (when given)
   * through `waitUntil` when one is due.
   */
  record(
    model: string,
    version: string,
    items: readonly RecordedItem[],
    sinks: { store?: StatsStore | undefined; points?: DataPointSink | undefined },
    waitUntil: (p: Promise<unknown>) => void,
    meta?: RequestMeta,
  ): void {
    if (sinks.points !== undefined) this.#writePoints(sinks.points, model, version, items, meta);
    this.count(model, version, answerFields(items, meta), sinks.store, waitUntil, meta?.flushNow === true);
  }

  /**
   * Adds counter fields to the model version's current minute (what record() does for an answer; the rollout's
   * shadow and audit comparisons add theirs: `sh:*`, `au:*`) and schedules the flush the same way.
   */
  count(
    model: string,
    version: string,
    fields: ReadonlyMap<string, number>,
    store: StatsStore | undefined,
    waitUntil: (p: Promise<unknown>) => void,
    flushNow = false,
  ): void {
    if (store === undefined) return;
    const key = minuteKey(model, version, Math.floor(this.#o.now() / 60_000));
    let hash = this.#pending.get(key);
    if (hash === undefined) {
      hash = new Map();
      this.#pending.set(key, hash);
    }
    for (const [f, n] of fields) {
      if (!hash.has(f)) this.#pendingFields++;
      hash.set(f, (hash.get(f) ?? 0) + n);
    }
    let versions = this.#versions.get(model);
    if (versions === undefined) {
      versions = new Set();
      this.#versions.set(model, versions);
    }
    versions.add(version);
    const wait = this.#o.flushMs - (this.#o.now() - this.#lastFlush);
    if (flushNow || wait <= 0 || this.#pendingFields >= this.#o.maxPending) {
      waitUntil(this.flush(store));
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      waitUntil(new Promise((resolve) => setTimeout(resolve, wait)).then(() => this.flush(store)));
    }
  }

  /** Writes what is pending in one pipeline; a failure drops it (logged), never throws. */
  async flush(store: StatsStore): Promise<void> {
    const pending = this.#pending;
    const versions = this.#versions;
    this.#pending = new Map();
    this.#versions = new Map();
    this.#pendingFields = 0;
    this.#lastFlush = this.#o.now();
    this.#scheduled = false;
    if (pending.size === 0) return;
    let fields = 0;
    const write = Promise.resolve().then(() => {
      const p = store.pipeline();
      for (const [key, hash] of pending) {
        for (const [f, n] of hash) {
          p.hincrby(key, f, n);
          fields++;
        }
        p.expire(key, STATS_TTL_SECONDS);
      }
      for (const [model, vs] of versions) {
        for (const v of vs) p.sadd(versionsKey(model), v);
        p.expire(versionsKey(model), STATS_TTL_SECONDS);
      }
      return p.exec();
    });
    const result = await withTimeout(write, this.#o.timeoutMs);
    if (result.kind !== 'value') {
      this.#o.warn({
        msg: 'edge stats dropped',
        reason: result.kind === 'timeout' ? `timeout after ${this.#o.timeoutMs} ms` : String(result.error),
        keys: pending.size,
        fields,
      });
    }
  }

  #writePoints(
    sink: DataPointSink,
    model: string,
    version: string,
    items: readonly RecordedItem[],
    meta: RequestMeta | undefined,
  ): void {
    try {
      for (const p of items.slice(0, MAX_DATA_POINTS)) {
        sink.writeDataPoint({
          indexes: [model],
          blobs: [
            model,
            version,
            p.served_by,
            p.label,
            p.escalation_reason ?? '',
            p.ood === true ? 'ood' : '',
            meta?.arm ?? '',
            p.unsure === true ? 'unsure' : '',
          ],
          doubles: [confidenceOf(p), p.coverage ?? -1, 1, meta?.ms ?? -1],
        });
      }
    } catch (err) {
      this.#o.warn({ msg: 'analytics engine write failed', error: String(err) });
    }
  }
}
