/**
 * Guardrails: a candidate's health counters per policy revision in Upstash (`rollout:v1:{model}:health:{revision}`,
 * fields n, err, slow, cmp, dis; kept a week), added to off the request path (summed in the isolate and written in
 * one pipeline at most once per `flushMs` per revision), and the automatic rollback when one
 * passes its bound (cascade/rollout.ts guardrailBreach): the policy goes back to `off` with the reason, by a
 * compare-and-set write on the revision the counters belong to, so a rollback happens once and never undoes a newer
 * change. Never throws: a failure is logged and the next sample tries again.
 */
import type { Context } from 'hono';
import type { RolloutPolicy } from '../../../shared/rollout/index.ts';
import { guardrailBreach } from '../cascade/rollout.ts';
import type { GuardFields, Health } from '../cascade/types.ts';
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

export interface GuardOptions {
  /**
   * Longest time a candidate's health counts wait in the isolate before they are added in one pipeline and the
   * bounds judged, ms: at most one Upstash call per policy revision and interval, however busy the isolate (a
   * delayed flush is scheduled, so counts never wait longer). 0 writes after every sample. @default 1000
   */
  flushMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Health counts of one policy revision waiting in the isolate. */
interface Pending {
  policy: RolloutPolicy;
  fields: Health;
  /** When they last went out (0: never). */
  last: number;
  scheduled: boolean;
}

const noHealth = (): Health => ({ n: 0, err: 0, slow: 0, cmp: 0, dis: 0 });

/** Revisions whose counts an isolate keeps at most (the oldest are forgotten first). */
const MAX_PENDING = 64;

export function createGuard(
  store: RolloutStore,
  backendOf: (c: Context<AppEnv>) => HealthBackend | undefined,
  options: GuardOptions = {},
): GuardFields {
  const flushMs = options.flushMs ?? 1000;
  const now = options.now ?? Date.now;
  const pending = new Map<string, Pending>();

  const flush = async (backend: HealthBackend, key: string, entry: Pending): Promise<void> => {
    const fields = entry.fields;
    const policy = entry.policy;
    entry.fields = noHealth();
    entry.last = now();
    if (Object.values(fields).every((n) => n === 0)) return;
    try {
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

  return async (c, policy, fields) => {
    const backend = backendOf(c);
    if (backend === undefined) return;
    const key = healthKey(policy.model, policy.revision);
    let entry = pending.get(key);
    if (entry === undefined) {
      if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value as string);
      entry = { policy, fields: noHealth(), last: 0, scheduled: false };
      pending.set(key, entry);
    }
    for (const f of Object.keys(entry.fields) as Array<keyof Health>) entry.fields[f] += fields[f] ?? 0;
    const wait = entry.last + flushMs - now();
    if (wait <= 0) return flush(backend, key, entry);
    if (entry.scheduled) return;
    entry.scheduled = true;
    const due = entry;
    c.executionCtx.waitUntil(
      new Promise((r) => setTimeout(r, wait)).then(() => {
        due.scheduled = false;
        return flush(backend, key, due);
      }),
    );
  };
}
