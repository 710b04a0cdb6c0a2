/**
 * Guardrails: a candidate's health counters per policy revision in Upstash (`rollout:v1:{model}:health:{revision}`,
 * fields n, err, slow, cmp, dis; kept a week), added to off the request path, and the automatic rollback when one
 * passes its bound (cascade/rollout.ts guardrailBreach): the policy goes back to `off` with the reason, by a
 * compare-and-set write on the revision the counters belong to, so a rollback happens once and never undoes a newer
 * change. Never throws: a failure is logged and the next sample tries again.
 */
import type { Context } from 'hono';
import type { RolloutPolicy } from '../../../shared/rollout/index.ts';
import { type GuardFields, guardrailBreach, type Health } from '../cascade/rollout.ts';
import type { AppEnv } from '../types.ts';
import type { RolloutBackend, RolloutStore } from './store.ts';

/** The Upstash calls used. */
export interface HealthBackend extends RolloutBackend {
  pipeline(): {
    hincrby(key: string, field: string, increment: number): unknown;
    expire(key: string, seconds: number): unknown;
    hgetall(key: string): unknown;
    exec(): Promise<unknown[]>;
  };
}

export const healthKey = (model: string, revision: number) => `rollout:v1:${model}:health:${revision}`;

const HEALTH_TTL_SECONDS = 7 * 24 * 3600;

export function createGuard(
  store: RolloutStore,
  backendOf: (c: Context<AppEnv>) => HealthBackend | undefined,
  now: () => number = Date.now,
): GuardFields {
  return async (c, policy, fields) => {
    const backend = backendOf(c);
    if (backend === undefined) return;
    try {
      const key = healthKey(policy.model, policy.revision);
      const p = backend.pipeline();
      for (const [f, n] of Object.entries(fields)) if (n !== undefined && n !== 0) p.hincrby(key, f, n);
      p.expire(key, HEALTH_TTL_SECONDS);
      p.hgetall(key);
      const results = await p.exec();
      const hash = (results.at(-1) ?? {}) as Record<string, unknown>;
      const read = (f: keyof Health) => Number(hash[f] ?? 0) || 0;
      const health: Health = {
        n: read('n'),
        err: read('err'),
        slow: read('slow'),
        cmp: read('cmp'),
        dis: read('dis'),
      };
      const breach = guardrailBreach(policy.guardrails, health);
      if (breach === undefined) return;
      const { promoted_from: _p, ...current } = policy;
      const next: RolloutPolicy = {
        ...current,
        mode: 'off',
        weight: 0,
        revision: policy.revision + 1,
        updated_at: new Date(now()).toISOString(),
        updated_by: 'guardrail',
        reason: `automatic rollback of ${policy.candidate}: ${breach}`,
      };
      const written = await store.write(backend, next);
      if (written.ok) {
        console.error(
          JSON.stringify({
            level: 'warn',
            msg: 'rollout rolled back automatically',
            model: policy.model,
            candidate: policy.candidate,
            reason: breach,
            revision: next.revision,
            health,
          }),
        );
      }
    } catch (err) {
      console.error(
        JSON.stringify({
          level: 'warn',
          msg: 'rollout guardrail check failed',
          model: policy.model,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    }
  };
}
