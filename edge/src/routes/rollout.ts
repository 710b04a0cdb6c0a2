/**
 * The rollout admin API (keys with the `admin` scope only; 403 otherwise; 503 without the shared store):
 *
 *   GET  /v1/admin/models/{model}/rollout            the policy in force (stored, or the default) and the
 *                                                    versions this edge embeds
 *   PUT  /v1/admin/models/{model}/rollout            replace it (shared/rollout RolloutPolicyInput; optional
 *                                                    `revision`: the one the change is based on, else the current)
 *   POST /v1/admin/models/{model}/rollout/promote    the candidate becomes stable; mode off
 *   POST /v1/admin/models/{model}/rollout/rollback   mode off: every request gets the stable version again; right
 *                                                    after a promote (nothing in traffic), the version it replaced
 *                                                    becomes stable again (the promoted one stays as candidate)
 *
 * Versions must be embedded in this edge bundle or published in the model registry (R2; 400 naming the ones that
 * are; a registry version is loaded by the edge on first use). A change based on an older revision
 * than the stored one is 409 `conflict`. Every change is logged with who (the key id) and what.
 */
import type { Context } from 'hono';
import { InferenceError, InvalidInputError } from '../../../shared/errors/index.ts';
import { sortReleases } from '../../../shared/manifest/index.ts';
import {
  defaultPolicy,
  policyProblems,
  type RolloutPolicy,
  RolloutPolicyInput,
} from '../../../shared/rollout/index.ts';
import type { AnswerDeps } from '../cascade/index.ts';
import type { RolloutBackend, RolloutStore } from '../rollout/store.ts';
import type { AppEnv } from '../types.ts';
import { redisFor } from '../upstash.ts';
import { readJson, requireJson } from './request.ts';

export interface RolloutRouteDeps extends Pick<AnswerDeps, 'releases' | 'now'> {
  rollout: RolloutStore;
  /** The versions of a model published in the model registry (R2), read now. @default none */
  published?: (c: Context<AppEnv>, model: string) => Promise<string[]>;
}

function requireAdmin(c: Context<AppEnv>): void {
  if (!c.get('principal').scopes.includes('admin')) {
    throw new InferenceError('forbidden', 'this API key has no admin scope');
  }
}

function backendOf(c: Context<AppEnv>): RolloutBackend {
  const upstash = c.get('config').upstash;
  if (upstash === undefined) {
    throw new InferenceError(
      'unavailable',
      'rollout policies live in the shared Upstash store, which is not configured',
    );
  }
  return redisFor(upstash) as unknown as RolloutBackend;
}

/** The versions of `model` this bundle embeds, oldest first; 404 when it embeds none. */
function embedded(deps: RolloutRouteDeps, model: string): string[] {
  const versions = sortReleases(deps.releases().filter((r) => r.manifest.name === model)).map(
    (r) => r.manifest.version,
  );
  if (versions.length === 0) {
    throw new InferenceError('model_not_found', `model '${model}' is not embedded in this edge bundle`);
  }
  return versions;
}

/** What a policy may name: the embedded versions, then those published in the registry (503 if it is unreadable). */
async function servable(c: Context<AppEnv>, deps: RolloutRouteDeps, model: string): Promise<string[]> {
  const versions = embedded(deps, model);
  if (deps.published === undefined) return versions;
  const published = await deps.published(c, model).catch(() => {
    throw new InferenceError(
      'unavailable',
      `the model registry's index of '${model}' could not be read; retry`,
    );
  });
  return [...versions, ...published.filter((v) => !versions.includes(v))];
}

/** The stored policy read now (503 when the store fails), or the default: the latest embedded release is stable. */
async function inForce(
  c: Context<AppEnv>,
  deps: RolloutRouteDeps,
  model: string,
): Promise<{ policy: RolloutPolicy; stored: boolean; versions: string[] }> {
  const versions = embedded(deps, model);
  let stored: RolloutPolicy | undefined;
  try {
    stored = await deps.rollout.read(backendOf(c), model);
  } catch (err) {
    if (err instanceof InferenceError) throw err;
    throw new InferenceError('unavailable', `the rollout policy of '${model}' could not be read; retry`);
  }
  return {
    policy: stored ?? defaultPolicy(model, versions.at(-1) as string),
    stored: stored !== undefined,
    versions,
  };
}

/** Writes `next` over `base` (compare-and-set), logs who changed what, and answers with the new policy. */
async function change(
  c: Context<AppEnv>,
  deps: RolloutRouteDeps,
  base: RolloutPolicy,
  next: Omit<RolloutPolicy, 'model' | 'revision' | 'updated_at' | 'updated_by'>,
  what: string,
): Promise<Response> {
  const versions = await servable(c, deps, base.model);
  const missing = [next.stable, next.candidate].filter(
    (v): v is string => v !== null && !versions.includes(v),
  );
  if (missing.length > 0) {
    throw new InvalidInputError(
      `version ${missing.join(', ')} of '${base.model}' is neither embedded in this edge bundle nor published in the model registry (servable: ${versions.join(', ')})`,
    );
  }
  const principal = c.get('principal');
  const policy: RolloutPolicy = {
    ...next,
    model: base.model,
    revision: base.revision + 1,
    updated_at: new Date(deps.now()).toISOString(),
    updated_by: principal.id,
  };
  const result = await deps.rollout.write(backendOf(c), policy).catch(() => {
    throw new InferenceError(
      'unavailable',
      `the rollout policy of '${base.model}' could not be written; retry`,
    );
  });
  if (!result.ok) {
    throw new InferenceError(
      'conflict',
      `the rollout policy of '${base.model}' changed meanwhile (revision ${result.currentRevision}, this change was based on ${base.revision}); read it again`,
    );
  }
  const log = c.get('log');
  log.rollout_change = {
    model: base.model,
    what,
    by: principal.id,
    from_revision: base.revision,
    to_revision: policy.revision,
    stable: policy.stable,
    candidate: policy.candidate,
    mode: policy.mode,
    weight: policy.weight,
  };
  return c.json({ policy, versions }, 200);
}

export function rolloutGetHandler(deps: RolloutRouteDeps) {
  return async function getRollout(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const { policy, stored, versions } = await inForce(c, deps, c.req.param('model') as string);
    return c.json({ policy, stored, versions, ttl_ms: deps.rollout.ttlMs });
  };
}

export function rolloutPutHandler(deps: RolloutRouteDeps) {
  return async function putRollout(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    requireJson(c);
    const body = await readJson(c);
    const { policy: current } = await inForce(c, deps, c.req.param('model') as string);
    const { revision, reason, ...rest } = (typeof body === 'object' && body !== null ? body : {}) as Record<
      string,
      unknown
    >;
    if (revision !== undefined && !(Number.isInteger(revision) && (revision as number) >= 0)) {
      throw new InvalidInputError(
        'revision: expected the non-negative integer revision the change is based on',
      );
    }
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) {
      throw new InvalidInputError('reason: expected a string of at most 500 characters');
    }
    const parsed = RolloutPolicyInput.safeParse(typeof body === 'object' && body !== null ? rest : body);
    if (!parsed.success)
      throw new InvalidInputError(`invalid rollout policy: ${policyProblems(parsed.error)}`);
    const base = revision === undefined ? current : { ...current, revision: revision as number };
    return change(c, deps, base, { ...parsed.data, ...(reason === undefined ? {} : { reason }) }, 'set');
  };
}

export function rolloutPromoteHandler(deps: RolloutRouteDeps) {
  return async function promote(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const { policy } = await inForce(c, deps, c.req.param('model') as string);
    if (policy.candidate === null) {
      throw new InvalidInputError(`'${policy.model}' has no candidate to promote (stable: ${policy.stable})`);
    }
    const next = {
      ...changeable(policy),
      stable: policy.candidate,
      candidate: null,
      mode: 'off' as const,
      weight: 0,
      promoted_from: policy.stable,
      reason: 'promoted',
    };
    return change(c, deps, policy, next, 'promote');
  };
}

export function rolloutRollbackHandler(deps: RolloutRouteDeps) {
  return async function rollback(c: Context<AppEnv>): Promise<Response> {
    requireAdmin(c);
    const { policy } = await inForce(c, deps, c.req.param('model') as string);
    const fields = changeable(policy);
    if (policy.mode === 'off' && policy.promoted_from !== undefined) {
      const reason = `rolled back to ${policy.promoted_from} (undoing the promotion of ${policy.stable})`;
      const next = { ...fields, stable: policy.promoted_from, candidate: policy.stable, weight: 0, reason };
      return change(c, deps, policy, next, 'rollback');
    }
    return change(c, deps, policy, { ...fields, mode: 'off', weight: 0, reason: 'rolled back' }, 'rollback');
  };
}

/** A policy's admin-set fields: without the bookkeeping every change rewrites (revision, who, why, promoted_from). */
function changeable(policy: RolloutPolicy) {
  const {
    model: _m,
    revision: _r,
    updated_at: _a,
    updated_by: _b,
    reason: _x,
    promoted_from: _p,
    ...fields
  } = policy;
  return fields;
}
