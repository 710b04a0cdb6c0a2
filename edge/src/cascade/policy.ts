/**
 * The cascade's policy: answer at the edge or escalate to the origin pool (answer.ts runs the flow).
 *
 * Before the edge model runs, `route()` escalates what the edge should not or cannot answer: the client asked
 * (`x-escalate: always`), the model or the requested version is not at the edge (or its student was refused),
 * or the request is heavy (more items or UTF-8 bytes than the configured limits). After it ran, `decide()`
 * escalates, per item, those whose confidence is below the release threshold. `x-escalate: never` never
 * escalates: heavy and low-confidence requests are answered at the edge, and a model the edge lacks is an error.
 *
 * Per-item escalation: only the uncertain items go to the origin; answer.ts merges the answers in order and says
 * per item who answered. `route()` applies to the items the cache did not answer, as a whole (heaviness is the
 * edge's CPU budget for the request). An item the release's OOD rule calls out of distribution escalates too
 * (`out_of_distribution`), whatever its confidence: the student does not know what it does not know.
 */
import { confidenceOf } from '../../../shared/decision/index.ts';
import { InferenceError } from '../../../shared/errors/index.ts';

export type EscalateMode = 'auto' | 'always' | 'never';

export type EscalationReason =
  | 'client_requested'
  | 'model_not_at_edge'
  | 'version_not_at_edge'
  | 'model_loading'
  | 'edge_model_unavailable'
  | 'too_many_items'
  | 'too_many_bytes'
  | 'low_confidence'
  | 'out_of_distribution';

export type Decision = { escalate: false } | { escalate: true; reason: EscalationReason };

export interface RouteInput {
  mode: EscalateMode;
  /** The edge holds a release of this model. */
  modelAtEdge: boolean;
  /** The requested version (if any) is the edge's release version. */
  versionAtEdge: boolean;
  /** The requested version is being loaded from the model registry (R2): the origin answers until it is ready. */
  versionLoading?: boolean;
  /** The edge's student loaded (hash verified, session created). */
  edgeModelReady: boolean;
  items: number;
  bytes: number;
  maxItems: number;
  maxBytes: number;
}

/** Parses `x-escalate`; absent means auto, anything else is a 400. */
export function parseEscalateHeader(value: string | undefined): EscalateMode {
  if (value === undefined || value === '') return 'auto';
  const v = value.trim().toLowerCase();
  if (v === 'auto' || v === 'always' || v === 'never') return v;
  throw new InferenceError(
    'invalid_header',
    `x-escalate must be auto, always or never, got ${JSON.stringify(value.slice(0, 40))}`,
  );
}

/** Escalation decided before running the edge model. */
export function route(input: RouteInput): Decision {
  const missing: EscalationReason | undefined = !input.modelAtEdge
    ? 'model_not_at_edge'
    : !input.versionAtEdge
      ? input.versionLoading === true
        ? 'model_loading'
        : 'version_not_at_edge'
      : !input.edgeModelReady
        ? 'edge_model_unavailable'
        : undefined;
  if (input.mode === 'never') {
    if (missing !== undefined) {
      const message = `x-escalate: never, but the edge cannot answer this request (${missing.replaceAll('_', ' ')})`;
      const headers = { 'x-escalation-reason': missing };
      // The edge does not hold this model/version: retrying never helps, so it is the client's 404. A model the
      // edge holds but could not load is a transient 503 with Retry-After.
      if (missing === 'edge_model_unavailable' || missing === 'model_loading') {
        throw new InferenceError('unavailable', message, { headers: { ...headers, 'Retry-After': '1' } });
      }
      throw new InferenceError('model_not_found', message, { headers });
    }
    return { escalate: false };
  }
  if (input.mode === 'always') return { escalate: true, reason: 'client_requested' };
  if (missing !== undefined) return { escalate: true, reason: missing };
  if (input.items > input.maxItems) return { escalate: true, reason: 'too_many_items' };
  if (input.bytes > input.maxBytes) return { escalate: true, reason: 'too_many_bytes' };
  return { escalate: false };
}

/**
 * Escalation decided per item from the edge model's answers: out of distribution (the release's OOD rule, when it
 * has one) first, then a confidence (top-class probability, shared/decision confidenceOf) below the threshold or an
 * answer the release's decision rule calls unsure; undefined when the edge answers.
 */
export function decide(
  mode: EscalateMode,
  items: ReadonlyArray<{
    score: number;
    scores?: Readonly<Record<string, number>>;
    ood?: boolean | undefined;
    unsure?: boolean | undefined;
  }>,
  threshold: number,
): Array<EscalationReason | undefined> {
  return items.map((p) =>
    mode === 'never'
      ? undefined
      : p.ood === true
        ? 'out_of_distribution'
        : !(confidenceOf(p) >= threshold) || p.unsure === true
          ? 'low_confidence'
          : undefined,
  );
}
