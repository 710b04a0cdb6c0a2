/**
 * The rollout's comparisons, run off the request path (`waitUntil`) after the client has its answer:
 *
 * - shadow: the candidate answers the same items too (its edge student when embedded, else the origin's teacher of
 *   that version), and the items the stable answer took from the origin also go to the origin's candidate; the two
 *   answers are compared per item: agreement, label flips by direction (`stable>candidate`), the candidate's time.
 *   Counted under the candidate's version: `sh:n`, `sh:agree`, `sh:flip:{a}>{b}`, `sh:ms`, `sh:err`.
 * - audit: a share of the confident edge answers also go to the origin (the same version's teacher): online
 *   student-vs-teacher agreement, counted under the edge's version: `au:n`, `au:agree`, `au:flip:{edge}>{origin}`,
 *   `au:err`.
 *
 * Never throws: a failed comparison is counted as an error and logged.
 */
import type { Context } from 'hono';
import type { RolloutPolicy } from '../../../shared/rollout/index.ts';
import { loadEdgeModel, releaseFor } from '../model/edge-model.ts';
import type { AppEnv } from '../types.ts';
import type { Answer, AnswerDeps, CascadeInput, CascadeItems, CountFields, Health } from './types.ts';

/**
 * Why the candidate must be rolled back, or undefined: error rate or disagreement above their bounds, or more than
 * 5% of its requests slower than max_p95_ms (its p95 is then above the bound), each over at least min_samples.
 */
export function guardrailBreach(g: RolloutPolicy['guardrails'], h: Health): string | undefined {
  if (h.n >= g.min_samples) {
    const errors = h.err / h.n;
    if (errors > g.max_error_rate) {
      return `error rate ${errors.toFixed(3)} > ${g.max_error_rate} over ${h.n} candidate requests`;
    }
    const slow = h.slow / h.n;
    if (slow > 0.05) {
      return `latency p95 above ${g.max_p95_ms} ms (${(100 * slow).toFixed(1)}% of ${h.n} candidate requests slower)`;
    }
  }
  if (h.cmp >= g.min_samples) {
    const dis = h.dis / h.cmp;
    if (dis > g.max_disagreement) {
      return `disagreement with stable ${dis.toFixed(3)} > ${g.max_disagreement} over ${h.cmp} compared items`;
    }
  }
  return undefined;
}

function tally(
  fields: Map<string, number>,
  prefix: string,
  a: readonly string[],
  b: readonly string[],
): void {
  const add = (f: string, n = 1) => fields.set(f, (fields.get(f) ?? 0) + n);
  a.forEach((label, i) => {
    add(`${prefix}:n`);
    if (label === b[i]) add(`${prefix}:agree`);
    else add(`${prefix}:flip:${label}>${b[i]}`);
  });
}

/** The candidate's labels for `indices`, from its edge student (embedded) or the origin's teacher of its version. */
async function candidateLabels(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  candidate: string,
  indices: number[],
  viaOrigin: boolean,
): Promise<string[]> {
  const release = viaOrigin ? undefined : releaseFor(deps.releases(), input.model, candidate);
  if (release !== undefined) {
    const model = await loadEdgeModel(release);
    return (await items.predict(model, indices)).map((p) => p.label);
  }
  // A registry version the isolate has loaded answers like an embedded one (a loading one: the origin's teacher).
  const found = viaOrigin ? undefined : deps.registry?.(c, input.model, candidate);
  if (found?.state === 'ready') return (await items.predict(found.model, indices)).map((p) => p.label);
  const result = await items.escalate(c, deps, { ...input, version: candidate }, indices);
  if (result.kind !== 'answer') {
    await result.response.body?.cancel();
    throw new Error(`the origin refused the candidate's shadow request (${result.response.status})`);
  }
  return result.predictions.map((p) => p.label);
}

/**
 * Runs `other` (a version) on the answer's items and compares with the answer: under shadow the candidate against
 * stable's answer (prefix `sh`), under canary stable against the candidate's answer (prefix `cv`, the candidate's
 * disagreement with stable). Counted under `countAs`; returns the fields.
 */
export async function runShadow(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  answer: Answer,
  other: string,
  count: CountFields,
  prefix: 'sh' | 'cv' = 'sh',
  countAs: string = other,
): Promise<Map<string, number>> {
  const fields = new Map<string, number>();
  const all = answer.predictions.map((_, i) => i);
  const answered = answer.predictions.map((p) => p.label);
  const started = Date.now();
  try {
    tally(fields, prefix, answered, await candidateLabels(c, deps, input, items, other, all, false));
    fields.set(`${prefix}:ms`, Date.now() - started);
    fields.set(`${prefix}:req`, 1);
    // The items the answering teacher took: the other version's teacher answers them too.
    const escalated = all.filter((i) => answer.predictions[i]?.served_by === 'origin');
    if (prefix === 'sh' && escalated.length > 0) {
      const origin = await candidateLabels(c, deps, input, items, other, escalated, true);
      tally(
        fields,
        'sho',
        escalated.map((i) => answered[i] as string),
        origin,
      );
    }
  } catch (err) {
    fields.set(`${prefix}:err`, 1);
    console.error(
      JSON.stringify({
        level: 'warn',
        msg: 'rollout comparison failed',
        model: input.model,
        version: other,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
  count(c, input.model, countAs, fields);
  return fields;
}

/** The indices of confident edge answers sampled for audit at `rate`. */
export function auditSample(answer: Answer, rate: number, random: () => number = Math.random): number[] {
  if (rate <= 0) return [];
  return answer.predictions.flatMap((p, i) => (p.served_by === 'edge' && random() < rate ? [i] : []));
}

export async function runAudit(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  answer: Answer,
  indices: number[],
  count: CountFields,
): Promise<void> {
  const fields = new Map<string, number>();
  const version = answer.item_versions[indices[0] as number] as string;
  try {
    const result = await items.escalate(c, deps, { ...input, version }, indices);
    if (result.kind !== 'answer') {
      await result.response.body?.cancel();
      throw new Error(`the origin refused the audit request (${result.response.status})`);
    }
    tally(
      fields,
      'au',
      indices.map((i) => answer.predictions[i]?.label as string),
      result.predictions.map((p) => p.label),
    );
  } catch (err) {
    fields.set('au:err', 1);
    console.error(
      JSON.stringify({
        level: 'warn',
        msg: 'audit comparison failed',
        model: input.model,
        version,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
  count(c, input.model, version, fields);
}

/**
 * Counts a request that got no answer (a 5xx): `fail` under its version in the stats, and under canary / A-B an
 * error in the candidate's health for the guardrails (off the request path).
 */
export function countFailure(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  policy: RolloutPolicy | undefined,
): void {
  const version = input.version ?? releaseFor(deps.releases(), input.model)?.manifest.version;
  if (version !== undefined) deps.countFields?.(c, input.model, version, new Map([['fail', 1]]));
  const guard = deps.guard;
  if (
    guard !== undefined &&
    policy !== undefined &&
    input.arm === 'candidate' &&
    (policy.mode === 'canary' || policy.mode === 'ab')
  ) {
    c.executionCtx.waitUntil(guard(c, policy, { n: 1, err: 1 }));
  }
}

/** Compared and disagreeing items of a comparison's fields. */
function compared(fields: Map<string, number>, prefix: string): { cmp: number; dis: number } {
  const n = fields.get(`${prefix}:n`) ?? 0;
  return { cmp: n, dis: n - (fields.get(`${prefix}:agree`) ?? 0) };
}

/**
 * Starts the policy's comparisons for an answer, off the request path: shadow, audit, and under canary / A-B the
 * candidate's health (its requests, errors, slow requests, disagreement with stable) for the guardrails.
 */
export function compareOffPath(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  answer: Answer,
  policy: RolloutPolicy | undefined,
): void {
  const count = deps.countFields;
  if (policy === undefined || count === undefined) return;
  const wait = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const guard = deps.guard;
  const candidate = policy.candidate;
  if (candidate !== null && policy.mode === 'shadow' && Math.random() < policy.weight) {
    wait(
      runShadow(c, deps, input, items, answer, candidate, count).then((fields) =>
        guard?.(c, policy, compared(fields, 'sh')),
      ),
    );
  }
  if (candidate !== null && input.arm === 'candidate' && (policy.mode === 'canary' || policy.mode === 'ab')) {
    const latencyMs = Date.now() - c.get('startedAt');
    const health = {
      n: 1,
      err: answer.served_by === 'edge-degraded' ? 1 : 0,
      slow: latencyMs > policy.guardrails.max_p95_ms ? 1 : 0,
    };
    wait(
      runShadow(c, deps, input, items, answer, policy.stable, count, 'cv', candidate).then((fields) =>
        guard?.(c, policy, { ...health, ...compared(fields, 'cv') }),
      ),
    );
  }
  const audited = auditSample(answer, policy.audit_rate);
  if (audited.length > 0) wait(runAudit(c, deps, input, items, answer, audited, count));
}
