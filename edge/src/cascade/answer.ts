/**
 * The cascade's flow, the edge's answer to "classify these items with this model", per item: cache -> edge model
 * -> decide (policy.ts) -> origin for the unsure items -> degraded fallback, merged in order. The items are texts
 * (the text API and OIP infer with a BYTES input: answerTexts) or tensor rows (OIP infer of a tensor release:
 * answerRows); only how an item is keyed, predicted and escalated differs (CascadeItems).
 */

import type { Context } from 'hono';
import { z } from 'zod';
import { confidenceOf } from '../../../shared/decision/index.ts';
import { InferenceError } from '../../../shared/errors/index.ts';
import { cacheKey, sha256Hex } from '../../../shared/hash/index.ts';
import { DEFAULT_REVIEW_THRESHOLD } from '../../../shared/manifest/index.ts';
import {
  decodeInferResponse,
  encodeInferRequest,
  HEADER_LENGTH_HEADER,
  type InputSignature,
  type PreparedRows,
  predictionsFromOutput,
  rowBytes,
  rowsByteLength,
  selectRows,
  type TensorModelSignature,
} from '../../../shared/protocol/index.ts';
import {
  ClassifyResponse,
  type Prediction,
  Prediction as PredictionSchema,
  SERVED_BY,
  type ServedBy,
  utf8Length,
} from '../../../shared/protocol/text.ts';
import { type RolloutPolicy, trafficBucket, versionFor } from '../../../shared/rollout/index.ts';
import type { CacheTier } from '../cache/index.ts';
import { limitFor } from '../config.ts';
import { type EdgeModel, type EdgeRelease, loadEdgeModel, releaseFor } from '../model/edge-model.ts';
import {
  type OriginFailureReason,
  OriginUnavailableError,
  originHeaders,
  routeHints,
  tierPriority,
} from '../origin-client/index.ts';
import type { ReviewReason, ReviewSubmission } from '../review/queue.ts';
import type { AppEnv } from '../types.ts';
import { decide, type EscalationReason, route } from './policy.ts';
import { compareOffPath, countFailure } from './rollout.ts';
import type { Answer, AnswerDeps, CachedAnswer, CascadeInput, CascadeItems, Escalated } from './types.ts';

const CachedAnswerSchema = z.object({
  version: z.string(),
  prediction: PredictionSchema,
  source: z.enum(['edge', 'origin']),
});

/** A value read from the cache as a CachedAnswer, or undefined when it is not one (a MISS, never a 500). */
export function validCachedAnswer(value: unknown): CachedAnswer | undefined {
  const parsed = CachedAnswerSchema.safeParse(value);
  return parsed.success ? (parsed.data as CachedAnswer) : undefined;
}

/** A non-2xx answer from the origin (e.g. its 404 for a version it lacks) when the edge has no answer of its own. */
export interface PassThrough {
  passthrough: Response;
  headers: Record<string, string>;
}

export interface AnswerInput extends CascadeInput {
  texts: string[];
}

/** Why escalated items got the edge's answer: the pool's failure, or the origin refusing input the edge accepted. */
type DegradedReason = OriginFailureReason | 'origin_rejected';

/** One item's answer while the request is being answered. */
interface Slot {
  prediction: Prediction;
  version: string;
  servedBy: ServedBy;
  /** Set when the item goes to human review: why, and the student's answer when the edge ran. */
  review?: { reason: ReviewReason; student: Prediction | undefined };
}

/**
 * Why an answered item needs a human, or undefined: the input out of distribution, or the teacher unsure (its top
 * probability under the review threshold, or under the decision rule's cutoff: an `unsure: true` answer).
 */
function reviewReason(prediction: Prediction, threshold: number): ReviewReason | undefined {
  if (prediction.ood === true) return 'out_of_distribution';
  return confidenceOf(prediction) < threshold || prediction.unsure === true ? 'teacher_unsure' : undefined;
}

function minScore(predictions: readonly Prediction[]): number {
  let m = 1;
  for (const p of predictions) m = Math.min(m, confidenceOf(p));
  return m;
}

async function edgeModelFor(
  release: EdgeRelease | undefined,
  version: string | undefined,
  loaded: EdgeModel | undefined,
): Promise<EdgeModel | undefined> {
  if (release === undefined) return undefined;
  if (version !== undefined && version !== release.manifest.version) return undefined;
  if (loaded !== undefined) return loaded;
  try {
    return await loadEdgeModel(release);
  } catch {
    return undefined;
  }
}

/**
 * Answers texts item by item: each text is looked up in the cache; the edge model answers the misses; the items it
 * is unsure of (or all misses, when the request is routed past the edge) go to the origin's text API in one
 * escalation; the answers are merged in order. When the origin cannot answer, the escalated items get the edge's
 * answer marked `edge-degraded` (or, without an edge model, the request fails with the pool's 503/504).
 */
export function answerTexts(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: AnswerInput,
): Promise<Answer | PassThrough> {
  const { texts } = input;
  const pick = (indices: readonly number[]) => indices.map((i) => texts[i] as string);
  return answerItems(c, deps, input, {
    count: texts.length,
    bytes: texts.reduce((n, t) => n + utf8Length(t), 0),
    keyInput: async (i) => ({ text: texts[i] }),
    reviewInput: (i) => texts[i],
    predict: (model, indices) => model.predict(pick(indices)),
    escalate: (c, deps, input, indices) => escalateTexts(c, deps, input, pick(indices)),
  });
}

/**
 * Answers the rows of a tensor request (validated against the release's signature) the same way, row by row: the
 * cache key hashes each row's canonical bytes, the student runs on the tensors directly, and the unsure rows go to
 * the origin's OIP infer route as one tensor request (binary), reading the cascade output back.
 */
export function answerRows(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  rows: PreparedRows,
  signature: TensorModelSignature,
): Promise<Answer | PassThrough> {
  const sub = (indices: readonly number[]): PreparedRows => {
    const tensors = selectRows(signature, rows, indices);
    return { rows: indices.length, dims: rows.dims, data: tensors.map((t) => t.data), key: rows.key };
  };
  return answerItems(c, deps, input, {
    count: rows.rows,
    bytes: rowsByteLength(
      rows,
      signature.inputs.map((s) => s.datatype as Exclude<typeof s.datatype, 'BYTES'>),
    ),
    keyInput: async (i) => ({ tensor: await sha256Hex(rowBytes(signature, rows, i)) }),
    predict: (model, indices) => model.predictRows(indices.length === rows.rows ? rows : sub(indices)),
    escalate: (c, deps, input, indices) =>
      escalateRows(c, deps, input, signature, selectRowsOf(signature, rows, indices)),
  });
}

/** The input tensors of some rows, as the origin request carries them. */
function selectRowsOf(signature: InputSignature, rows: PreparedRows, indices: readonly number[]) {
  return { count: indices.length, tensors: selectRows(signature, rows, indices) };
}

/**
 * The version an unpinned request gets under the model's stored rollout policy (canary / A-B: the candidate for
 * the callers whose bucket is below the weight, sticky per key or drawn per request; else stable). Pinned requests
 * and models without a stored policy are left as they are.
 */
async function withRollout(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
): Promise<{ input: CascadeInput; policy?: RolloutPolicy }> {
  if (input.version !== undefined || deps.rollout === undefined) return { input };
  const policy = await deps.rollout(c, input.model);
  if (policy === undefined) return { input };
  const bucket =
    policy.stickiness === 'key' ? trafficBucket(input.model, c.get('principal').id) : Math.random();
  const chosen = versionFor(policy, bucket);
  const log = c.get('log');
  log.rollout_arm = chosen.arm;
  log.rollout_revision = policy.revision;
  return { input: { ...input, version: chosen.version, arm: chosen.arm }, policy };
}

async function answerItems(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  requested: CascadeInput,
  items: CascadeItems,
): Promise<Answer | PassThrough> {
  const { input, policy } = await withRollout(c, deps, requested);
  try {
    const answer = await answerVersion(c, deps, input, policy, items);
    if ('passthrough' in answer && answer.passthrough.status >= 500) countFailure(c, deps, input, policy);
    return answer;
  } catch (err) {
    // The system's failures (5xx) count against the version, and against a candidate's guardrails.
    if (!(err instanceof InferenceError) || err.status >= 500) countFailure(c, deps, input, policy);
    throw err;
  }
}

async function answerVersion(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  policy: RolloutPolicy | undefined,
  items: CascadeItems,
): Promise<Answer | PassThrough> {
  const { model, version, mode } = input;
  const config = c.get('config');
  const log = c.get('log');
  log.model = model;
  log.items = items.count;
  // The pinned version's release when embedded, else from the model registry when loaded there (while it loads the
  // request is routed past the edge as model_loading), else the model's latest (whose version then does not match:
  // the request is routed past the edge as version_not_at_edge).
  const releases = deps.releases();
  let release = releaseFor(releases, model, version);
  let loaded: EdgeModel | undefined;
  let loading = false;
  if (release === undefined && version !== undefined && deps.registry !== undefined) {
    const found = deps.registry(c, model, version);
    if (found.state === 'ready') {
      release = found.release;
      loaded = found.model;
      log.registry = 'hit';
    } else {
      loading = found.state === 'loading';
      log.registry = found.state;
    }
  }
  release ??= releaseFor(releases, model);
  const cache = deps.cache(c);
  const control = c.get('cacheControl');
  const slots = new Array<Slot | undefined>(items.count).fill(undefined);
  const headers: Record<string, string> = {};

  // 1. The cache, per item. The version asked for, else the edge's release; '*' (whatever the origin serves) for
  // models not at the edge. Per tenant unless CACHE_SCOPE=shared: a HIT must not tell one key what another asked.
  const keyVersion = version ?? release?.manifest.version ?? '*';
  const useCache = cache.enabled && !(control.noCache && control.noStore);
  const scope = config.cacheScope === 'shared' ? undefined : `tenant:${c.get('principal').id}`;
  const keys = useCache
    ? await Promise.all(
        Array.from({ length: items.count }, async (_, i) =>
          cacheKey(model, keyVersion, await items.keyInput(i), scope),
        ),
      )
    : [];
  let xCache: 'HIT' | 'MISS' | 'BYPASS' = 'BYPASS';
  if (useCache && !control.noCache) {
    const hits = await cache.getMany(keys);
    const tiers = new Set<CacheTier>();
    for (const [i, hit] of hits.entries()) {
      // "always" must reach the origin: a cached student answer does not count, a cached origin answer does.
      if (hit === undefined || (mode === 'always' && hit.value.source !== 'origin')) continue;
      slots[i] = { prediction: hit.value.prediction, version: hit.value.version, servedBy: 'cache' };
      tiers.add(hit.tier);
    }
    xCache = slots.every((s) => s !== undefined) ? 'HIT' : 'MISS';
    if (tiers.size > 0) headers['x-cache-tier'] = [...tiers].map((t) => t.toUpperCase()).join(', ');
  }
  log.cache = xCache;
  const stored: Array<[string, CachedAnswer]> = [];
  const store = (i: number, value: CachedAnswer) => {
    if (useCache && !control.noStore) stored.push([keys[i] as string, value]);
  };

  const misses = slots.flatMap((s, i) => (s === undefined ? [i] : []));
  if (misses.length > 0) {
    const answered = await answerMisses(c, deps, input, items, {
      release,
      loaded,
      loading,
      misses,
      headers,
      store,
    });
    if ('passthrough' in answered) {
      return { passthrough: answered.passthrough, headers: { ...answered.headers, 'x-cache': xCache } };
    }
    for (const [j, i] of misses.entries()) slots[i] = answered.slots[j];
  }
  cache.putMany(stored);
  if (input.arm !== undefined) headers['x-rollout-arm'] = input.arm;
  const answer = merge(c, model, slots as Slot[], headers, xCache);
  queueForReview(c, deps, answer, slots as Slot[], items, release);
  deps.record?.(c, answer, { arm: input.arm, ms: Date.now() - c.get('startedAt') });
  // Shadow and audit comparisons: after the answer, never on its path.
  compareOffPath(c, deps, input, items, answer, policy);
  return answer;
}

interface MissContext {
  release: EdgeRelease | undefined;
  /** The release's model when the registry already loaded it (EdgeModel of a registry version). */
  loaded?: EdgeModel | undefined;
  /** The requested version is loading from the registry. */
  loading?: boolean;
  /** Indices of the items the cache did not answer. */
  misses: number[];
  /** Response headers being built (escalation and degraded reasons are added here). */
  headers: Record<string, string>;
  store: (i: number, value: CachedAnswer) => void;
}

/** The edge model and the origin answer the cache's misses (slots aligned with `misses`). */
async function answerMisses(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  ctx: MissContext,
): Promise<{ slots: Slot[] } | PassThrough> {
  const { mode, version } = input;
  const { release, misses, headers, store, loaded, loading } = ctx;
  const config = c.get('config');
  const log = c.get('log');
  const slots = new Array<Slot | undefined>(misses.length).fill(undefined);

  // 2. Route the misses past the edge, or run the edge model on them and escalate the unsure items.
  const edgeModel = await edgeModelFor(release, version, loaded);
  const routed = route({
    mode,
    modelAtEdge: release !== undefined,
    versionAtEdge: version === undefined || version === release?.manifest.version,
    versionLoading: loading === true,
    edgeModelReady: edgeModel !== undefined,
    items: misses.length,
    bytes: misses.length === items.count ? items.bytes : (items.bytes * misses.length) / items.count,
    maxItems: limitFor(config.edgeMaxItems, input.model),
    maxBytes: limitFor(config.edgeMaxBytes, input.model),
  });
  let edgePredictions: Prediction[] | undefined;
  let escalated: number[];
  const reasons = new Array<EscalationReason | undefined>(misses.length).fill(undefined);
  if (routed.escalate) {
    escalated = misses.map((_, j) => j);
    reasons.fill(routed.reason);
  } else {
    if (edgeModel === undefined) throw new Error('unreachable: no edge model and no escalation');
    edgePredictions = await items.predict(edgeModel, misses);
    log.confidence = minScore(edgePredictions);
    escalated = [];
    for (const [j, r] of decide(mode, edgePredictions, edgeModel.threshold).entries()) {
      const prediction = edgePredictions[j] as Prediction;
      if (r !== undefined) {
        escalated.push(j);
        reasons[j] = r;
        continue;
      }
      slots[j] = { prediction, version: edgeModel.version, servedBy: 'edge' };
      // Only confident, in-distribution edge answers are cached (x-escalate: never can return the others).
      if (confidenceOf(prediction) >= edgeModel.threshold && prediction.ood !== true && !prediction.unsure) {
        store(misses[j] as number, { version: edgeModel.version, prediction, source: 'edge' });
      }
    }
  }
  if (escalated.length === 0) return { slots: slots as Slot[] };

  // 3. Escalate, in one go (escalate() splits it to the origin's max batch). Each escalated item says why.
  const why = [...new Set(escalated.map((j) => reasons[j]))].join(', ');
  headers['x-escalation-reason'] = why;
  log.escalation_reason = why;
  log.escalated = escalated.length;
  const reasonOf = (j: number) => ({ escalation_reason: reasons[j] as string });
  const degrade = async (why: DegradedReason): Promise<{ slots: Slot[] }> => {
    if (edgeModel === undefined) throw new Error('unreachable: degrade without an edge model');
    edgePredictions ??= await items.predict(edgeModel, misses);
    log.confidence ??= minScore(edgePredictions);
    log.degraded_reason = why;
    headers['x-degraded-reason'] = why;
    for (const j of escalated) {
      slots[j] = {
        prediction: { ...(edgePredictions[j] as Prediction), ...reasonOf(j) },
        version: edgeModel.version,
        servedBy: 'edge-degraded',
      };
    }
    return { slots: slots as Slot[] };
  };
  try {
    const result = await items.escalate(
      c,
      deps,
      input,
      escalated.map((j) => misses[j] as number),
    );
    log.origin = result.origin;
    log.origin_attempts = result.attempts;
    const usedPools = result.kind === 'answer' ? [...new Set(result.pools)] : [result.pool];
    headers['x-origin-pool'] = usedPools.join(', ');
    log.origin_pool = headers['x-origin-pool'];
    if (result.kind === 'answer' && result.hedged) log.origin_hedged = true;
    if (result.kind === 'passthrough') {
      // The origin refused input the edge accepted: with an edge answer for those items, that answer is returned
      // (degraded) rather than losing the request; without one, the origin's verdict goes to the client.
      if (edgeModel === undefined) {
        log.served_by = 'origin';
        return { passthrough: result.response, headers: { ...headers, 'x-served-by': 'origin' } };
      }
      log.origin_status = result.response.status;
      await result.response.body?.cancel();
      return await degrade('origin_rejected');
    }
    log.origin_compute_ms = (log.origin_compute_ms ?? 0) + result.computeMs;
    const reviewAt = release?.manifest.review_threshold ?? DEFAULT_REVIEW_THRESHOLD;
    for (const [k, j] of escalated.entries()) {
      const prediction = result.predictions[k] as Prediction;
      const review = reviewReason(prediction, reviewAt);
      slots[j] = {
        prediction: {
          ...prediction,
          ...reasonOf(j),
          origin_pool: result.pools[k] as string,
          ...(review === undefined ? {} : { review: true }),
        },
        version: result.version,
        servedBy: 'origin',
        ...(review === undefined ? {} : { review: { reason: review, student: edgePredictions?.[j] } }),
      };
      // Cached as answered: a later hit still says the item went to review.
      store(misses[j] as number, {
        version: result.version,
        prediction: review === undefined ? prediction : { ...prediction, review: true },
        source: 'origin',
      });
    }
    return { slots: slots as Slot[] };
  } catch (err) {
    if (!(err instanceof OriginUnavailableError)) throw err;
    log.origin_attempts = err.attempts;
    if (edgeModel === undefined) {
      log.degraded_reason = err.reason;
      Object.assign(err.headers, headers, { 'x-degraded-reason': err.reason });
      throw err;
    }
    return await degrade(err.reason);
  }
}

/** Hands the answer's items marked for review to the review queue (texts only: a reviewer reads the input). */
function queueForReview(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  answer: Answer,
  slots: readonly Slot[],
  items: CascadeItems,
  release: EdgeRelease | undefined,
): void {
  if (deps.review === undefined || items.reviewInput === undefined) return;
  if (!slots.some((s) => s.review !== undefined)) return;
  const submissions: Array<Promise<ReviewSubmission | undefined>> = slots.map(async (slot, i) => {
    const text = slot.review === undefined ? undefined : items.reviewInput?.(i);
    if (slot.review === undefined || text === undefined) return undefined;
    const p = slot.prediction;
    return {
      id: `rv_${(await sha256Hex(`${answer.model}\u0000${text}`)).slice(0, 32)}`,
      model: answer.model,
      version: slot.version,
      labels: Object.keys(p.scores).length > 0 ? Object.keys(p.scores) : (release?.manifest.labels ?? []),
      text,
      reason: slot.review.reason,
      answer: { label: p.label, score: p.score, served_by: slot.servedBy },
      student:
        slot.review.student === undefined
          ? null
          : { label: slot.review.student.label, score: slot.review.student.score },
      request_id: c.get('requestId'),
      ...(p.coverage === undefined ? {} : { coverage: p.coverage }),
    };
  });
  const review = deps.review;
  c.executionCtx.waitUntil(
    Promise.all(submissions).then((all) => {
      const ready = all.filter((s): s is ReviewSubmission => s !== undefined);
      if (ready.length > 0) review(c, ready);
    }),
  );
}

/** Cheapest first, as SERVED_BY lists them. */
const RANK: Record<ServedBy, number> = Object.fromEntries(SERVED_BY.map((s, i) => [s, i])) as Record<
  ServedBy,
  number
>;

/** The answer from every item's slot: per-item served_by, the most expensive path on top, counts per path. */
function merge(
  c: Context<AppEnv>,
  model: string,
  slots: readonly Slot[],
  headers: Record<string, string>,
  xCache: string,
): Answer {
  const counts = Object.fromEntries(SERVED_BY.map((s) => [s, 0])) as Record<ServedBy, number>;
  let top = slots[0] as Slot;
  for (const slot of slots) {
    counts[slot.servedBy]++;
    if (RANK[slot.servedBy] > RANK[top.servedBy]) top = slot;
  }
  const log = c.get('log');
  log.served_by = top.servedBy;
  log.served_by_counts = counts;
  log.version = top.version;
  if (top.servedBy === 'cache') log.cache = 'HIT';
  return {
    model,
    version: top.version,
    predictions: slots.map((s) => ({ ...s.prediction, served_by: s.servedBy })),
    served_by: top.servedBy,
    served_by_counts: counts,
    item_versions: slots.map((s) => s.version),
    headers: {
      ...headers,
      'x-served-by': top.servedBy,
      'x-served-by-counts': SERVED_BY.filter((s) => counts[s] > 0)
        .map((s) => `${s}=${counts[s]}`)
        .join(', '),
      'x-model-version': top.version,
      'x-cache': xCache,
    },
  };
}

/** One origin request of an escalation: its body and headers, and how to read its predictions back. */
interface EscalationChunk {
  body: string | Uint8Array;
  headers: Record<string, string>;
  /** Items it carries. */
  count: number;
  /** The origin's answer as predictions (undefined: not a valid answer) and the version that gave them. */
  read(response: Response): Promise<{ version: string; predictions: Prediction[] } | undefined>;
}

/** The model's path at the origin: `/v1/models/{m}[/versions/{v}]` + suffix, or the OIP `/v2/...` one. */
function originPath(api: 'v1' | 'v2', input: CascadeInput, suffix: string): string {
  const model = `/${api}/models/${encodeURIComponent(input.model)}`;
  const version = input.version === undefined ? '' : `/versions/${encodeURIComponent(input.version)}`;
  return `${model}${version}/${suffix}`;
}

/** Splits `count` items into ranges of at most the origin's max batch (ORIGIN_MAX_ITEMS). */
function chunkRanges(c: Context<AppEnv>, count: number): Array<[number, number]> {
  const size = c.get('config').originMaxItems;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count; i += size) out.push([i, Math.min(count, i + size)]);
  return out;
}

/** Texts to the origin's text API, in chunks. */
function escalateTexts(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  texts: string[],
): Promise<Escalated> {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  const chunks = chunkRanges(c, texts.length).map(
    ([from, to]): EscalationChunk => ({
      body: JSON.stringify({ texts: texts.slice(from, to) }),
      headers,
      count: to - from,
      read: async (response) => {
        const parsed = ClassifyResponse.safeParse(await response.json().catch(() => undefined));
        return parsed.success
          ? { version: parsed.data.version, predictions: parsed.data.predictions }
          : undefined;
      },
    }),
  );
  return escalate(c, deps, input, originPath('v1', input, 'classify'), chunks);
}

/** Tensor rows to the origin's OIP infer route (binary tensors, only the cascade output asked for), in chunks. */
function escalateRows(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  signature: TensorModelSignature,
  rows: { count: number; tensors: ReturnType<typeof selectRows> },
): Promise<Escalated> {
  // The labels of the version asked of the origin (a rollout candidate may order them differently).
  const releases = deps.releases();
  const labels = (releaseFor(releases, input.model, input.version) ?? releaseFor(releases, input.model))
    ?.manifest.labels;
  const output = signature.cascade.spec.name;
  const chunks = chunkRanges(c, rows.count).map(([from, to]): EscalationChunk => {
    const tensors = rows.tensors.map((t) => {
      const size = t.data.length / rows.count;
      return { ...t, shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * size, to * size) };
    });
    const encoded = encodeInferRequest({ inputs: tensors, outputs: [{ name: output, binary: true }] });
    const headers: Record<string, string> = {
      'content-type': encoded.contentType,
      accept: 'application/json',
    };
    if (encoded.headerLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(encoded.headerLength);
    return {
      body: encoded.body,
      headers,
      count: to - from,
      read: async (response) => {
        try {
          const body = new Uint8Array(await response.arrayBuffer());
          const decoded = decodeInferResponse(body, response.headers.get(HEADER_LENGTH_HEADER));
          const out = decoded.outputs.find((o) => o.name === output);
          if (out === undefined || out.datatype !== 'FP32' || labels === undefined) return undefined;
          const predictions = predictionsFromOutput(out.data as Float32Array, signature.cascade.kind, labels);
          return { version: decoded.model_version ?? '', predictions };
        } catch {
          return undefined;
        }
      },
    };
  });
  return escalate(c, deps, input, originPath('v2', input, 'infer'), chunks);
}

/**
 * Sends the chunks to the origin in parallel and merges the answers in order. A chunk the origin refuses as bad
 * input (4xx) is passed through as the answer; a chunk it cannot serve fails the whole escalation
 * (OriginUnavailableError: the caller degrades).
 */
async function escalate(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  path: string,
  chunks: EscalationChunk[],
): Promise<Escalated> {
  const pool = deps.pool(c);
  const hints = routeHints(c);
  const settled = await Promise.allSettled(
    chunks.map((chunk) =>
      pool.send(
        {
          method: 'POST',
          path,
          body: chunk.body,
          headers: originHeaders(c.get('requestId'), c.get('trace'), chunk.headers),
          deadline: input.deadline,
          priority: tierPriority(c),
          items: chunk.count,
        },
        hints,
      ),
    ),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  const results = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const origin = results[0]?.origin ?? '';
  const attempts = results.reduce((n, r) => n + r.attempts, 0);
  const refused = results.find((r) => !r.response.ok);
  if (failed !== undefined || refused !== undefined) {
    for (const r of results) if (r !== refused) await r.response.body?.cancel();
    if (failed !== undefined) throw failed.reason;
    return {
      kind: 'passthrough',
      response: (refused as (typeof results)[number]).response,
      origin,
      attempts,
      pool: (refused as (typeof results)[number]).pool,
    };
  }
  const predictions: Prediction[] = [];
  const pools: string[] = [];
  let version: string | undefined;
  for (const [i, r] of results.entries()) {
    const chunk = chunks[i] as EscalationChunk;
    const read = await chunk.read(r.response);
    if (read === undefined || read.predictions.length !== chunk.count) {
      throw new OriginUnavailableError(
        'origin_error',
        'origin answered with a body that is not an answer for the items sent',
        attempts,
      );
    }
    version ??= read.version;
    predictions.push(...read.predictions);
    for (let k = 0; k < chunk.count; k++) pools.push(r.pool);
  }
  const computeMs = results.reduce((n, r) => n + r.computeMs, 0);
  const hedged = results.some((r) => r.hedged);
  return {
    kind: 'answer',
    version: version as string,
    predictions,
    origin,
    attempts,
    computeMs,
    pools,
    hedged,
  };
}
