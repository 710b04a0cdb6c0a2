/**
 * The rollout policy of one model: which embedded version is stable, which is the candidate, and how the candidate
 * takes traffic (`off` | `shadow` | `canary` | `ab`, with a weight, sticky per API key or per request), plus the
 * audit rate and the guardrails that roll a bad candidate back. One small JSON document per model in the shared
 * store (Upstash), validated here by both the edge (admin API, routing) and the CLI; every change bumps
 * `revision`.
 *
 * Runs in workerd and Node (zod only).
 */
import { z } from 'zod';

export const ROLLOUT_MODES = ['off', 'shadow', 'canary', 'ab'] as const;
export type RolloutMode = (typeof ROLLOUT_MODES)[number];

const Version = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a release version id');

export const Guardrails = z
  .object({
    /** Candidate answers seen before any bound is judged. */
    min_samples: z.number().int().min(1).max(1_000_000).default(200),
    /** Share of candidate requests that failed (5xx, degraded) above which it is rolled back. */
    max_error_rate: z.number().min(0).max(1).default(0.05),
    /** Candidate latency p95 above which it is rolled back, ms. */
    max_p95_ms: z.number().positive().max(600_000).default(1000),
    /** Share of audited or shadowed answers where candidate and stable disagree, above which it is rolled back. */
    max_disagreement: z.number().min(0).max(1).default(0.2),
  })
  .strict();
export type Guardrails = z.infer<typeof Guardrails>;

const PolicyFields = z
  .object({
    stable: Version,
    candidate: Version.nullable().default(null),
    mode: z.enum(ROLLOUT_MODES).default('off'),
    /** Share of traffic the candidate answers (canary, ab) or that is shadowed (shadow), in [0, 1]. */
    weight: z.number().min(0).max(1).default(0),
    /** `key`: one API key always sees one version; `request`: drawn per request. */
    stickiness: z.enum(['key', 'request']).default('key'),
    /** Share of confident edge answers also sent to the origin off the request path, in [0, 1]. */
    audit_rate: z.number().min(0).max(1).default(0),
    guardrails: Guardrails.default({
      min_samples: 200,
      max_error_rate: 0.05,
      max_p95_ms: 1000,
      max_disagreement: 0.2,
    }),
  })
  .strict();

/** A candidate is needed for every mode but off, and it is not the stable version. */
function coherent(
  p: { mode: RolloutMode; candidate: string | null; stable: string },
  ctx: z.RefinementCtx,
): void {
  if (p.mode !== 'off' && p.candidate === null) {
    ctx.addIssue({
      code: 'custom',
      path: ['candidate'],
      message: `mode ${p.mode} needs a candidate version`,
    });
  }
  if (p.candidate !== null && p.candidate === p.stable) {
    ctx.addIssue({ code: 'custom', path: ['candidate'], message: 'the candidate is the stable version' });
  }
}

/** What an admin sends (PUT): everything but the bookkeeping fields. */
export const RolloutPolicyInput = PolicyFields.superRefine(coherent);
export type RolloutPolicyInput = z.input<typeof RolloutPolicyInput>;

/** A stored policy: the input plus its model, revision and who changed it last, when and why. */
export const RolloutPolicy = PolicyFields.extend({
  model: z.string().min(1).max(128),
  revision: z.number().int().min(0),
  updated_at: z.string(),
  updated_by: z.string(),
  /** Why the last change happened (e.g. an automatic rollback's reason). */
  reason: z.string().max(500).optional(),
  /**
   * Set by promote only: the stable version the promotion replaced, so that the next rollback undoes it. Every
   * other change clears it.
   */
  promoted_from: Version.optional(),
}).superRefine(coherent);
export type RolloutPolicy = z.infer<typeof RolloutPolicy>;

/** The policy a model has before anyone set one: its latest embedded release is stable, nothing else. */
export function defaultPolicy(model: string, stable: string): RolloutPolicy {
  return {
    model,
    revision: 0,
    updated_at: '1970-01-01T00:00:00.000Z',
    updated_by: 'default',
    ...RolloutPolicyInput.parse({ stable }),
  };
}

/** The zod issues as one sentence naming each field: `weight: Number must be less than or equal to 1`. */
export function policyProblems(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** FNV-1a, 32 bits: a fast, stable hash for traffic buckets (not for security). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The bucket in [0, 1) of a caller for a model's rollout: the same key always lands in the same bucket (sticky),
 * different models spread a key independently. `draw` (a uniform [0, 1) number) is used instead for per-request
 * stickiness.
 */
export function trafficBucket(model: string, caller: string): number {
  return fnv1a(`${model}\u0000${caller}`) / 2 ** 32;
}

/**
 * The version that answers an unpinned request under the policy: the candidate when the mode gives it traffic
 * (canary, ab) and the caller's bucket is below the weight; otherwise the stable version.
 */
export function versionFor(
  policy: RolloutPolicy,
  bucket: number,
): { version: string; arm: 'stable' | 'candidate' } {
  const live = policy.mode === 'canary' || policy.mode === 'ab';
  if (live && policy.candidate !== null && bucket < policy.weight)
    return { version: policy.candidate, arm: 'candidate' };
  return { version: policy.stable, arm: 'stable' };
}
