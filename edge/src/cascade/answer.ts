/**
 * The cascade's flow, the edge's answer to "classify these texts with this model": cache -> edge model -> decide
 * (policy.ts) -> origin -> degraded fallback. Shared by the text API and OIP infer with a BYTES (text) input.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { cacheKey } from '../../../shared/hash/index.ts';
import {
  ClassifyResponse,
  type Prediction,
  Prediction as PredictionSchema,
  type ServedBy,
} from '../../../shared/protocol/text.ts';
import type { CacheTier, ResultCache } from '../cache/index.ts';
import { type EdgeModel, type EdgeRelease, loadEdgeModel } from '../model/edge-model.ts';
import {
  type OriginPool,
  OriginUnavailableError,
  originHeaders,
  tierPriority,
} from '../origin-client/index.ts';
import type { AppEnv } from '../types.ts';
import { decide, type EscalateMode, route } from './policy.ts';

/** What the cache holds: one answer without per-request fields. */
export interface CachedAnswer {
  model: string;
  version: string;
  predictions: Prediction[];
  /** Who computed it: `x-escalate: always` accepts only the origin's. Absent in older entries (taken as edge). */
  source?: 'edge' | 'origin';
}

const CachedAnswerSchema = z.object({
  model: z.string(),
  version: z.string(),
  predictions: z.array(PredictionSchema),
  source: z.enum(['edge', 'origin']).optional(),
});

/** A value read from the cache as a CachedAnswer, or undefined when it is not one (a MISS, never a 500). */
export function validCachedAnswer(value: unknown): CachedAnswer | undefined {
  const parsed = CachedAnswerSchema.safeParse(value);
  return parsed.success ? (parsed.data as CachedAnswer) : undefined;
}

export interface Answer extends CachedAnswer {
  served_by: ServedBy;
  /** Response headers describing how it was answered (x-served-by, x-cache, ...). */
  headers: Record<string, string>;
}

/** A non-2xx answer from the origin (e.g. its 400 for input it refuses), passed through to the client. */
export interface PassThrough {
  passthrough: Response;
  headers: Record<string, string>;
}

export interface AnswerDeps {
  releases: () => EdgeRelease[];
  pool: (c: Context<AppEnv>) => OriginPool;
  cache: (c: Context<AppEnv>) => ResultCache<CachedAnswer>;
  now: () => number;
}

export interface AnswerInput {
  model: string;
  /** The version the client asked for (path), if any. */
  version: string | undefined;
  texts: string[];
  mode: EscalateMode;
  /** Absolute deadline, ms since the epoch. */
  deadline: number;
}

function minScore(predictions: readonly Prediction[]): number {
  let m = 1;
  for (const p of predictions) if (p.score < m) m = p.score;
  return m;
}

/** UTF-8 byte length without encoding. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0x80) n += 1;
    else if (code < 0x800) n += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

async function edgeModelFor(
  release: EdgeRelease | undefined,
  version: string | undefined,
): Promise<EdgeModel | undefined> {
  if (release === undefined) return undefined;
  if (version !== undefined && version !== release.manifest.version) return undefined;
  try {
    return await loadEdgeModel(release);
  } catch {
    return undefined;
  }
}

export async function answerTexts(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: AnswerInput,
): Promise<Answer | PassThrough> {
  const { model, version, texts, mode } = input;
  const config = c.get('config');
  const log = c.get('log');
  log.model = model;
  log.items = texts.length;
  const release = deps.releases().find((r) => r.manifest.name === model);
  const cache = deps.cache(c);
  const control = c.get('cacheControl');

  // The version asked for, else the edge's release; '*' (whatever the origin serves) for models not at the edge.
  const keyVersion = version ?? release?.manifest.version ?? '*';
  const useCache = cache.enabled && !(control.noCache && control.noStore);
  // Per tenant unless CACHE_SCOPE=shared: a HIT must not tell one key what another asked.
  const scope = config.cacheScope === 'shared' ? undefined : `tenant:${c.get('principal').id}`;
  const key = useCache ? await cacheKey(model, keyVersion, { texts }, scope) : '';
  let xCache: 'MISS' | 'BYPASS' = 'BYPASS';
  if (useCache && !control.noCache) {
    const hit = await cache.get(key);
    // "always" must reach the origin: a cached student answer does not count, a cached origin answer does.
    if (hit !== undefined && (mode !== 'always' || hit.value.source === 'origin')) {
      return cached(c, hit.value, hit.tier);
    }
    xCache = 'MISS';
  }
  log.cache = xCache;
  const store = (value: CachedAnswer) => {
    if (useCache && !control.noStore) cache.put(key, value);
  };

  const edgeModel = await edgeModelFor(release, version);
  let decision = route({
    mode,
    modelAtEdge: release !== undefined,
    versionAtEdge: version === undefined || version === release?.manifest.version,
    edgeModelReady: edgeModel !== undefined,
    items: texts.length,
    bytes: texts.reduce((n, t) => n + utf8Length(t), 0),
    maxItems: config.edgeMaxItems,
    maxBytes: config.edgeMaxBytes,
  });
  let edgePredictions: Prediction[] | undefined;
  if (!decision.escalate && edgeModel !== undefined) {
    edgePredictions = await edgeModel.predict(texts);
    log.confidence = minScore(edgePredictions);
    decision = decide(
      mode,
      edgePredictions.map((p) => p.score),
      edgeModel.threshold,
    );
    if (!decision.escalate) {
      const value: CachedAnswer = {
        model,
        version: edgeModel.version,
        predictions: edgePredictions,
        source: 'edge',
      };
      // Only confident edge answers are cached (x-escalate: never can return unconfident ones).
      if (log.confidence >= edgeModel.threshold) store(value);
      log.served_by = 'edge';
      log.version = edgeModel.version;
      return { ...value, served_by: 'edge', headers: answerHeaders('edge', edgeModel.version, xCache) };
    }
  }
  if (!decision.escalate) throw new Error('unreachable: no edge model and no escalation');
  log.escalation_reason = decision.reason;

  try {
    const result = await escalate(c, deps, input);
    log.origin = result.origin;
    log.origin_attempts = result.attempts;
    if (result.kind === 'passthrough') {
      log.served_by = 'origin';
      return {
        passthrough: result.response,
        headers: { 'x-served-by': 'origin', 'x-cache': xCache, 'x-escalation-reason': decision.reason },
      };
    }
    const value: CachedAnswer = {
      model,
      version: result.version,
      predictions: result.predictions,
      source: 'origin',
    };
    store(value);
    log.served_by = 'origin';
    log.version = value.version;
    return {
      ...value,
      served_by: 'origin',
      headers: { ...answerHeaders('origin', value.version, xCache), 'x-escalation-reason': decision.reason },
    };
  } catch (err) {
    if (!(err instanceof OriginUnavailableError)) throw err;
    log.origin_attempts = err.attempts;
    if (edgeModel === undefined) {
      log.degraded_reason = err.reason;
      err.headers['x-escalation-reason'] = decision.reason;
      err.headers['x-degraded-reason'] = err.reason;
      throw err;
    }
    edgePredictions ??= await edgeModel.predict(texts);
    log.confidence ??= minScore(edgePredictions);
    log.served_by = 'edge-degraded';
    log.degraded_reason = err.reason;
    log.version = edgeModel.version;
    return {
      model,
      version: edgeModel.version,
      predictions: edgePredictions,
      served_by: 'edge-degraded',
      headers: {
        ...answerHeaders('edge-degraded', edgeModel.version, xCache),
        'x-escalation-reason': decision.reason,
        'x-degraded-reason': err.reason,
      },
    };
  }
}

function answerHeaders(servedBy: ServedBy, version: string, xCache: string): Record<string, string> {
  return { 'x-served-by': servedBy, 'x-model-version': version, 'x-cache': xCache };
}

function cached(c: Context<AppEnv>, value: CachedAnswer, tier: CacheTier): Answer {
  const log = c.get('log');
  log.cache = 'HIT';
  log.served_by = 'cache';
  log.version = value.version;
  return {
    ...value,
    served_by: 'cache',
    headers: { ...answerHeaders('cache', value.version, 'HIT'), 'x-cache-tier': tier.toUpperCase() },
  };
}

type Escalated =
  | { kind: 'answer'; version: string; predictions: Prediction[]; origin: string; attempts: number }
  | { kind: 'passthrough'; response: Response; origin: string; attempts: number };

/**
 * Sends the texts to the origin's text API in chunks of at most ORIGIN_MAX_ITEMS (its max batch), in parallel, and
 * merges the answers in order. A chunk the origin refuses as bad input (4xx) is passed through as the answer; a
 * chunk it cannot serve fails the whole escalation (OriginUnavailableError: the caller degrades).
 */
async function escalate(c: Context<AppEnv>, deps: AnswerDeps, input: AnswerInput): Promise<Escalated> {
  const path =
    input.version === undefined
      ? `/v1/models/${encodeURIComponent(input.model)}/classify`
      : `/v1/models/${encodeURIComponent(input.model)}/versions/${encodeURIComponent(input.version)}/classify`;
  const size = c.get('config').originMaxItems;
  const chunks: string[][] = [];
  for (let i = 0; i < input.texts.length; i += size) chunks.push(input.texts.slice(i, i + size));
  const pool = deps.pool(c);
  const settled = await Promise.allSettled(
    chunks.map((texts) =>
      pool.send({
        method: 'POST',
        path,
        body: JSON.stringify({ texts }),
        headers: originHeaders(c.get('requestId'), c.get('trace'), {
          'content-type': 'application/json',
          accept: 'application/json',
        }),
        deadline: input.deadline,
        priority: tierPriority(c),
      }),
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
    };
  }
  const predictions: Prediction[] = [];
  let version: string | undefined;
  for (const [i, r] of results.entries()) {
    const parsed = ClassifyResponse.safeParse(await r.response.json().catch(() => undefined));
    if (!parsed.success || parsed.data.predictions.length !== (chunks[i] as string[]).length) {
      throw new OriginUnavailableError(
        'origin_error',
        'origin answered with a body that is not a classify response',
        attempts,
      );
    }
    version ??= parsed.data.version;
    predictions.push(...parsed.data.predictions);
  }
  return { kind: 'answer', version: version as string, predictions, origin, attempts };
}
