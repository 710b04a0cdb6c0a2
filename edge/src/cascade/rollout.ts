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
import type { Answer, AnswerDeps, CascadeInput, CascadeItems } from './answer.ts';

/** Counts comparison fields for a model version (the stats recorder's `count`). */
export type CountFields = (
  c: Context<AppEnv>,
  model: string,
  version: string,
  fields: Map<string, number>,
) => void;

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
  const result = await items.escalate(c, deps, { ...input, version: candidate }, indices);
  if (result.kind !== 'answer') {
    await result.response.body?.cancel();
    throw new Error(`the origin refused the candidate's shadow request (${result.response.status})`);
  }
  return result.predictions.map((p) => p.label);
}

export async function runShadow(
  c: Context<AppEnv>,
  deps: AnswerDeps,
  input: CascadeInput,
  items: CascadeItems,
  answer: Answer,
  candidate: string,
  count: CountFields,
): Promise<void> {
  const fields = new Map<string, number>();
  const all = answer.predictions.map((_, i) => i);
  const stable = answer.predictions.map((p) => p.label);
  const started = Date.now();
  try {
    tally(fields, 'sh', stable, await candidateLabels(c, deps, input, items, candidate, all, false));
    fields.set('sh:ms', Date.now() - started);
    fields.set('sh:req', 1);
    // The items the stable teacher answered: the candidate's teacher answers them too.
    const escalated = all.filter((i) => answer.predictions[i]?.served_by === 'origin');
    if (escalated.length > 0) {
      const origin = await candidateLabels(c, deps, input, items, candidate, escalated, true);
      tally(
        fields,
        'sho',
        escalated.map((i) => stable[i] as string),
        origin,
      );
    }
  } catch (err) {
    fields.set('sh:err', 1);
    console.error(
      JSON.stringify({
        level: 'warn',
        msg: 'shadow comparison failed',
        model: input.model,
        candidate,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }
  count(c, input.model, candidate, fields);
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

/** Starts the policy's comparisons for an answer, off the request path. */
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
  const wait = (p: Promise<void>) => c.executionCtx.waitUntil(p);
  if (policy.mode === 'shadow' && policy.candidate !== null && Math.random() < policy.weight) {
    wait(runShadow(c, deps, input, items, answer, policy.candidate, count));
  }
  const audited = auditSample(answer, policy.audit_rate);
  if (audited.length > 0) wait(runAudit(c, deps, input, items, answer, audited, count));
}
