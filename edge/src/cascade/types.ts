/**
 * The types the cascade's flow (answer.ts) and the rollout's comparisons (rollout.ts) share: an answer and the
 * request it answers, the items it covers, the flow's dependencies and the rollout's counting hooks.
 */

import type { Context } from 'hono';
import type { Prediction, ServedBy } from '../../../shared/protocol/text.ts';
import type { RolloutPolicy } from '../../../shared/rollout/index.ts';
import type { ResultCache } from '../cache/index.ts';
import type { EdgeModel, EdgePrediction, EdgeRelease } from '../model/edge-model.ts';
import type { Lookup } from '../model/registry.ts';
import type { OriginRouter } from '../origin-client/index.ts';
import type { ReviewSubmission } from '../review/queue.ts';
import type { RequestMeta } from '../stats/recorder.ts';
import type { AppEnv } from '../types.ts';
import type { EscalateMode } from './policy.ts';

/** What the cache holds per item: one text's answer (the model is in the key). */
export interface CachedAnswer {
  version: string;
  prediction: Prediction;
  /** Who computed it: `x-escalate: always` accepts only the origin's. */
  source: 'edge' | 'origin';
}

export interface Answer {
  model: string;
  /** The version of the most expensive path's answer (the edge release, the origin's, or the cached one's). */
  version: string;
  /** One per text, in order, each with the `served_by` of the path that answered it. */
  predictions: Array<Prediction & { served_by: ServedBy }>;
  /** The most expensive path any item took: origin > edge-degraded > edge > cache. */
  served_by: ServedBy;
  /** Items per path, every path listed. */
  served_by_counts: Record<ServedBy, number>;
  /** The release version that answered each item (the edge's, the origin's or the cached one's). */
  item_versions: string[];
  /** Response headers describing how it was answered (x-served-by, x-served-by-counts, x-cache, ...). */
  headers: Record<string, string>;
}

export interface CascadeInput {
  model: string;
  /** The version the client asked for (path), or the one the rollout policy chose, if any. */
  version: string | undefined;
  /** Set when the rollout policy chose the version: which arm. */
  arm?: 'stable' | 'candidate';
  mode: EscalateMode;
  /** Absolute deadline, ms since the epoch. */
  deadline: number;
}

/** One request's items as the cascade handles them: texts or tensor rows. */
export interface CascadeItems {
  count: number;
  /** Bytes the items carry (the "heavy" routing rule). */
  bytes: number;
  /** The cache key's input for item `i` (the model, version and tenant are added). */
  keyInput(i: number): Promise<unknown>;
  /** The edge model's predictions for some items, in the order given. */
  predict(model: EdgeModel, indices: readonly number[]): Promise<EdgePrediction[]>;
  /** The input a reviewer reads for item `i` (texts); undefined where there is none to show (tensor rows). */
  reviewInput?(i: number): string | undefined;
  /** The origin's predictions for some items, in the order given. */
  escalate(
    c: Context<AppEnv>,
    deps: AnswerDeps,
    input: CascadeInput,
    indices: readonly number[],
  ): Promise<Escalated>;
}

export type Escalated =
  | {
      kind: 'answer';
      version: string;
      predictions: Prediction[];
      origin: string;
      attempts: number;
      /** The model run time the origin reported for these items, ms. */
      computeMs: number;
      /** The origin pool that answered each item (parallel to predictions). */
      pools: string[];
      /** Whether any of its origin requests was hedged to a second pool. */
      hedged: boolean;
    }
  | { kind: 'passthrough'; response: Response; origin: string; attempts: number; pool: string };

export interface AnswerDeps {
  releases: () => EdgeRelease[];
  /**
   * Looks up a version the bundle does not embed in the model registry (R2), without waiting: `ready` answers at
   * the edge, `loading` escalates as `model_loading`, anything else as `version_not_at_edge`. @default none
   */
  registry?: (c: Context<AppEnv>, model: string, version: string) => Lookup;
  /** What this isolate knows of a model's registry versions (published: last index read; loaded: sessions). */
  registryVersions?: (model: string) => { published: string[]; loaded: string[] };
  pool: (c: Context<AppEnv>) => OriginRouter;
  cache: (c: Context<AppEnv>) => ResultCache<CachedAnswer>;
  now: () => number;
  /**
   * Counts an answer in the traffic and drift stats (off the request path), with its request's rollout arm and
   * latency. @default none
   */
  record?: (c: Context<AppEnv>, answer: Answer, meta: RequestMeta) => void;
  /** The model's stored rollout policy (cached per isolate), if any. @default none: the latest release answers */
  rollout?: (c: Context<AppEnv>, model: string) => Promise<RolloutPolicy | undefined>;
  /** Counts the rollout's shadow and audit comparisons (cascade/rollout.ts). @default none: not run */
  countFields?: CountFields;
  /** Adds to a candidate's health counters and rolls it back past a guardrail (cascade/rollout.ts). */
  guard?: GuardFields;
  /** Sends items no model is sure of to the human-review queue (off the request path). @default none */
  review?: (c: Context<AppEnv>, items: ReviewSubmission[]) => void;
}

/** Counts comparison fields for a model version (the stats recorder's `count`). */
export type CountFields = (
  c: Context<AppEnv>,
  model: string,
  version: string,
  fields: Map<string, number>,
) => void;

/**
 * Adds to the candidate's health counters under the policy's revision (`n` candidate requests, `err` failed or
 * degraded ones, `slow` ones over the latency bound, `cmp` compared items, `dis` disagreements) and rolls the policy
 * back when a guardrail is passed (app.ts: Upstash + the rollout store).
 */
export type GuardFields = (
  c: Context<AppEnv>,
  policy: RolloutPolicy,
  fields: Partial<Health>,
) => Promise<void>;

/** Health counters of a candidate under one policy revision. */
export interface Health {
  n: number;
  err: number;
  slow: number;
  cmp: number;
  dis: number;
}
